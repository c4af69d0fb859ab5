"""The wheel: one top-level package (ddikg, the stages inside it), built without a deprecation warning
about the project's own metadata."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STAGES = ("crawler", "annotate", "iser_model", "kg_loader", "flows")


def test_wheel_installs_only_ddikg(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v",
                           "--no-index", str(REPO), "-w", str(tmp_path)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    # setuptools reports a metadata form it will drop (license table, classifiers, ...) as a deprecation
    assert not [line for line in log.splitlines() if "Deprecat" in line and "pkg_resources" not in line], log
    (wheel,) = tmp_path.glob("ddikg-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"ddikg", wheel.name.split("-py3")[0] + ".dist-info"}, top
    for stage in STAGES:  # the stages travel inside ddikg (the links are followed), with their data files
        assert f"ddikg/{stage}/__init__.py" in names, stage
    assert "ddikg/progress.py" in names and "ddikg/annotate/data/chddi/train.jsonl" in names
    assert not [n for n in names if n.startswith(("benchmarks/", "tests/")) or "/tests/" in n]
