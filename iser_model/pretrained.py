"""The files of a saved ISER model, in the Hugging Face layout (never pickles):

    config.json          IserConfig: every hyper-parameter, the label schema and the model id
    model.safetensors    all weights (encoder included)
    encoder/config.json  the transformer's architecture (HF config), rebuilt with from_config
    tokenizer files      tokenizer.json, vocab.txt, tokenizer_config.json, ... (when a tokenizer is saved)
    README.md            model card: Hugging Face YAML metadata, then the evaluation tables
    metrics.json         validation figures of the saved (selected) weights
    training_metrics.json   (written by training) the selected and the last epoch, validation and test

``IserModel.save_pretrained`` / ``IserModel.from_pretrained`` use these functions; this module does not
import the model class (the model imports it).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import PreTrainedTokenizerBase

from ddikg.iser_model.config import IserConfig
from ddikg.iser_model.encoder import Encoder, transformer_from_config
from ddikg.iser_model.evaluator import markdown


def save_pretrained(model: nn.Module, out_dir: str | Path, tokenizer: PreTrainedTokenizerBase | None = None,
                    metrics: dict | None = None, note: str = "", datasets: list[str] | None = None,
                    split: str = "validation") -> Path:
    """Write ``model`` in the Hugging Face layout: ``model.safetensors`` + ``config.json`` (+ the encoder's
    architecture, the tokenizer when given, ``metrics.json`` and the model card ``README.md``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # plain copies: on CUDA, cuDNN flattens each RNN's weights into one buffer, which safetensors'
    # shared-storage check (save_model) refuses
    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    model.cfg.save(out / "config.json")
    model.encoder.transformer.config.save_pretrained(str(out / "encoder"))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out))
    if metrics is not None:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "README.md").write_text(model_card(model.cfg, metrics, note, datasets, split), encoding="utf-8")
    return out


def read_pretrained(model_dir: str | Path) -> tuple[IserConfig, Encoder, dict[str, torch.Tensor]]:
    """The configuration, the encoder (architecture only) and the weights of a saved model: every
    checkpoint ever written in this layout."""
    d = Path(model_dir)
    for name in ("config.json", "model.safetensors", "encoder/config.json"):
        if not (d / name).is_file():
            raise FileNotFoundError(f"{d}: not an ISER checkpoint (missing {name})")
    try:
        cfg = IserConfig.load(d / "config.json")
    except ValueError as exc:  # not JSON, or not an IserConfig
        raise ValueError(f"{d / 'config.json'}: not a valid ISER config: {exc}") from None
    encoder = Encoder(transformer_from_config(d / "encoder"), cfg.dropout)
    try:
        state = load_file(str(d / "model.safetensors"))
    except Exception as exc:  # safetensors' own error type (truncated or corrupt file) has no stable home
        raise ValueError(f"{d / 'model.safetensors'}: cannot read the weights: {exc}") from None
    return cfg, encoder, state


def write_card(model_dir: str | Path, datasets: list[str], split: str = "validation", note: str = "") -> Path:
    """Rewrite a checkpoint's model card from its config.json and metrics.json, naming the data sets."""
    d = Path(model_dir)
    cfg = IserConfig.load(d / "config.json")
    m = d / "metrics.json"
    metrics = json.loads(m.read_text(encoding="utf-8")) if m.is_file() else None
    path = d / "README.md"
    path.write_text(model_card(cfg, metrics, note, datasets, split), encoding="utf-8")
    return path


def dataset_name(path: str | Path) -> str:
    """The name a model card gives a training or evaluation file."""
    text = Path(path).as_posix().lower()
    for key, name in (("conll04", "conll04"), ("cmeie", "CMeIE"), ("annotate/data/chddi", "ddikg-chddi")):
        if key in text:
            return name
    return Path(path).stem


