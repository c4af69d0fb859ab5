"""CLI of the graph stage: ``ddikg graph start|stop|status``, ``ddikg load``, ``ddikg query``,
``ddikg export-csv``. Heavy imports stay inside the commands."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer

from ddikg.cliutil import NoProgressOpt, OnErrorOpt, RejectsOpt, console, fail, on_error_value

graph_app = typer.Typer(help="The embedded graph server (FalkorDB).", no_args_is_help=True)


def _server():
    from ddikg.config import load_settings
    from ddikg.kg_loader.server import EmbeddedGraphServer

    settings = load_settings()
    if settings.graph.uses_neo4j:
        console.print("[yellow]NEO4J_URI is set: loads and queries go to Neo4j, not to this server.[/]")
    return EmbeddedGraphServer(settings)


@graph_app.command("start")
def start() -> None:
    """Start the embedded graph server (127.0.0.1, password, data in <home>/graph); no-op when running."""
    from ddikg.kg_loader.server import GraphServerError

    try:
        st = _server().start()
    except GraphServerError as exc:
        fail(str(exc))
    typer.echo(f"graph server running at {st['address']} (pid {st['pid']}, data {st['data_dir']})")


@graph_app.command("stop")
def stop() -> None:
    """Save and stop the embedded graph server."""
    from ddikg.kg_loader.server import GraphServerError

    try:
        stopped = _server().stop()
    except GraphServerError as exc:
        fail(str(exc))
    typer.echo("graph server stopped" if stopped else "graph server was not running")


@graph_app.command("status")
def status() -> None:
    """Is the embedded graph server up? Exit 0 when it is, 1 when not."""
    st = _server().status()
    typer.echo(json.dumps(st, ensure_ascii=False, indent=2))
    raise typer.Exit(0 if st["running"] else 1)


def _run_id(value: str | None) -> str:
    return value or "cli-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _parse_params(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--param wants key=value, not {item!r}")
        out[key.strip()] = value
    return out


def register(app: typer.Typer) -> None:
    app.add_typer(graph_app, name="graph")

    @app.command("load")
    def load(
        triples: Annotated[Path, typer.Argument(help="Triples JSONL (extraction output).")],
        raw: Annotated[Path | None, typer.Option("--raw", help="Crawled records JSONL: Drug/Disease nodes.")] = None,
        source: Annotated[list[str] | None, typer.Option(
            "--source", help="Refresh only these source drugs (repeat); default: every source in the file.")] = None,
        run_id: Annotated[str | None, typer.Option("--run-id", help="Recorded on confirmed edges.")] = None,
        atomic: Annotated[bool, typer.Option(
            "--atomic/--batched", help="One transaction (default), or batch by batch, pipelined: faster for big "
                                       "first loads, but a crash leaves part of the load visible until rerun.")] = True,
        on_error: OnErrorOpt = "raise",
        rejects: RejectsOpt = None,
        no_progress: NoProgressOpt = False,
    ) -> None:
        """Load DDI triples: the graph's edges for the file's source drugs then match the file."""
        from ddikg.config import load_settings
        from ddikg.jsonl import RecordError
        from ddikg.kg_loader.api import load_drugs, load_triples
        from ddikg.kg_loader.backends import GraphUnavailable, LeaseLost, LockTimeout
        from ddikg.progress import bars

        mode = on_error_value(on_error)
        settings = load_settings()
        rid = _run_id(run_id)
        try:
            if raw is not None:
                ns = load_drugs(settings, raw, run_id=rid, on_error=mode)
                typer.echo(f"nodes: {ns.drugs} drugs, {ns.diseases} diseases, {ns.indicated_for} INDICATED_FOR "
                           f"({ns.rejected} rejected)")
            with bars(not no_progress) as b:  # statements sent (the count is known only once planned)
                task = b.add("load", unit="batches")
                summary = load_triples(settings, triples, run_id=rid, sources=source or None, on_error=mode,
                                       rejects=rejects, atomic=atomic,
                                       on_batch=lambda i: b.update(task, completed=i + 1))
        except (RecordError, FileNotFoundError, GraphUnavailable, LockTimeout, LeaseLost) as exc:
            fail(str(exc))
        typer.echo(f"{triples}: {summary.line()}")
        if summary.rejected:
            console.print(f"[yellow]{summary.rejected} triples rejected -> {summary.rejects_path}[/]")

    @app.command("query")
    def query(
        name: Annotated[str | None, typer.Argument(help="A query of kg_loader/queries.cypher.")] = None,
        param: Annotated[list[str] | None, typer.Option("--param", "-p", help="key=value (repeat).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    ) -> None:
        """Run a named Cypher query and print a table (no NAME: list the queries)."""
        from rich.console import Console
        from rich.table import Table

        from ddikg.config import load_settings
        from ddikg.kg_loader.api import run_query
        from ddikg.kg_loader.backends import GraphUnavailable
        from ddikg.kg_loader.queries import named_queries

        if name is None:
            for q in named_queries().values():
                typer.echo(f"{q.name}({', '.join(q.params)}): {q.description}")
            return
        try:
            rows = run_query(load_settings(), name, _parse_params(param or []))
        except (KeyError, ValueError) as exc:
            fail(exc.args[0] if exc.args else str(exc))
        except GraphUnavailable as exc:
            fail(str(exc))
        if as_json:
            for r in rows:
                typer.echo(json.dumps(r, ensure_ascii=False))
            return
        table = Table(title=f"{name}: {len(rows)} rows")
        cols = list(rows[0]) if rows else []
        for c in cols:
            table.add_column(c)
        for r in rows:
            table.add_row(*(_cell(r[c]) for c in cols))
        Console().print(table)

    @app.command("export-csv")
    def export_csv_cmd(
        triples: Annotated[Path, typer.Argument(help="Triples JSONL (extraction output).")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the CSVs and import.sh.")],
        raw: Annotated[Path | None, typer.Option("--raw", help="Crawled records JSONL: Drug/Disease nodes.")] = None,
        database: Annotated[str, typer.Option("--database", help="Target Neo4j database.")] = "neo4j",
        run_id: Annotated[str | None, typer.Option("--run-id")] = None,
        on_error: OnErrorOpt = "raise",
        rejects: RejectsOpt = None,
    ) -> None:
        """Write neo4j-admin import CSVs (bulk first load) and print the import command."""
        from ddikg.config import load_settings
        from ddikg.jsonl import RecordError
        from ddikg.kg_loader.bulk import export_csv

        try:
            s = export_csv(load_settings(), triples, out, raw_path=raw, run_id=_run_id(run_id), database=database,
                           on_error=on_error_value(on_error), rejects=rejects)
        except (RecordError, FileNotFoundError) as exc:
            fail(str(exc))
        typer.echo(f"{s.drugs} drugs, {s.diseases} diseases, {s.indicated_for} INDICATED_FOR, {s.interactions} "
                   f"interactions ({s.rejected} rejected) -> {s.out_dir}")
        typer.echo(s.command)


def _cell(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False)
    return "" if v is None else str(v)
