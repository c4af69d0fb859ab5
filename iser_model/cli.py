"""CLI of the model stage: ``ddikg train``, ``ddikg evaluate``, ``ddikg extract``."""

from __future__ import annotations

import typer

from flows.cliutil import not_built


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train() -> None:
        """Train an ISER model."""
        not_built("train", 3)

    @app.command("evaluate")
    def evaluate() -> None:
        """Evaluate a model: NER / RE / RE without entity types, micro and macro."""
        not_built("evaluate", 3)

    @app.command("extract")
    def extract() -> None:
        """Extract DDI triples from CH-DDI statements with a trained model."""
        not_built("extract", 3)
