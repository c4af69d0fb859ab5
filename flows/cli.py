"""CLI of the flows stage: ``ddikg build-kg``, ``ddikg demo`` and ``ddikg deploy``.

Each command fixes Prefect's environment (:mod:`ddikg.flows.prefect_env`) before Prefect is imported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from ddikg.cliutil import console, fail
from ddikg.config import Settings

WorkersOpt = Annotated[int | None, typer.Option(
    "--workers", min=0, help="Extract on a local Dask cluster of N worker processes (0: in this process; "
                             "default settings.runner.workers).")]
DaskOpt = Annotated[str | None, typer.Option(
    "--dask-address", help="Extract on this existing Dask scheduler (tcp://host:8786); its workers must see the "
                           "home at the same path.")]
HomeOpt = Annotated[Path | None, typer.Option("--home", help="Data directory (default ./data; also $DDIKG_HOME).")]


def _settings(home: Path | None):
    from ddikg.config import load_settings
    from ddikg.flows.prefect_env import configure_prefect

    if home is not None:
        os.environ["DDIKG_HOME"] = str(home)  # the flow and any subprocess read the same home
    settings = load_settings()
    configure_prefect(settings)
    return settings


def _model_line(m) -> str:
    if m is None:
        return "-"
    f1 = f"; dev RE micro F1 {m.candidate_f1:.3f}" if m.candidate_f1 is not None else ""
    return f"{m.model_key} ({m.reason}{f1})"


def print_summary(summary) -> None:
    from rich.table import Table

    table = Table(title=f"build-kg run {summary.run_id}", show_header=False)
    c, ld = summary.crawl, summary.load
    rows = [
        ("graph", summary.graph),
        ("model", _model_line(summary.model)),
        ("crawl", f"{summary.drugs_crawled} drugs: {c.get('new', 0)} new, {c.get('changed', 0)} changed, "
                  f"{c.get('unchanged', 0)} unchanged" + (f"; stopped: {c['stopped_reason']}"
                                                          if c.get("stopped_reason") else "")),
        ("processed", ", ".join(summary.drugs_processed) or "nothing changed"),
        ("statements", f"{summary.statements} (+{summary.boilerplate} boilerplate) -> {summary.triples} triples"),
        ("edges", f"+{ld.get('added', 0)} added  ~{ld.get('updated', 0)} updated  -{ld.get('removed', 0)} removed  "
                  f"={ld.get('unchanged', 0)} unchanged" + (f"  ({ld['rejected']} rejected)" if ld.get("rejected") else "")),
        ("seconds", "  ".join(f"{k} {v:.1f}" for k, v in summary.seconds.items())),
    ]
    from rich.markup import escape

    for k, v in rows:
        table.add_row(k, escape(v))
    console.print(table)


def run_demo(settings: Settings, *, port: int | None = None, retrain: bool = False):
    """``ddikg demo`` on ``settings.home`` (see :mod:`ddikg.flows.demo`); returns the build-kg run summary."""
    from ddikg.crawler.fixture_site.server import FixtureSite
    from ddikg.flows.build_kg import build_kg
    from ddikg.flows.demo import (
        DEMO_DRUG,
        DEMO_OVERRIDES,
        EXPLORE,
        interactions_of,
        most_interacting,
        print_interactions,
    )
    from ddikg.kg_loader.server import EmbeddedGraphServer

    port = port or settings.flows.demo_port
    if not settings.graph.uses_neo4j:
        status = EmbeddedGraphServer(settings).start()
        console.print(f"[green]graph server[/] running at {status['address']} (data in {status['data_dir']})")
    with FixtureSite(port=port) as site:
        console.print(f"[green]fixture site[/] (stands in for Yimaitong) at {site.base_url}")
        summary = build_kg(base_url=site.base_url, retrain=retrain or None, home=str(settings.home),
                           overrides=DEMO_OVERRIDES, progress=True)
        base_url = site.base_url
    print_summary(summary)
    console.print(summary.headline())
    rows = interactions_of(settings, DEMO_DRUG)
    print_interactions(DEMO_DRUG, rows)
    drug = DEMO_DRUG
    if not rows:
        # A small demo model can miss a page entirely; show an answer the graph does hold.
        other = most_interacting(settings)
        if other is not None:
            drug = other
            print(f"\nThe drug with the most interactions in the graph instead: {drug}")
            print_interactions(drug, interactions_of(settings, drug))
    print(EXPLORE.format(base_url=base_url, port=port, profile=DEMO_OVERRIDES["crawl"]["profile"], graph_port=settings.graph.port,
                         pw=settings.graph_dir / "password", graph=settings.graph.graph, drug=drug))
    return summary


def register(app: typer.Typer) -> None:
    @app.command("build-kg")
    def build_kg(
        base_url: Annotated[str | None, typer.Option("--base-url", help="Site to crawl (default: the site profile's).")] = None,
        retrain: Annotated[bool, typer.Option("--retrain", help="Train on the annotated corpus first; promote if not worse.")] = False,
        full: Annotated[bool, typer.Option("--full", help="Reprocess every drug, not only what changed.")] = False,
        drug_id: Annotated[list[str] | None, typer.Option("--drug-id", help="Crawl just these drug ids (repeatable).")] = None,
        home: HomeOpt = None,
        progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars.")] = True,
        as_json: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON on stdout.")] = False,
        workers: WorkersOpt = None,
        dask_address: DaskOpt = None,
    ) -> None:
        """Run the whole pipeline as a Prefect flow: crawl -> segment -> extract -> load (what changed).

        With PREFECT_API_URL set the run is recorded there (waiting for a server that is still starting);
        without, Prefect runs a temporary server for this process."""
        if os.environ.get("PREFECT_API_URL"):
            from ddikg.config import load_settings
            from ddikg.flows.prefect_env import NoPrefectServer, require_prefect_server

            if home is not None:
                os.environ["DDIKG_HOME"] = str(home)
            try:
                require_prefect_server(load_settings())
            except NoPrefectServer as exc:
                fail(str(exc))
        settings = _settings(home)
        from ddikg.flows.build_kg import build_kg as flow

        try:
            summary = flow(base_url=base_url, retrain=retrain or None, full=full, drug_ids=drug_id or None,
                           home=str(settings.home), progress=progress, workers=workers, dask_address=dask_address)
        except Exception as exc:  # the flow run's logs carry the traceback
            fail(f"build-kg failed: {type(exc).__name__}: {exc}")
        print_summary(summary)
        console.print(summary.headline())
        if as_json:
            typer.echo(summary.model_dump_json(indent=2))

    @app.command("demo")
    def demo(
        home: HomeOpt = None,
        port: Annotated[int | None, typer.Option("--port", help="Port of the fixture site (default settings.flows.demo_port).")] = None,
        retrain: Annotated[bool, typer.Option("--retrain", help="Train a new model even if one exists.")] = False,
    ) -> None:
        """The two-command demo: embedded graph + fixture site -> build-kg -> a Cypher answer."""
        settings = _settings(home)
        try:
            run_demo(settings, port=port, retrain=retrain)
        except Exception as exc:
            fail(f"demo failed: {type(exc).__name__}: {exc}")

    @app.command("deploy")
    def deploy(
        base_url: Annotated[str | None, typer.Option("--base-url", help="Site the runs crawl (default: the profile's).")] = None,
        cron: Annotated[str | None, typer.Option("--cron", help="Nightly schedule (default settings.flows.nightly_cron).")] = None,
        timezone: Annotated[str | None, typer.Option("--timezone", help="Time zone of --cron (default Asia/Shanghai).")] = None,
        param: Annotated[list[str] | None, typer.Option("--param", help="Default flow parameter key=JSON (repeatable).")] = None,
        work_pool: Annotated[str | None, typer.Option("--work-pool", help="Register with this work pool instead of serving.")] = None,
        image: Annotated[str | None, typer.Option("--image", help="With --work-pool: the image (Docker/Kubernetes pools).")] = None,
        workers: WorkersOpt = None,
        dask_address: DaskOpt = None,
        home: HomeOpt = None,
    ) -> None:
        """Serve the Prefect deployments build-kg/nightly and build-kg/on-demand until Ctrl-C or SIGTERM
        (or, with --work-pool, register them with that pool for its workers to run).

        Needs a running Prefect server: $PREFECT_API_URL, else one at flows.prefect_api_url
        (http://127.0.0.1:4200/api); refuses when there is none."""
        params = {}
        for item in param or []:
            key, sep, value = item.partition("=")
            if not sep:
                fail(f"--param must be key=value, not {item!r}")
            try:
                params[key] = json.loads(value)
            except json.JSONDecodeError:
                params[key] = value
        from ddikg.config import load_settings
        from ddikg.flows.prefect_env import NoPrefectServer, require_prefect_server

        if home is not None:
            os.environ["DDIKG_HOME"] = str(home)
        try:  # before Prefect is imported: it reads PREFECT_API_URL once
            api_url = require_prefect_server(load_settings())
        except NoPrefectServer as exc:
            fail(str(exc))
        settings = _settings(home)
        # where the runs' extract shards go: flow parameters, so a run can still override them
        params |= {k: v for k, v in {"workers": workers, "dask_address": dask_address}.items() if v is not None}
        if work_pool:
            from ddikg.flows.deployments import deploy_to_pool

            ids = deploy_to_pool(settings, work_pool, image=image, base_url=base_url, cron=cron,
                                 timezone=timezone, parameters=params)
            console.print(f"registered {len(ids)} deployments with work pool {work_pool!r}; start a worker with "
                          f"`prefect worker start --pool {work_pool}`")
            return
        from ddikg.flows.deployments import serve_deployments

        def ready() -> None:
            console.print(f"serving build-kg/nightly ({cron or settings.flows.nightly_cron}, "
                          f"{timezone or settings.flows.timezone}) and build-kg/on-demand for home {settings.home} "
                          f"on {api_url}; run one with `prefect deployment run build-kg/on-demand`", soft_wrap=True)

        import signal

        def _stop(signum, frame):  # SIGTERM (service managers, kill) ends serving as Ctrl-C does
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _stop)
        try:
            serve_deployments(settings, base_url=base_url, cron=cron, timezone=timezone, parameters=params,
                              on_ready=ready)
        except KeyboardInterrupt:
            pass
        console.print("deployments no longer served")
