"""CLI of the graph stage: ``ddikg graph start|stop|status``, ``ddikg load``, ``ddikg query``,
``ddikg export-csv``. Heavy imports stay inside the commands."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ddikg.cliutil import (
    NoProgressOpt,
    OnErrorOpt,
    RejectsOpt,
    console,
    fail,
    nothing_processed,
    on_error_value,
)

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


def _parse_params(items: list[str], json_items: list[str]) -> dict[str, object]:
    """``--param key=value`` (text; the named query converts the ones it declares ``:int``) and
    ``--param-json key=JSON`` (a typed value as it is)."""
    out: dict[str, object] = {}
    for option, given in (("--param", items), ("--param-json", json_items)):
        for item in given:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                fail(f"{option} wants key=value, not {item!r}")
            if option == "--param-json":
                try:
                    out[key.strip()] = json.loads(value)
                except json.JSONDecodeError as exc:
                    fail(f"--param-json {key.strip()}: not JSON ({exc.msg} at column {exc.pos + 1}): {value!r}")
            else:
                out[key.strip()] = value
    return out


def _check_raw(raw: Path, mode: str) -> None:
    """Read a --raw crawl file through once (its rejects file included) before anything is written;
    exits 1 when no record in it is usable."""
    from ddikg.contracts import RawDrugRecord
    from ddikg.jsonl import JsonlReader, default_rejects_path

    reader = JsonlReader(raw, RawDrugRecord, on_error=mode, rejects=default_rejects_path(raw))  # type: ignore[arg-type]
    for _ in reader:
        pass
    if reader.nothing_read:
        nothing_processed(raw, reader.n_bad, reader.rejects_path)


def _graph_errors() -> tuple[type[BaseException], ...]:
    """What a graph client raises for a server it cannot use (unreachable, wrong password, a query it
    rejects): each ends the command with one line instead of a traceback."""
    from ddikg.kg_loader.backends import GraphUnavailable

    errors: list[type[BaseException]] = [GraphUnavailable]
    try:
        from neo4j.exceptions import DriverError, Neo4jError

        errors += [Neo4jError, DriverError]
    except ImportError:
        pass
    try:
        from redis.exceptions import RedisError

        errors.append(RedisError)
    except ImportError:
        pass
    return tuple(errors)


def _graph_failure(exc: BaseException) -> str:
    from ddikg.config import load_settings
    from ddikg.kg_loader.backends import GraphUnavailable

    if isinstance(exc, GraphUnavailable):
        return str(exc)
    settings = load_settings()
    where = f"Neo4j at {settings.graph.neo4j_uri}" if settings.graph.uses_neo4j else "the graph server"
    if type(exc).__name__ == "AuthError":
        return f"{where} refused the user or password (NEO4J_USER, NEO4J_PASSWORD): {exc}"
    return f"{where}: {type(exc).__name__}: {exc}"


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
        """Load DDI triples: the graph's edges for the file's source drugs then match the file.

        With --raw, both files are read and checked before anything is written."""
        from ddikg.config import load_settings
        from ddikg.jsonl import RecordError, default_rejects_path
        from ddikg.kg_loader.api import load_drugs, load_triples
        from ddikg.kg_loader.backends import LeaseLost, LockTimeout
        from ddikg.kg_loader.plan import read_triples
        from ddikg.progress import bars

        mode = on_error_value(on_error)
        settings = load_settings()
        rid = _run_id(run_id)
        g = settings.graph
        triples_rejects = rejects or default_rejects_path(triples)
        if raw is not None:
            # The nodes are committed before the triples are planned: a bad triples file must fail first.
            # (Without --raw, load_triples checks the whole file before it writes.)
            try:
                _check_raw(raw, mode)
                checked = read_triples(triples, sources=source or None, on_error=mode, rejects=triples_rejects,
                                       max_name=g.max_name_length, max_evidence=g.max_evidence_length)
            except (RecordError, FileNotFoundError, ValueError) as exc:
                fail(str(exc))
            if not checked.read and not source:
                nothing_processed(triples, checked.rejected, triples_rejects)
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
        except (RecordError, FileNotFoundError, ValueError, LockTimeout, LeaseLost) as exc:
            fail(str(exc))
        except _graph_errors() as exc:
            fail(_graph_failure(exc))
        typer.echo(f"{triples}: {summary.line()}")
        if summary.rejected:
            console.print(f"[yellow]{summary.rejected} triples rejected -> {summary.rejects_path}[/]")
        if not summary.triples and not source:  # (with --source, an empty file removes those sources' edges)
            nothing_processed(triples, summary.rejected, summary.rejects_path)

    @app.command("query")
    def query(
        name: Annotated[str | None, typer.Argument(help="A query of kg_loader/queries.cypher.")] = None,
        param: Annotated[list[str] | None, typer.Option(
            "--param", "-p", help="key=value (repeat); text, except where the query declares an integer.")] = None,
        param_json: Annotated[list[str] | None, typer.Option(
            "--param-json", help="key=JSON (repeat): a typed value, e.g. limit=5 or drug='\"123\"'.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    ) -> None:
        """Run a named Cypher query and print a table (no NAME: list the queries).

        On a terminal the rows are a table; piped, they are tab-separated lines with every value whole."""
        import sys

        from ddikg.config import load_settings
        from ddikg.kg_loader.api import run_query
        from ddikg.kg_loader.queries import named_queries

        if name is None:
            for q in named_queries().values():
                typer.echo(f"{q.name}({', '.join(p + ('' if q.param_type(p) is str else ':int') for p in q.params)}):"
                           f" {q.description}")
            return
        try:
            rows = run_query(load_settings(), name, _parse_params(param or [], param_json or []))
        except (KeyError, ValueError) as exc:
            fail(exc.args[0] if exc.args else str(exc))
        except _graph_errors() as exc:
            if "empty key" not in str(exc):  # FalkorDB's answer for a graph nothing was loaded into yet
                fail(_graph_failure(exc))
            rows = []
        if not rows:
            console.print(f"{name}: no rows", soft_wrap=True)
            return
        if as_json:
            for r in rows:
                typer.echo(json.dumps(r, ensure_ascii=False))
            return
        cols = list(rows[0])
        if not sys.stdout.isatty():  # piped: whole values, one row a line, for the next program
            typer.echo("\t".join(cols))
            for r in rows:
                typer.echo("\t".join(_cell(r[c]).replace("\t", " ").replace("\n", " ") for c in cols))
            return
        from rich.console import Console
        from rich.table import Table

        # rich measures CJK characters as two cells wide and folds long values rather than cutting them
        table = Table(title=f"{name}: {len(rows)} rows")
        for c in cols:
            table.add_column(c, overflow="fold")
        for r in rows:
            table.add_row(*(escape(_cell(r[c])) for c in cols))
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
        import shutil

        from ddikg.config import load_settings
        from ddikg.jsonl import RecordError, default_rejects_path
        from ddikg.kg_loader.bulk import export_csv

        if out.exists() and not out.is_dir():
            fail(f"--out {out}: exists and is not a directory")
        created = not out.exists()
        mode = on_error_value(on_error)
        try:
            if raw is not None:
                _check_raw(raw, mode)
            s = export_csv(load_settings(), triples, out, raw_path=raw, run_id=_run_id(run_id), database=database,
                           on_error=mode, rejects=rejects)
            if not s.interactions and not s.drugs:
                nothing_processed(triples, s.rejected, rejects or default_rejects_path(triples))
        except (RecordError, FileNotFoundError, ValueError, typer.Exit) as exc:
            if created:  # a failed export leaves no directory of its own behind
                shutil.rmtree(out, ignore_errors=True)
            if isinstance(exc, typer.Exit):
                raise
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
