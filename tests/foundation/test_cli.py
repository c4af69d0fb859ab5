"""The console script and every group's help, through the installed entry point."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ddikg.cli import app

runner = CliRunner()

GROUPS = ["crawl", "segment", "annotate", "train", "evaluate", "extract", "graph", "load", "query",
          "build-kg", "check", "demo", "deploy", "bench", "fixture-site", "export-csv"]


@pytest.mark.parametrize("group", GROUPS)
def test_help_of_every_group(group):
    result = runner.invoke(app, [group, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_console_script_installed():
    # The script installed beside this interpreter (the venv), else one on PATH.
    beside = Path(sys.executable).with_name("ddikg")
    exe = str(beside) if beside.exists() else shutil.which("ddikg")
    if exe is None:
        pytest.skip("ddikg console script not on PATH (project not installed in this environment)")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "build-kg" in out.stdout


def test_check_reports_line_and_field_and_skips(tmp_path):
    good = {"text": "甲药@与乙药合用", "spo_list": []}
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(good, ensure_ascii=False) + "\n" + json.dumps({"text": ""}) + "\n",
                    encoding="utf-8")
    result = runner.invoke(app, ["check", str(path), "--contract", "chddi"])
    assert result.exit_code == 1
    assert f"{path}:2: text" in result.output.replace("\n", "")
    result = runner.invoke(app, ["check", str(path), "-c", "chddi", "--on-error", "skip"])
    assert result.exit_code == 1  # bad lines still make the check fail, but all are reported
    assert "1 read, 1 rejected" in result.output
    rejects = tmp_path / "c.rejects.jsonl"
    assert json.loads(rejects.read_text(encoding="utf-8"))["line"] == 2
