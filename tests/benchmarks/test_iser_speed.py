"""The speed benchmark runs on CPU with a tiny configuration and reports every section's figures."""

from __future__ import annotations

import json

from benchmarks import iser_speed


def _numbers(row: dict, keys: tuple[str, ...]) -> None:
    for k in keys:
        assert isinstance(row[k], (int, float)) and row[k] > 0, (k, row)


def test_payload_has_every_section(speed_run):
    payload, out = speed_run
    assert json.loads(out.read_text(encoding="utf-8")) == payload  # the JSON file is what was returned
    assert payload["benchmark"] == "iser_speed" and payload["quick"] is True
    assert payload["anchor"]["seconds_per_epoch"] == 85.0 and payload["anchor"]["sentences_per_second"] == 11.0
    assert payload["precision"] == "fp32"
    m = payload["machine"]
    assert m["device"] == "cpu" and len(m["load_average"]) == 3 and isinstance(m["torch_threads"], int)
    assert "spans" in payload["sea_complexity"]


def test_training_rows(speed_run):
    payload, _ = speed_run
    rows = payload["training"]
    assert [r["batch_size"] for r in rows] == [2, 4]  # --quick caps the batch of 32 at 4
    assert {r["precision"] for r in rows} == {"fp32"}  # bf16 autocast is CUDA-only
    for r in rows:
        _numbers(r, ("seconds_per_epoch", "sentences_per_second", "seconds_per_step", "steps_per_epoch"))
        assert r["steps_timed"] == 1 and r["extrapolated"] is True  # 1 of several steps, scaled to an epoch
        assert r["peak_memory_mib"] is None  # no GPU
        q = r["step_ms"]  # the spread of step times, ordered quantiles
        assert list(q) == ["p10", "p50", "p90", "p99"] and 0 < q["p10"] <= q["p50"] <= q["p90"] <= q["p99"]
        assert abs(q["p50"] - r["seconds_per_step"] * 1e3) <= 0.05 * q["p50"]  # one timed step: all quantiles equal it
        # the epoch estimate is the measured per-sentence time times the epoch's sentences
        n = payload["data"]["train_sentences"]  # --quick trains on the first 8
        assert n == 8 and abs(r["seconds_per_epoch"] - n / r["sentences_per_second"]) <= 0.01


def test_inference_curve_and_cpu_rows(speed_run):
    payload, _ = speed_run
    curve = payload["inference"]["curve"]
    assert [r["batch_size"] for r in curve] == [1, 4]
    for r in curve + payload["cpu_inference"]["rows"]:
        _numbers(r, ("sentences_per_second", "ms_per_sentence", "spans_per_sentence"))
        assert r["sentences"] == 6
        assert r["entities_per_sentence"] >= 0 and r["relations_per_sentence"] >= 0
    cpu = payload["cpu_inference"]["rows"]
    assert {r["encoder"] for r in cpu} == {"tiny"} and all(r["parameters"] > 0 for r in cpu)


def test_growth_by_length_and_width(speed_run):
    payload, _ = speed_run
    g = payload["growth"]
    assert [r["k"] for r in g["by_width"]] == list(iser_speed.WIDTHS)
    spans = [r["spans_per_sentence"] for r in g["by_width"]]
    assert spans == sorted(spans) and spans[0] < spans[-1]  # wider k -> more candidate spans
    buckets = g["by_length"]
    assert buckets and all(r["sentences"] >= 1 for r in buckets)
    words = [r["mean_words"] for r in buckets]
    assert words == sorted(words)
    for r in buckets:
        lo, _, hi = r["bucket"].partition("-")
        assert int(lo) <= r["mean_words"] <= (int(hi) if hi else 10_000)


def test_unknown_section_is_refused(conll_like, tmp_path):
    import pytest

    train, dev = conll_like
    with pytest.raises(SystemExit, match="unknown"):
        iser_speed.main(["--quick", "--device", "cpu", "--sections", "train,warp", "--train", str(train),
                         "--dev", str(dev), "--out", str(tmp_path / "x.json")])


def test_bf16_training_on_cpu_is_refused(conll_like, tmp_path):
    """bf16 autocast only exists on CUDA here: a CPU 'bf16' row would silently time float32."""
    import pytest

    train, dev = conll_like
    with pytest.raises(SystemExit, match="train-precision"):
        iser_speed.main(["--quick", "--device", "cpu", "--sections", "train", "--train-precision", "bf16",
                         "--train", str(train), "--dev", str(dev), "--out", str(tmp_path / "x.json")])


def test_whole_epoch_is_not_extrapolated(conll_like):
    import torch

    from ddikg.iser_model.readers import read_dataset

    train, _ = conll_like
    ds = read_dataset(train)
    model, tok = iser_speed.build(iser_speed.model_config("tiny"), ds.documents, ds.entity_types,
                                  ds.relation_types, torch.device("cpu"))
    items = iser_speed.prepared(model, tok, ds.documents)
    row = iser_speed.train_throughput(model, tok, items, 4, None, torch.device("cpu"), warmup=0)
    assert row["steps_timed"] == row["steps_per_epoch"] == 3 and row["sentences_timed"] == len(items) == 10
    assert row["extrapolated"] is False


def test_variant_rows(speed_run):
    from benchmarks.paper import VARIANTS

    payload, _ = speed_run
    rows = payload["variants"]["rows"]
    assert [r["variant"] for r in rows] == list(VARIANTS)  # each ablation of Table 6, ISER_GRU and ours
    for r in rows:
        _numbers(r, ("ms_per_sentence", "sentences_per_second"))


def test_extract_rows(conll_like, tmp_path):
    """The extract section times each inference path against the encoder pass and scores its predictions
    against the exact path's (the reference and the fast SEA path agree on every sentence)."""
    train, dev = conll_like
    out = tmp_path / "extract.json"
    payload = iser_speed.main(["--quick", "--device", "cpu", "--sections", "extract", "--train", str(train),
                               "--dev", str(dev), "--extract-batch-sizes", "2", "--margins", "0.3,2",
                               "--out", str(out)])
    curve = payload["extract"]["curve"]
    assert [c["batch_size"] for c in curve] == [2] and curve[0]["encoder_seconds"] > 0
    rows = {r["path"]: r for r in curve[0]["rows"]}
    assert set(rows) == {"reference", "exact", "bound", "margin=0.3", "margin=2"}
    for r in rows.values():
        _numbers(r, ("seconds", "cpu_seconds", "sentences_per_second", "ratio_to_encoder", "cpu_ratio_to_encoder"))
        assert 0 < r["sea_span_fraction"] <= 1 and r["compared_with"] == "exact"
    for exact in ("reference", "bound", "margin=2"):  # exact paths: the same predictions
        assert rows[exact]["sentences_differing"] == 0 and rows[exact]["max_score_difference"] <= 1e-5
    assert rows["exact"]["sea_span_fraction"] == 1.0
    assert payload["machine"]["uptime"] and payload["machine"]["uptime_end"]
