"""ddikg.progress: drawn on a terminal only, quiet when piped or asked to be; one library (rich) for every
long command; tables laid out in terminal cells (Chinese labels aligned)."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

from ddikg.contracts import RawDrugRecord
from ddikg.jsonl import write_jsonl
from ddikg.progress import Bars, table, track, wanted

from ..terminal import run_on_terminal

REPO = Path(__file__).resolve().parents[2]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_drawn_only_when_asked_and_on_a_terminal():
    assert wanted(True, FakeTerminal()) and not wanted(False, FakeTerminal()) and not wanted(True, io.StringIO())
    for stream, drawn in ((FakeTerminal(), True), (io.StringIO(), False)):
        with Bars(True, stream=stream) as b:
            task = b.add("load", total=4, unit="batches")
            for _ in range(4):
                b.advance(task)
        assert ("load" in stream.getvalue() and "4/4" in stream.getvalue()) is drawn
        assert bool(stream.getvalue()) is drawn


def test_track_yields_everything_and_stops_its_display_when_the_loop_breaks():
    assert list(track(range(5), "x", enabled=False)) == [0, 1, 2, 3, 4]
    bar = track(range(5), "x", enabled=True)
    for i in bar:
        bar.info(f"item {i}")
        if i == 2:
            break
    bar.close()  # idempotent; a display left running would keep a thread redrawing stderr
    bar.close()


def test_tables_align_chinese_labels_in_cells():
    out = io.StringIO()
    from rich.console import Console

    Console(file=out, width=80, color_system=None).print(
        table(["type", "F1"], [["re:协同", "91.43"], ["re:interaction", "5.00"]], right=[1]))
    rows = [line for line in out.getvalue().splitlines() if "re:" in line]
    from rich.cells import cell_len

    assert len({cell_len(r) for r in rows}) == 1  # every row as wide, counted in terminal cells


def _raw_file(path: Path, n: int) -> Path:
    write_jsonl(path, [RawDrugRecord(drug_id=str(i), name=f"药{i}片", url=f"http://x/{i}",
                                     sections={"药物相互作用": "与华法林合用，出血风险增加。"}) for i in range(n)])
    return path


def test_segment_shows_progress_on_a_terminal_and_nothing_when_piped_or_told(tmp_path):
    raw = _raw_file(tmp_path / "raw.jsonl", 30)
    cmd = [sys.executable, "-m", "ddikg.cli", "segment", str(raw), "--out", str(tmp_path / "out.jsonl")]
    env = {"PYTHONPATH": str(REPO), "COLUMNS": "120", "PATH": "/usr/bin:/bin"}
    rc, stdout, terminal = run_on_terminal(cmd, env=env, timeout=120)
    assert rc == 0 and "30 drugs" in stdout, stdout + terminal
    assert re.search(r"segment .*30/30 drugs", terminal), terminal
    rc, stdout, terminal = run_on_terminal([*cmd, "--no-progress"], env=env, timeout=120)
    assert rc == 0 and "segment" not in terminal and "30/30" not in terminal
    import subprocess

    piped = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and "30/30" not in piped.stderr + piped.stdout
