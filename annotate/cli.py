"""CLI of the annotate stage: ``ddikg segment`` and the ``ddikg annotate`` group."""

from __future__ import annotations

import typer

from flows.cliutil import not_built

annotate_app = typer.Typer(help="Annotation tooling: validate, stats, pre-annotate, Label Studio round trip.",
                           no_args_is_help=True)


@annotate_app.command("validate")
def validate() -> None:
    """Validate a CH-DDI file (schema, spans in text, label set, duplicates)."""
    not_built("annotate validate", 6)


@annotate_app.command("stats")
def stats() -> None:
    """Corpus statistics in the paper's Table 1/2 style."""
    not_built("annotate stats", 6)


def register(app: typer.Typer) -> None:
    @app.command("segment")
    def segment() -> None:
        """@-segment raw drug records into CH-DDI statements."""
        not_built("segment", 6)

    app.add_typer(annotate_app, name="annotate")
