"""benchmarks/ab.py: a commit's code copied out for a GPU machine, and the A/B summary of alternating runs."""

from __future__ import annotations

import subprocess

import pytest

from benchmarks import ab, make_results
from benchmarks.common import REPO, read_json, write_json


def _run(path, commit, train_seconds, infer_rate):
    write_json(path, {"benchmark": "iser_speed", "machine": {"commit": commit, "time_utc": f"2026-01-01T00:0{path.name[3]}",
                                                             "gpu": "NVIDIA H200", "device": "cuda", "host_op_us": 1.2},
                      "training": [{"batch_size": 2, "precision": "fp32", "seconds_per_epoch": train_seconds,
                                    "step_ms": {"p50": train_seconds * 2}}],
                      "inference": {"curve": [{"batch_size": 32, "sentences_per_second": infer_rate}]}})


def test_summary_pairs_the_two_sides_figure_by_figure(tmp_path):
    for name, commit, sec, rate in (("run1-baseline.json", "aaa", 20.0, 900.0), ("run2-current.json", "bbb", 15.0, 1000.0),
                                    ("run3-current.json", "bbb", 17.0, 1100.0), ("run4-baseline.json", "aaa", 22.0, 950.0),
                                    ("run5-current.json", "bbb", 16.0, 1050.0)):
        _run(tmp_path / name, commit, sec, rate)
    (tmp_path / "notes.json").write_text("{}")  # not a run file: ignored
    summary = ab.summarize(tmp_path)
    assert [r["side"] for r in summary["runs"]] == ["baseline", "current", "current", "baseline", "current"]
    train = summary["settings"]["train, batch 2, fp32"]
    assert train["unit"] == "s/epoch" and train["sides"]["baseline"] == {"commit": "aaa", "values": [20.0, 22.0],
                                                                         "median": 21.0}
    assert train["sides"]["current"]["values"] == [15.0, 17.0, 16.0] and train["sides"]["current"]["median"] == 16.0
    assert train["current_over_baseline"] == pytest.approx(16 / 21, abs=1e-3)
    assert summary["settings"]["train, batch 2, fp32, step p50"]["sides"]["current"]["values"] == [30.0, 34.0, 32.0]
    assert summary["settings"]["inference, batch 32"]["current_over_baseline"] == pytest.approx(1050 / 925, abs=1e-3)
    assert read_json(tmp_path / "summary.json") == summary
    # docs/results.md shows it when it sits under benchmarks/results/ab-*/
    results = tmp_path / "results"
    (results / "ab-x").mkdir(parents=True)
    write_json(results / "ab-x" / "summary.json", summary)
    block = "\n".join(make_results.ab_blocks(results))
    assert "| train, batch 2, fp32 | current | bbb | 15.0, 17.0, 16.0 | 16.0 | 0.76 |" in block


def test_summarize_without_runs_says_so(tmp_path):
    with pytest.raises(SystemExit, match="no run<N>"):
        ab.summarize(tmp_path)


def test_prepare_copies_the_committed_code_without_results(tmp_path):
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    dest = ab.prepare("HEAD", tmp_path / "tree")
    assert (dest / "COMMIT").read_text().strip() == head.stdout.strip()
    assert (dest / "iser_model" / "model.py").is_file() and (dest / "benchmarks" / "iser_speed.py").is_file()
    assert not (dest / "benchmarks" / "results").exists() and not (dest / "tests").exists()


def test_run_refuses_a_tree_without_its_commit(tmp_path):
    with pytest.raises(SystemExit, match="COMMIT is missing"):
        ab.run(tmp_path, tmp_path / "out", 1, ["--quick"])


def test_failed_runs_are_kept_in_the_summary(tmp_path):
    _run(tmp_path / "run1-baseline.json", "aaa", 20.0, 900.0)
    failed = [{"run": 2, "side": "current", "commit": "bbb", "exit": 1, "output_tail": "ImportError"}]
    summary = ab.summarize(tmp_path, failed)
    assert summary["failed"] == failed and "current_over_baseline" not in summary["settings"]["train, batch 2, fp32"]
    results = tmp_path / "results"
    (results / "ab-y").mkdir(parents=True)
    write_json(results / "ab-y" / "summary.json", summary)
    assert "run 2 (current, bbb): exit 1" in "\n".join(make_results.ab_blocks(results))
