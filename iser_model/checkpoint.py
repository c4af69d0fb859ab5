"""Checkpoint directories (never pickles):

    config.json          IserConfig: every hyper-parameter, the label schema and the model id
    model.safetensors    all weights (encoder included)
    encoder/config.json  the transformer's architecture (HF config), rebuilt with from_config
    tokenizer files      tokenizer.json, vocab.txt, tokenizer_config.json, ...
    README.md            model card with the evaluation table
    metrics.json         dev/test figures of the saved weights (when known)
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from ddikg.iser_model.config import IserConfig
from ddikg.iser_model.encoder import Encoder, transformer_from_config
from ddikg.iser_model.evaluator import table
from ddikg.iser_model.model import IserModel


def save_checkpoint(out_dir: str | Path, model: IserModel, tokenizer: PreTrainedTokenizerBase,
                    metrics: dict | None = None, note: str = "") -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # plain copies: on CUDA, cuDNN flattens each RNN's weights into one buffer, which safetensors'
    # shared-storage check (save_model) refuses
    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    model.cfg.save(out / "config.json")
    model.encoder.transformer.config.save_pretrained(str(out / "encoder"))
    tokenizer.save_pretrained(str(out))
    if metrics is not None:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "README.md").write_text(model_card(model.cfg, metrics, note), encoding="utf-8")
    return out


def load_checkpoint(model_dir: str | Path, device: str | torch.device = "cpu",
                    ) -> tuple[IserModel, PreTrainedTokenizerBase]:
    d = Path(model_dir)
    for name in ("config.json", "model.safetensors", "encoder/config.json"):
        if not (d / name).is_file():
            raise FileNotFoundError(f"{d}: not an ISER checkpoint (missing {name})")
    cfg = IserConfig.load(d / "config.json")
    tokenizer = AutoTokenizer.from_pretrained(str(d))
    model = IserModel(cfg, Encoder(transformer_from_config(d / "encoder"), cfg.dropout))
    model.load_state_dict(load_file(str(d / "model.safetensors")), strict=True)
    return model.to(device).eval(), tokenizer


def model_card(cfg: IserConfig, metrics: dict | None, note: str) -> str:
    encoder = f"scratch BERT ({cfg.scratch.model_dump_json()})" if cfg.scratch else cfg.encoder
    lines = [f"# ISER model `{cfg.model_id}`", "",
             "Joint entity-relation extraction (span + interactive fusion representation, ISER).", "",
             f"- encoder: {encoder}",
             f"- entity types: {', '.join(cfg.entity_types)}",
             f"- relation types: {', '.join(cfg.relation_types)}",
             f"- ablations: fusion={cfg.fusion}, entity_context={cfg.entity_context}, "
             f"relation_context={cfg.relation_context}",
             f"- k={cfg.max_span_width}, relation threshold={cfg.relation_threshold}, epochs={cfg.epochs}, "
             f"lr={cfg.lr}, batch={cfg.batch_size}, dropout={cfg.dropout}", ""]
    if note:
        lines += [note, ""]
    if metrics:
        lines += ["## Evaluation", "", "```", table(metrics), "```", ""]
    lines += ["Load with `ddikg.iser_model.checkpoint.load_checkpoint(dir)`; every hyper-parameter is in config.json.", ""]
    return "\n".join(lines)
