"""``ddikg bench``: the ISER benchmarks and the paper-reproduction harness of ``benchmarks/``.

The benchmark scripts live in the source checkout (``benchmarks/`` beside the packages), not in the
installed package; these commands find them there and forward every option, e.g.
``ddikg bench speed --device cuda`` = ``python -m benchmarks.iser_speed --device cuda``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ddikg.cliutil import fail

_FORWARD = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def _benchmarks(module: str):
    """Import ``benchmarks.<module>`` from the checkout this package was installed from."""
    import importlib

    root = Path(__file__).resolve().parents[1]
    if not (root / "benchmarks" / f"{module}.py").is_file():
        fail(f"{root / 'benchmarks'} not found: `ddikg bench` runs from a source checkout of ddikg")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(f"benchmarks.{module}")


def register(app: typer.Typer) -> None:
    bench = typer.Typer(help="ISER speed benchmarks and the paper-reproduction harness (see docs/benchmarks.md).",
                        no_args_is_help=True)

    @bench.command("speed", context_settings=_FORWARD)
    def speed(ctx: typer.Context) -> None:
        """Training/inference throughput, CPU inference, cost growth (options: --help)."""
        _benchmarks("iser_speed").main(list(ctx.args))

    @bench.command("reproduce", context_settings=_FORWARD)
    def reproduce(ctx: typer.Context) -> None:
        """Train and evaluate a whole paper table, resumably (options: --help)."""
        _benchmarks("reproduce").main(list(ctx.args))

    @bench.command("results", context_settings=_FORWARD)
    def results(ctx: typer.Context) -> None:
        """Regenerate docs/results.md and docs/ablations.png from the JSON results (options: --help)."""
        _benchmarks("make_results").main(list(ctx.args))

    app.add_typer(bench, name="bench")
