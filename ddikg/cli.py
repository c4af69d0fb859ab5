"""The ``ddikg`` command line (the console script's entry point): one command or group per stage.

Each stage package contributes its commands through ``<stage>.cli.register(app)``; heavy imports
(torch, Scrapy, Prefect) happen inside the commands so that ``ddikg --help`` stays fast.
"""

from __future__ import annotations

import importlib
import os
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from typer.core import TyperGroup

from ddikg import __version__
from ddikg.cliutil import OnErrorOpt, RejectsOpt, console, fail, nothing_processed, on_error_value
from ddikg.contracts import CONTRACTS
from ddikg.jsonl import RecordError


class _Group(TyperGroup):
    """The root group: input and system errors that reach it end as one line, never a traceback.

    Commands word their own errors; this is the net under them for a file that cannot be read or
    written (a directory, no permission, a full disk) and a bad record met outside a reader's handler.
    """

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except RecordError as exc:
            fail(str(exc))
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            fail(f"{where}{exc.strerror or exc}")


app = typer.Typer(
    cls=_Group,
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


Contract = Enum("Contract", {name: name for name in CONTRACTS}, type=str)  # --contract's choices


@app.command("check")
def check(
    path: Annotated[Path, typer.Argument(help="A JSONL file of one of the stage contracts.")],
    contract: Annotated[Contract, typer.Option("--contract", "-c", help="The contract the file holds.")],
    on_error: OnErrorOpt = "raise",
    rejects: RejectsOpt = None,
) -> None:
    """Validate a contract file; errors name file:line and the field."""
    from ddikg.jsonl import JsonlReader, default_rejects_path

    mode = on_error_value(on_error)
    reader = JsonlReader(path, CONTRACTS[contract.value], on_error=mode,
                         rejects=rejects or default_rejects_path(path))
    try:
        for _ in reader:
            pass
    except (RecordError, FileNotFoundError) as exc:
        fail(str(exc))
    for err in reader.errors[:20]:
        console.print(f"[yellow]{escape(str(err))}[/]", soft_wrap=True)
    typer.echo(f"{path}: {reader.summary()}")
    if reader.nothing_read:
        nothing_processed(path, reader.n_bad, reader.rejects_path)
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