def deviations(cfg: IserConfig) -> list[str]:
    """The switches of ``cfg`` that differ from the paper's ISER (ablations, and what the paper lacks)."""
    paper = IserConfig()
    out = []
    if not cfg.fusion:
        out.append("-interactive fusion (H = X_b)")
    elif cfg.fusion_residual:
        out.append("fusion_residual: BiLSTM input X̃ + X (not in the paper)")
    if cfg.fusion and cfg.fusion_skip:
        out.append("fusion_skip: H = BiLSTM(...) + X_b (not in the paper)")
    if cfg.fusion and cfg.ffn_dropout:
        out.append("ffn_dropout: a Dropout inside the FFN of Eq. 1-2 (not in the paper)")
    if cfg.init != paper.init:
        out.append(f"init={cfg.init}: FFNs initialised at the encoder's scale (the paper leaves it open)")
    if cfg.entity_context == "sea" and cfg.sea_scale != paper.sea_scale:
        out.append("sea_scale: SEA softmax at 1/sqrt(d_head) (Eq. 8: 1/sqrt(d))")
    if cfg.entity_context == "sea" and cfg.sea_out_proj:
        out.append("sea_out_proj: an output projection W_O after SEA's heads (not in Eq. 7)")
    if cfg.relation_loss != paper.relation_loss:
        out.append("relation_loss=sum: the relation BCE summed over types (the paper: BCEWithLogits, a mean)")
    if cfg.entity_context != paper.entity_context:
        out.append(f"entity context {cfg.entity_context} instead of SEA")
    if cfg.relation_context != paper.relation_context:
        out.append(f"relation context {cfg.relation_context} instead of LC")
    if cfg.scratch is not None:
        out.append("randomly initialised encoder (no pretrained weights)")
    if cfg.head_lr is not None:
        out.append(f"head learning rate {cfg.head_lr:g} (encoder {cfg.lr:g})")
    return out


def _yaml_str(x: str) -> str:
    return json.dumps(x, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def model_card(cfg: IserConfig, metrics: dict | None, note: str = "", datasets: list[str] | None = None,
               split: str = "validation") -> str:
    """README.md of a checkpoint: Hugging Face YAML metadata (language, library, tags, datasets, base model,
    metrics with the split they were measured on, deviations from the paper), then the evaluation table."""
    cjk = any("\u4e00" <= ch <= "\u9fff" for t in cfg.entity_types + cfg.relation_types for ch in t)
    language = ["zh"] if cjk or (cfg.scratch is None and "chinese" in cfg.encoder.lower()) else ["en"]
    base = None if cfg.scratch else Path(cfg.encoder).name if Path(cfg.encoder).exists() else cfg.encoder
    encoder = f"scratch BERT ({cfg.scratch.model_dump_json()})" if cfg.scratch else cfg.encoder
    names = datasets or []
    devs = deviations(cfg)
    y = ["---", "language:", *[f"- {x}" for x in language], "library_name: ddikg", "pipeline_tag: token-classification",
         "tags:", *[f"- {t}" for t in ("joint-entity-relation-extraction", "relation-extraction",
                                       "named-entity-recognition", "iser", "drug-drug-interaction")],
         "datasets:", *[f"- {_yaml_str(n)}" for n in names]]
    if not names:
        y[-1] = "datasets: []"
    if base:
        y.append(f"base_model: {_yaml_str(base)}")
    y += ["deviations:" if devs else "deviations: []", *[f"- {_yaml_str(d)}" for d in devs]]
    y += ["metrics:", "- f1", "- precision", "- recall"]
    if metrics:
        data = names[-1] if names else "unknown"
        y += ["model-index:", f"- name: {_yaml_str(cfg.model_id)}", "  results:",
              "  - task:", "      type: token-classification", "      name: Joint entity and relation extraction",
              "    dataset:", f"      name: {_yaml_str(data)}", f"      type: {_yaml_str(data)}",
              f"      split: {_yaml_str(split)}", "    metrics:"]
        for task, label in (("ner", "NER"), ("re", "RE"), ("re_no_nec", "RE without entity types")):
            if task in metrics:
                for avg in ("micro", "macro"):
                    f1 = metrics[task][avg]["f1"]
                    y += ["    - type: f1", f"      value: {round(100 * f1, 2)}", f"      name: {label} {avg} F1"]
    y.append("---")
    lines = [*y, "", f"# {cfg.display_name()} model `{cfg.model_id}`", "",
             "Joint entity-relation extraction (span + interactive fusion representation, ISER; the title names "
             "every ablation and deviation from the paper's equations, `IserConfig.display_name()`).", "",
             f"- encoder: {encoder}",
             f"- entity types: {', '.join(cfg.entity_types)}",
             f"- relation types: {', '.join(cfg.relation_types)}",
             f"- deviations from the paper: {'; '.join(devs) or 'none'}",
             f"- k={cfg.max_span_width}, relation threshold={cfg.relation_threshold}, epochs={cfg.epochs}, "
             f"lr={cfg.lr}, batch={cfg.batch_size}, dropout={cfg.dropout}", ""]
    if note:
        lines += [note, ""]
    if metrics:
        lines += [f"## Evaluation ({split}{': ' + names[-1] if names else ''}), %", "", markdown(metrics)]
    lines += ["Load with `IserModel.from_pretrained(dir)` (the model) or "
              "`ddikg.iser_model.checkpoint.load_checkpoint(dir)` (model and tokenizer); every hyper-parameter is "
              "in config.json.", ""]
    return "\n".join(lines)
