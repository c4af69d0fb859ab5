"""Small pieces every stage's CLI shares: the console, error exits and the bad-input options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from ddikg.jsonl import OnError

console = Console(stderr=True)

OnErrorOpt = Annotated[
    str,
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


def on_error_value(value: str) -> OnError:
    if value not in ("raise", "skip"):
        fail(f"--on-error must be 'raise' or 'skip', not {value!r}")
    return value  # type: ignore[return-value]


def fail(message: str, code: int = 1) -> NoReturn:
    # one unwrapped line: `file:line: field: message` stays whole for the reader and for grep
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def not_built(what: str, issue: int) -> NoReturn:
    """Exit 2 for a stage whose implementation has not landed yet (tracked by its issue)."""
    fail(f"{what} is not built yet (issue #{issue}).", code=2)
