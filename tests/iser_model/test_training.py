"""End to end on CPU: the learning test, checkpoints, evaluate/extract (API and CLI), MiniLM smoke run."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from ddikg.cli import app
from ddikg.contracts import ChddiRecord, Triple
from ddikg.iser_model import api
from ddikg.iser_model.checkpoint import load_checkpoint
from ddikg.iser_model.presets import tiny_config
from ddikg.jsonl import read_jsonl, write_jsonl

from ..conftest import shared_path
from .synth import statements


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """~20 synthetic CH-DDI statements, 400 optimiser steps (batch 4, 80 epochs), evaluated on themselves."""
    root = tmp_path_factory.mktemp("iser")
    data = root / "train.jsonl"
    write_jsonl(data, statements(20))
    # lr 2e-3: at 1e-3 the result hung on the 0.9 bar (0.86-0.98 by seed and thread count; 0.45 for seed 3)
    cfg = tiny_config(epochs=80, eval_every=10, batch_size=4, seed=1, lr=2e-3, neg_entities=100, neg_relations=100)
    result = api.train(data, data, root / "model", config=cfg, progress=False)
    return root, data, result


def test_model_overfits_20_sentences(trained):
    _, _, result = trained
    assert result.epochs == 80 and len(result.seconds_per_epoch) == 80
    assert result.best_validation["ner"]["micro"]["f1"] >= 0.9, result.best_validation["ner"]["micro"]
    assert result.best_validation["re"]["micro"]["f1"] >= 0.9, result.best_validation["re"]["micro"]


def test_checkpoint_directory_and_reload(trained):
    root, data, result = trained
    d = result.model_dir
    for name in ("model.safetensors", "config.json", "encoder/config.json", "tokenizer.json", "README.md",
                 "metrics.jsonl", "training_curves.png"):
        assert (d / name).is_file(), name
    cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
    assert cfg["model_id"] == result.model_id and cfg["relation_types"][0] == "拮抗" and cfg["epochs"] == 80
    assert "ner" in (d / "README.md").read_text(encoding="utf-8")
    rows = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 81)) and "val_re_f1" in rows[39]
    model, _ = load_checkpoint(d)
    assert not model.training
    # the reloaded weights give exactly the saved dev figures
    again = api.evaluate(d, data, device="cpu")
    assert again["re"]["micro"] == result.best_validation["re"]["micro"]
    assert again["data"]["documents"] == 20 and again["data"]["rejected_spo"] == 0


def test_extract_writes_scored_records_and_triples(trained, tmp_path):
    _, _, result = trained
    recs = statements(20)[:6]  # seen in training: the overfitted model must find them
    recs.append({"text": "阿司匹林@尚不明确", "spo_list": [], "meta": {"boilerplate": True}})
    src = tmp_path / "in.jsonl"
    write_jsonl(src, [{k: v for k, v in r.items() if k != "spo_list"} for r in recs])
    out_rec, out_tr = tmp_path / "pred.jsonl", tmp_path / "triples.jsonl"
    summary = api.extract(result.model_dir, src, out_rec, out_tr, batch_size=4, device="cpu", run_id="run-1")
    assert summary.records == 6 and summary.skipped_boilerplate == 1 and summary.model_id == result.model_id
    preds = read_jsonl(out_rec, ChddiRecord)
    triples = read_jsonl(out_tr, Triple)
    assert len(triples) == summary.triples >= 5
    for p in preds:
        assert p.meta.model_id == result.model_id
        for s in p.spo_list:
            assert p.text[slice(*s.subject_span)] == s.subject and 0.4 <= s.score <= 1.0
    hits = {(t.subject, t.predicate, t.object) for t in triples}
    gold = {(s["subject"], s["predicate"], s["object"]["@value"]) for r in recs[:6] for s in r["spo_list"]}
    assert len(hits & gold) >= 5
    t = triples[0]
    assert t.evidence in {r["text"] for r in recs} and t.run_id == "run-1" and t.source_url.startswith("https://")


def test_cli_evaluate_and_extract(trained, tmp_path):
    _, data, result = trained
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", "--model", str(result.model_dir), "--data", str(data), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.stdout[res.stdout.index("{"):])
    assert set(metrics) >= {"ner", "re", "re_no_nec"} and set(metrics["ner"]["micro"]) >= {"p", "r", "f1"}
    out = tmp_path / "t.jsonl"
    res = runner.invoke(app, ["extract", "--model", str(result.model_dir), "--in", str(data), "--out", str(out),
                              "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["records"] == 20 and out.is_file()
    res = runner.invoke(app, ["evaluate", "--model", str(tmp_path), "--data", str(data)])
    assert res.exit_code == 1 and "not an ISER checkpoint" in " ".join(res.output.split())


def test_minilm_smoke_on_conll04_slice(tmp_path):
    encoder = shared_path("models", "minilm-l6-h384-uncased")
    conll = shared_path("data", "conll04")
    items = json.loads((conll / "conll04_train.json").read_text())
    dev = json.loads((conll / "conll04_dev.json").read_text())
    (tmp_path / "conll04_types.json").write_text((conll / "conll04_types.json").read_text())
    (tmp_path / "slice_train.json").write_text(json.dumps(items[:16]))
    (tmp_path / "slice_dev.json").write_text(json.dumps(dev[:8]))
    cfg = tiny_config(encoder=str(encoder), scratch=None, max_span_width=10,
                      width_embedding=25, sea_heads=4, lr=5e-5, epochs=1, batch_size=4, neg_entities=20,
                      neg_relations=20)
    result = api.train(tmp_path / "slice_train.json", tmp_path / "slice_dev.json", tmp_path / "m", config=cfg,
                       progress=False)
    assert result.epochs == 1 and result.train_documents == 16
    model, tok = load_checkpoint(result.model_dir)
    assert model.encoder.d == 384 and model.cfg.entity_types == ["Loc", "Org", "Peop", "Other"]
    # the saved encoder really is the pretrained MiniLM (not re-initialised): an embedding row is unchanged-ish
    from transformers import AutoModel

    ref = AutoModel.from_pretrained(str(encoder), dtype=torch.float32)
    emb, ref_emb = model.encoder.transformer.embeddings.word_embeddings.weight, ref.embeddings.word_embeddings.weight
    assert torch.allclose(emb[2000], ref_emb[2000], atol=1e-2)
    metrics = api.evaluate(result.model_dir, tmp_path / "slice_dev.json", device="cpu")
    assert metrics["data"]["documents"] == 8 and 0.0 <= metrics["ner"]["micro"]["f1"] <= 1.0


def test_time_budget_stops_mid_epoch_and_still_evaluates(tmp_path):
    """max_seconds is checked between steps: an epoch cut short is marked partial, evaluated and saved."""
    data = tmp_path / "train.jsonl"
    write_jsonl(data, statements(12))
    cfg = tiny_config(epochs=5, eval_every=5, batch_size=2, max_seconds=1e-9)
    result = api.train(data, data, tmp_path / "m", config=cfg, progress=False)
    rows = [json.loads(t) for t in (tmp_path / "m" / "metrics.jsonl").read_text().splitlines()]
    assert result.epochs == 1 and result.seconds_per_epoch == []  # the partial epoch is not an epoch time
    assert len(rows) == 1 and rows[0]["partial_epoch"] < 1 and "val_re_f1" in rows[0]
    assert (tmp_path / "m" / "config.json").exists()
