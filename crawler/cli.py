"""CLI of the crawl stage: ``ddikg crawl``."""

from __future__ import annotations

import typer

from flows.cliutil import not_built


def register(app: typer.Typer) -> None:
    @app.command("crawl")
    def crawl() -> None:
        """Crawl drug instructions into raw drug records (JSONL)."""
        not_built("crawl", 5)
