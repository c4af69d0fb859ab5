"""CLI of the flows stage: ``ddikg build-kg`` and ``ddikg deploy``."""

from __future__ import annotations

import typer

from flows.cliutil import not_built


def register(app: typer.Typer) -> None:
    @app.command("build-kg")
    def build_kg() -> None:
        """Run the whole pipeline: crawl -> segment -> extract -> load (Prefect flow)."""
        not_built("build-kg", 7)

    @app.command("demo")
    def demo() -> None:
        """The two-command demo: embedded graph + fixture site -> build-kg -> a Cypher answer."""
        not_built("demo", 7)

    @app.command("deploy")
    def deploy() -> None:
        """Serve the Prefect deployments (build-kg/nightly and build-kg/on-demand)."""
        not_built("deploy", 7)
