"""The reproduction harness: one JSON per (table, variant, seed), resumable, aggregated per variant."""

from __future__ import annotations

import json
import shutil

import pytest

from benchmarks import reproduce
from benchmarks.paper import TABLE_VARIANTS, VARIANTS, label


@pytest.mark.parametrize("table", ["conll04", "cmeie"])
def test_one_result_per_variant(repro_results, table):
    base = repro_results / "reproduce" / table / "quick"
    files = sorted(base.glob("*/seed1.json"))
    assert sorted(p.parent.name for p in files) == sorted(TABLE_VARIANTS[table])
    for p in files:
        rec = json.loads(p.read_text(encoding="utf-8"))
        assert rec["table"] == table and rec["protocol"] == "quick" and rec["seed"] == 1
        assert rec["label"] == label(rec["config"])  # named by what ran (the quick model has the residual)
        for key, value in VARIANTS[rec["variant"]][1].items():
            assert rec["config"][key] == value  # the ablation switch reached the trained model
        for key in reproduce.METRICS:
            assert 0.0 <= rec["metrics"][key] <= 1.0
            assert 0.0 <= rec["last_epoch_metrics"][key] <= 1.0
        assert rec["epochs_run"] == 1 and rec["seconds_per_epoch"] > 0 and rec["best_epoch"] == rec["last_epoch"] == 1
        assert set(rec["evaluation"]) >= {"ner", "re", "re_no_nec"}
        # selected on a slice of the training file; the reported file only evaluated
        assert "validation:" in rec["selection"] and rec["validation_documents"] >= 1
        assert rec["machine"]["device"] == "cpu"


def test_summary_rows(repro_results):
    summary = json.loads((repro_results / "reproduce" / "conll04" / "quick" / "summary.json").read_text())
    assert [r["variant"] for r in summary["rows"]] == TABLE_VARIANTS["conll04"]
    for row in summary["rows"]:
        assert row["seeds"] == [1]
        for key in reproduce.METRICS:
            assert row[key]["n"] == 1 and row[key]["std"] == 0.0 and isinstance(row[key]["mean"], float)


def test_cmeie_unalignable_spo_are_counted(repro_results):
    rec = json.loads((repro_results / "reproduce" / "cmeie" / "quick" / "iser" / "seed1.json").read_text())
    assert rec["rejected_spo"] == 8  # one invented object string per training record, never silently dropped
    # the rows set aside, with their reasons, are kept beside the result (train and dev)
    assert rec["rejects"]["train"]["rows"] == 8 and rec["rejects"]["test"]["rows"] == 4
    rows = [json.loads(t) for t in open(rec["rejects"]["train"]["file"], encoding="utf-8")]
    assert len(rows) == 8 and all("不存在的药" in json.dumps(r, ensure_ascii=False) for r in rows)


def test_resume_skips_finished_runs(repro_results, conll_like, capsys):
    train, dev = conll_like
    before = {p: p.stat().st_mtime_ns for p in (repro_results / "reproduce").rglob("seed*.json")}
    summary = reproduce.main(["--table", "conll04", "--quick", "--seeds", "1", "--device", "cpu", "--train",
                              str(train), "--dev", str(dev), "--results", str(repro_results / "reproduce")])
    assert summary["ran"] == 0 and summary["skipped"] == len(TABLE_VARIANTS["conll04"])
    assert {p: p.stat().st_mtime_ns for p in (repro_results / "reproduce").rglob("seed*.json")} == before


def test_a_run_of_one_variant_keeps_the_others_in_the_summary(repro_results, cmeie_like):
    """One process per variant (as gpu_session.sh runs them) must not shrink summary.json to its own."""
    train, dev = cmeie_like
    summary = reproduce.main(["--table", "cmeie", "--quick", "--seeds", "1", "--variants", "sea_cls", "--device",
                              "cpu", "--train", str(train), "--dev", str(dev),
                              "--results", str(repro_results / "reproduce")])
    assert summary["ran"] == 0 and summary["skipped"] == 1
    assert [r["variant"] for r in summary["rows"]] == TABLE_VARIANTS["cmeie"]
    on_disk = json.loads((repro_results / "reproduce" / "cmeie" / "quick" / "summary.json").read_text())
    assert on_disk == summary


def test_aggregate_mean_and_std():
    recs = [{"variant": "iser", "seed": s, "metrics": {k: v for k in reproduce.METRICS},
             "last_epoch_metrics": {k: v / 2 for k in reproduce.METRICS}, "seconds_per_epoch": 2.0,
             "config": {"fusion_residual": True}} for s, v in ((1, 0.5), (2, 0.7), (3, 0.6))]
    (row,) = reproduce.aggregate(recs, ["iser"])
    assert row["seeds"] == [1, 2, 3] and row["label"] == "ISER + residual"
    assert row["re_micro_f1"]["mean"] == pytest.approx(0.6) and row["re_micro_f1"]["std"] == pytest.approx(0.1)
    assert row["last_re_micro_f1"]["mean"] == pytest.approx(0.3)


def test_protocol_names_spell_out_deviations():
    base = ["--table", "conll04"]
    assert reproduce.protocol_name(reproduce.parse(base)) == "paper"
    assert reproduce.protocol_name(reproduce.parse(base + ["--epochs", "2", "--dev-limit", "50"])) == "sanity-e2-d50"
    assert reproduce.protocol_name(reproduce.parse(base + ["--quick"])) == "quick"
    assert reproduce.protocol_name(reproduce.parse(base + ["--epochs", "12", "--lr", "1e-3", "--batch-size", "32"])
                                   ) == "sanity-e12-lr0.001-b32"
    assert reproduce.protocol_name(reproduce.parse(base + ["--epochs", "5", "--train-limit", "200", "--val-fraction",
                                                           "0.25"])) == "sanity-e5-t200-v0.25"


def test_unknown_variant_is_refused():
    with pytest.raises(SystemExit, match="not in table conll04: \\[.nope.\\]"):
        reproduce.main(["--table", "conll04", "--variants", "iser,nope", "--quick"])


def test_our_own_variant_runs_when_named_and_follows_the_paper_rows(tmp_path, repro_results, conll_like, cmeie_like):
    results = tmp_path / "reproduce"
    shutil.copytree(repro_results / "reproduce", results)
    train, dev = conll_like
    summary = reproduce.main(["--table", "conll04", "--quick", "--seeds", "1", "--variants", "iser_skip", "--device",
                              "cpu", "--train", str(train), "--dev", str(dev), "--results", str(results)])
    assert summary["ran"] == 1
    assert [r["variant"] for r in summary["rows"]] == TABLE_VARIANTS["conll04"] + ["iser_skip"]
    rec = json.loads((results / "conll04" / "quick" / "iser_skip" / "seed1.json").read_text())
    assert rec["config"]["fusion_skip"] is True and " + skip" in rec["label"]
    train, dev = cmeie_like
    with pytest.raises(SystemExit, match="not in table cmeie: \\['lc_att'\\]"):
        reproduce.main(["--table", "cmeie", "--quick", "--variants", "lc_att", "--train", str(train), "--dev",
                        str(dev), "--results", str(results)])
