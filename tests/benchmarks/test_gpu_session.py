"""benchmarks/gpu_session.sh end to end with QUICK=1 on the CPU: a broken phase line would otherwise be
found only on a GPU machine, whose minutes are scarce."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..conftest import shared_path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_session_writes_every_phase(tmp_path):
    shared = shared_path("data", "conll04", "conll04_train.json").parents[2]
    res, models = tmp_path / "results", tmp_path / "models"
    baseline = None
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode == 0:
        from benchmarks.ab import prepare

        baseline = prepare("HEAD", tmp_path / "baseline")  # the A/B phase against the committed code
    env = os.environ | {
        "QUICK": "1", "DEVICE": "cpu", "PY": sys.executable, "BUDGET": "900", "RES": str(res),
        "MODELS": str(models), "PHASES": "ops,train,infer,table,trained" + (",ab" if baseline else ""),
        "VARIANTS": "iser sea_cls", "EPOCHS_OVERRIDE": "1", "AB_BASELINE": str(baseline), "AB_RUNS": "1",
        "DDIKG_SHARED": str(shared), "OMP_NUM_THREADS": "1",
    }
    env.pop("OUT", None)
    proc = subprocess.run(["bash", "benchmarks/gpu_session.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert "skipped (no time left)" not in log, log
    for name in ("ops-fp32", "ops-bf16", "train", "infer", "infer-trained"):
        assert f"== {name}: exit 0" in log, log
    assert json.loads((res / "step_ops-cuda-fp32.json").read_text(encoding="utf-8"))["ops_per_step"]["total"] > 0
    train = json.loads((res / "iser_speed-cuda-train.json").read_text(encoding="utf-8"))
    assert train["quick"] is True and train["training"]
    assert json.loads((res / "iser_speed-cuda.json").read_text(encoding="utf-8"))["inference"]["curve"]
    # the table phase: both variants (one epoch, EPOCHS_OVERRIDE), ISER's checkpoint kept for phase (4)
    for v in ("iser", "sea_cls"):
        rec = json.loads((res / "reproduce" / "conll04" / "quick" / v / "seed1.json").read_text(encoding="utf-8"))
        assert rec["variant"] == v and rec["epochs_run"] == 1
    assert (models / "conll04" / "iser" / "seed1" / "config.json").is_file()
    if baseline:  # one run of each side, both timed, paired in the summary
        assert "== ab: exit 0" in log, log
        sides = json.loads((res / "ab-train-cpu" / "summary.json").read_text(encoding="utf-8"))["settings"]
        assert {s for setting in sides.values() for s in setting["sides"]} == {"baseline", "current"}
    trained = json.loads((res / "iser_speed-cuda-trained.json").read_text(encoding="utf-8"))
    assert trained["inference"]["trained_model"].rstrip("/").endswith("iser/seed1") and trained["inference"]["curve"]
