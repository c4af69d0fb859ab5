"""Small pieces every stage's CLI shares: the console, error exits and the bad-input options."""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from ddikg.jsonl import NoRecordsError, OnError

console = Console(stderr=True)


class OnErrorChoice(str, Enum):
    """``--on-error``: a typer choice, so a typo is a one-line usage error."""

    raise_ = "raise"
    skip = "skip"


OnErrorOpt = Annotated[
    OnErrorChoice,
    typer.Option("--on-error", help="raise: stop at the first bad line; skip: write bad lines aside and go on."),
]
RejectsOpt = Annotated[
    Path | None,
    typer.Option("--rejects", help="Where skipped bad lines go (default: <input>.rejects.jsonl)."),
]

NoProgressOpt = Annotated[
    bool,
    typer.Option("--no-progress", help="No progress display (none is drawn anyway when stderr is not a terminal)."),
]

_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def _device(value: str | None) -> str | None:
    # not a fixed choice (cuda:N), so checked here: a typo is a usage error, not a torch traceback
    if value is not None and not _DEVICE.fullmatch(value):
        raise typer.BadParameter(f"{value!r} is not one of auto, cpu, cuda, cuda:N, mps")
    return value


DeviceOpt = Annotated[str | None, typer.Option("--device", callback=_device,
                                               help="auto | cpu | cuda | cuda:N | mps (default: settings)")]


def on_error_value(value: OnErrorChoice | str) -> OnError:
    value = value.value if isinstance(value, OnErrorChoice) else value
    if value not in ("raise", "skip"):
        fail(f"--on-error must be 'raise' or 'skip', not {value!r}")
    return value  # type: ignore[return-value]


def fail(message: str, code: int = 1) -> NoReturn:
    # one unwrapped line: `file:line: field: message` stays whole for the reader and for grep
    console.print(f"[bold red]error:[/] {escape(one_line(message))}", soft_wrap=True)
    raise typer.Exit(code)


def one_line(message: str) -> str:
    """A message on one line (pydantic and drivers word errors over several)."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def nothing_processed(path: Path | str, rejected: int, rejects: Path | str | None = None) -> NoReturn:
    """Exit 1 for an input of which no record could be used: an empty file, or every line rejected."""
    fail(str(NoRecordsError(path, rejected, rejects)))


def not_built(what: str, issue: int) -> NoReturn:
    """Exit 2 for a stage whose implementation has not landed yet (tracked by its issue)."""
    fail(f"{what} is not built yet (issue #{issue}).", code=2)
