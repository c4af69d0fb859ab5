"""benchmarks/chinese_path.py: the rule baseline's record, and CMeIE skipped with its reason without ../shared."""

from __future__ import annotations

from benchmarks import chinese_path
from benchmarks.common import read_json
from ddikg.labels import RELATION_LABELS


def test_baseline_part_records_per_type_figures(tmp_path, capsys):
    assert chinese_path.main(["--part", "baseline", "--out", str(tmp_path)]) == 0
    got = read_json(tmp_path / "baseline.json")
    assert got["command"] == "python -m benchmarks.chinese_path --part baseline"
    assert got["data"]["statements"] == 184 and got["machine"]["load_average"]
    per_type = got["metrics"]["re"]["per_type"]
    assert set(per_type) == set(RELATION_LABELS) and sum(v["support"] for v in per_type.values()) == 300
    assert "相加" in capsys.readouterr().out


def test_cmeie_part_is_skipped_with_the_reason_without_shared(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(chinese_path, "CMEIE", tmp_path / "nowhere")
    assert chinese_path.main(["--part", "cmeie", "--out", str(tmp_path)]) == 0
    got = read_json(tmp_path / "cmeie.json")
    assert "nowhere" in got["skipped"] and "DDIKG_SHARED" in got["skipped"] and "metrics" not in got
    assert "skipped: needs" in capsys.readouterr().out


def test_train_and_score_records_the_selected_and_the_last_epoch_on_test(tmp_path):
    """The model parts' record, on a tiny model and a few statements (one epoch, so selected = last)."""
    from importlib.resources import as_file

    from ddikg.annotate.chddi import CHDDI_DEV, CHDDI_TRAIN
    from ddikg.iser_model.presets import tiny_config
    from tests.flows.support import corpus_slice

    with as_file(CHDDI_TRAIN) as train, as_file(CHDDI_DEV) as dev:
        tr, val = corpus_slice(train, tmp_path / "tr.jsonl", 12), corpus_slice(dev, tmp_path / "val.jsonl", 6)
    cfg = tiny_config(max_span_width=12, epochs=1)
    got = chinese_path._train_and_score(cfg, tr, val, val, tmp_path)
    assert got["model"] == cfg.display_name() and got["train"]["epochs_run"] == 1
    assert got["train"]["best_epoch"] == got["train"]["last_epoch"] == 1
    assert set(got["train"]["best_validation"]) == {"ner", "re"}
    assert got["metrics"]["re"]["micro"].keys() >= {"p", "r", "f1"} and got["last_epoch_metrics"] == got["metrics"]
