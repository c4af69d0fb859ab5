"""The ``ddikg`` command line (the console script's entry point): one command or group per stage.

Each stage package contributes its commands through ``<stage>.cli.register(app)``; heavy imports
(torch, Scrapy, Prefect) happen inside the commands so that ``ddikg --help`` stays fast.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Annotated

import typer

from ddikg import __version__
from ddikg.cliutil import OnErrorOpt, RejectsOpt, console, fail, on_error_value
from ddikg.contracts import CONTRACTS

app = typer.Typer(
    name="ddikg",
    help="Chinese drug-drug interaction knowledge graphs: crawl -> segment -> ISER extraction -> graph.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ddikg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    config: Annotated[Path | None, typer.Option("--config", help="A ddikg.toml (also $DDIKG_CONFIG).")] = None,
    home: Annotated[Path | None, typer.Option("--home", help="Data directory (also $DDIKG_HOME).")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    # Options become environment so every stage's load_settings() sees them the same way.
    if config is not None:
        os.environ["DDIKG_CONFIG"] = str(config)
    if home is not None:
        os.environ["DDIKG_HOME"] = str(home)


@app.command("check")
def check(
    path: Annotated[Path, typer.Argument(help="A JSONL file of one of the stage contracts.")],
    contract: Annotated[str, typer.Option("--contract", "-c", help="raw | chddi | span | triple")],
    on_error: OnErrorOpt = "raise",
    rejects: RejectsOpt = None,
) -> None:
    """Validate a contract file; errors name file:line and the field."""
    from ddikg.jsonl import JsonlReader, RecordError, default_rejects_path

    if contract not in CONTRACTS:
        fail(f"--contract must be one of {', '.join(CONTRACTS)}, not {contract!r}")
    mode = on_error_value(on_error)
    reader = JsonlReader(path, CONTRACTS[contract], on_error=mode, rejects=rejects or default_rejects_path(path))
    try:
        for _ in reader:
            pass
    except (RecordError, FileNotFoundError) as exc:
        fail(str(exc))
    for err in reader.errors[:20]:
        console.print(f"[yellow]{err}[/]")
    typer.echo(f"{path}: {reader.summary()}")
    raise typer.Exit(1 if reader.n_bad else 0)


# The stages' command modules, each with ``register(app)``. Named, not imported, here: the entry point
# is the one module above every stage, and nothing imports it back.
STAGE_CLIS = ("ddikg.crawler.cli", "ddikg.annotate.cli", "ddikg.iser_model.cli", "ddikg.iser_model.bench_cli",
              "ddikg.kg_loader.cli", "ddikg.flows.cli")


def _register_stages() -> None:
    for name in STAGE_CLIS:
        importlib.import_module(name).register(app)


_register_stages()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
