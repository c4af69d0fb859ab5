"""CLI of the graph stage: ``ddikg graph start|stop|status``, ``ddikg load``, ``ddikg query``."""

from __future__ import annotations

import typer

from flows.cliutil import not_built

graph_app = typer.Typer(help="The embedded graph server (FalkorDB).", no_args_is_help=True)


@graph_app.command("start")
def start() -> None:
    """Start the embedded graph server."""
    not_built("graph start", 8)


@graph_app.command("stop")
def stop() -> None:
    """Stop the embedded graph server."""
    not_built("graph stop", 8)


@graph_app.command("status")
def status() -> None:
    """Is the embedded graph server up?"""
    not_built("graph status", 8)


def register(app: typer.Typer) -> None:
    app.add_typer(graph_app, name="graph")

    @app.command("load")
    def load() -> None:
        """Load DDI triples into the graph."""
        not_built("load", 8)

    @app.command("query")
    def query() -> None:
        """Run a named Cypher query and print a table."""
        not_built("query", 8)
