"""Hugging Face conventions: save_pretrained / from_pretrained round trip, checkpoints written before them
still load, and the model card's YAML metadata parses with the keys the Hub reads."""

from __future__ import annotations

import torch
import yaml

from ddikg.iser_model.checkpoint import load_checkpoint, save_checkpoint
from ddikg.iser_model.config import IserConfig
from ddikg.iser_model.model import IserModel
from ddikg.iser_model.pretrained import deviations, model_card

from .helpers import tiny_model, train_batch

METRICS = {t: {"micro": {"p": 0.5, "r": 0.25, "f1": 1 / 3}, "macro": {"p": 0.4, "r": 0.2, "f1": 0.25},
               "per_type": {}} for t in ("ner", "re", "re_no_nec")}


def _outputs(model: IserModel, batch) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        return model.eval()(batch)


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_save_pretrained_round_trip_gives_identical_outputs(tmp_path):
    model, tok = tiny_model(fusion_skip=True)
    with torch.no_grad():  # away from the initialisation, so a weight that did not load would show
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    batch = train_batch(model, tok)
    before = _outputs(model, batch)
    model.save_pretrained(tmp_path / "m", metrics=METRICS, datasets=["ddikg-chddi-sample"])
    assert {"model.safetensors", "config.json", "README.md", "metrics.json"} <= {
        p.name for p in (tmp_path / "m").iterdir()}
    again = IserModel.from_pretrained(tmp_path / "m")
    assert not again.training and again.cfg == model.cfg
    for a, b in zip(before, _outputs(again, batch), strict=True):
        assert torch.equal(a, b)


def test_a_checkpoint_written_before_loads(tmp_path):
    """The layout of earlier checkpoints (card without YAML) loads with both entry points, same outputs."""
    model, tok = tiny_model()
    save_checkpoint(tmp_path, model, tok, note="old")
    (tmp_path / "README.md").write_text("# ISER model `iser-tiny`\n\nJoint entity-relation extraction.\n")
    batch = train_batch(model, tok)
    expected = _outputs(model, batch)
    loaded, tok2 = load_checkpoint(tmp_path)
    assert tok2.get_vocab() == tok.get_vocab()
    for got in (_outputs(loaded, batch), _outputs(IserModel.from_pretrained(tmp_path), batch)):
        assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))


def test_model_card_metadata(tmp_path):
    model, _ = tiny_model(fusion=False)
    model.save_pretrained(tmp_path, metrics=METRICS, datasets=["ddikg-chddi-sample"], split="validation")
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    meta = _front_matter(text)
    assert meta["language"] == ["zh"] and meta["library_name"] == "ddikg"
    assert "relation-extraction" in meta["tags"] and meta["datasets"] == ["ddikg-chddi-sample"]
    # the tiny preset's own deviations (presets.PRESET_DEVIATIONS) are named too
    assert meta["deviations"] == ["-interactive fusion (H = X_b)", "sea_scale: SEA softmax at 1/sqrt(d_head) (Eq. 8: 1/sqrt(d))",
                                  "sea_out_proj: an output projection W_O after SEA's heads (not in Eq. 7)",
                                  "relation_loss=sum: the relation BCE summed over types (the paper: BCEWithLogits, a mean)",
                                  "randomly initialised encoder (no pretrained weights)"]
    assert "base_model" not in meta  # a scratch encoder has none
    result = meta["model-index"][0]["results"][0]
    assert result["dataset"]["split"] == "validation" and result["dataset"]["name"] == "ddikg-chddi-sample"
    assert {m["name"]: m["value"] for m in result["metrics"]}["RE micro F1"] == 33.33
    # the Hub's own parser reads it (model-index -> evaluation results)
    from huggingface_hub import ModelCard

    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.eval_results[0].dataset_split == "validation"


def test_card_of_a_pretrained_english_encoder_names_its_base_model_and_the_test_split():
    cfg = IserConfig(encoder="nreimers/MiniLM-L6-H384-uncased", entity_types=["Peop", "Loc"],
                     relation_types=["Live_In"], head_lr=5e-4)
    meta = _front_matter(model_card(cfg, METRICS, datasets=["conll04"], split="test"))
    assert meta["language"] == ["en"] and meta["base_model"] == "nreimers/MiniLM-L6-H384-uncased"
    assert meta["model-index"][0]["results"][0]["dataset"]["split"] == "test"
    # the defaults are the paper's equations: only the head learning rate deviates
    assert meta["deviations"] == deviations(cfg) == ["head learning rate 0.0005 (encoder 2e-05)"]
