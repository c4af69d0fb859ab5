"""One typed configuration for an ISER model: architecture, ablations, training and label schema.

Saved as ``config.json`` in every checkpoint, so a checkpoint rebuilds exactly the model it holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Entity-context variants (Table 5-6 "SEA->CLS" and the ISER_GRU row of Tables 3-4).
EntityContext = Literal["sea", "cls", "gru"]
#: Relation-context variants (Table 5-6 rows "LC->...").
RelationContext = Literal["lc", "lc_att", "lc_bert", "cls", "gc_bert", "gc"]


class ScratchEncoder(BaseModel):
    """A small randomly initialised BERT, for machines without pretrained weights.

    ``tokenizer`` is a tokenizer directory (e.g. the bert-base-chinese tokenizer) or ``"char"``: a
    character vocabulary built from the training corpus and saved with the checkpoint.
    """

    model_config = ConfigDict(extra="forbid")

    tokenizer: str = "char"
    hidden_size: int = Field(default=128, ge=8)
    num_layers: int = Field(default=2, ge=1)
    num_heads: int = Field(default=4, ge=1)
    intermediate_size: int = Field(default=256, ge=8)
    max_position: int = Field(default=512, ge=16)
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)  # the transformer's hidden/attention dropout
    min_char_count: int = Field(default=1, ge=1)  # char vocabulary: drop rarer characters (-> [UNK])


class IserConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_id: str = "iser"
    # encoder: an HF model name or local directory (pretrained), unless `scratch` is given
    encoder: str = "bert-base-chinese"
    scratch: ScratchEncoder | None = None
    max_length: int = Field(default=512, ge=8)  # subword positions incl. [CLS]/[SEP]; longer input is cut

    # architecture (paper §3)
    max_span_width: int = Field(default=10, ge=1)  # k, in words
    width_embedding: int = Field(default=25, ge=1)
    sea_heads: int = Field(default=4, ge=1)
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    relation_threshold: float = Field(default=0.4, gt=0.0, lt=1.0)
    # inference: candidate pairs scored per forward pass (a chunk size, as SpERT's max_pairs: every pair is
    # scored, in chunks of this many per sentence, which bounds the memory)
    max_pairs: int = Field(default=1000, ge=1)
    # inference: pair only the top-scoring `max_entities` entities of a sentence (None = every predicted
    # entity, as the paper and SpERT). An extraction-speed option; `evaluate` never caps
    max_entities: int | None = Field(default=None, ge=1)
    span_chunk: int = Field(default=65536, ge=256)  # SEA: spans x positions processed at once (memory bound)
    # inference: the spans SEA runs for (ddikg.iser_model.pruning, docs/model.md). "bound": only spans no SEA
    # output could make entities are skipped (exact); "margin": spans whose "no entity" logit, with the
    # unmasked sentence's context, leads every type by more than pruning_margin x ||W_k - W_0||_1
    # (approximate, and how safe a margin is depends on the model: check it with `ddikg bench speed
    # --sections extract`); "off": all spans
    span_pruning: Literal["off", "bound", "margin"] = "bound"
    pruning_margin: float = Field(default=0.3, ge=0.0)  # for "margin"; from 2 on it is exact (skips no more than "bound")
    # initialisation, which the paper leaves open: "default" = PyTorch's; "scaled" = the FFNs of Eq. 1-2
    # keep the encoder's scale at initialisation (docs/model.md)
    init: Literal["default", "scaled"] = "default"

    # ablation switches (paper Tables 5-6)
    fusion: bool = True  # False = "-interactive fusion": H is the encoder output X_b
    entity_context: EntityContext = "sea"
    relation_context: RelationContext = "lc"

    # deviations from the paper's equations: each off by default, named by display_name() when on
    fusion_residual: bool = False  # BiLSTM(X̃_e + X_e ⊕ X̃_r + X_r) instead of Eq. 5's BiLSTM(X̃_e ⊕ X̃_r)
    fusion_skip: bool = False  # H = BiLSTM(...) + X_b instead of Eq. 5's H
    ffn_dropout: bool = False  # a Dropout(dropout) between the ReLU and W2 of Eq. 1-2
    sea_scale: Literal["d", "d_head"] = "d"  # SEA's softmax temperature: Eq. 8's √d, or each head's √d_head
    sea_out_proj: bool = False  # an output projection W_O after SEA's heads (Eq. 7 lists W_K, W_Q, W_V only)
    # the relation BCE (Eq. 17) per pair: "mean" over types (BCEWithLogits' and SpERT's reduction) or "sum"
    relation_loss: Literal["mean", "sum"] = "mean"
    # training (paper §4.2)
    neg_entities: int = Field(default=100, ge=0)
    neg_relations: int = Field(default=100, ge=0)
    lr: float = Field(default=2e-5, gt=0.0)
    head_lr: float | None = None  # lr of the non-encoder parameters (None = lr)
    warmup: float = Field(default=0.1, ge=0.0, le=1.0)  # fraction of the steps
    weight_decay: float = Field(default=0.01, ge=0.0)
    epochs: int = Field(default=70, ge=1)
    batch_size: int = Field(default=2, ge=1)
    eval_batch_size: int = Field(default=8, ge=1)
    grad_clip: float = Field(default=1.0, gt=0.0)
    seed: int = 42
    eval_every: int = Field(default=1, ge=1)  # epochs between validation evaluations
    # without a validation file, this fraction of the training documents (whole groups: the source drug of
    # CH-DDI/CMeIE statements, else each document), drawn with val_seed, is the validation set
    val_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
    val_seed: int = 0
    device: str = "auto"
    # CPU threads for torch (None = torch's default). On a shared 2-core machine 1 is much faster: two
    # threads spin-wait on each other in the small recurrent kernels.
    threads: int | None = Field(default=None, ge=1)
    # on the CPU, keep freed tensor memory in the process instead of unmapping it (iser_model/hostmem.py):
    # "inference" (evaluation and extraction: 1.2-2.0x faster, +35 % peak RSS), "always" (training too:
    # it gained <= 17 % for +20-45 % peak RSS) or "never". Process-wide once applied.
    reuse_host_memory: Literal["inference", "always", "never"] = "inference"
    # bf16 autocast on CUDA (never on a CPU). Inference gains from it at large batches; training does not: on
    # the H200 a batch-2 CoNLL04 epoch took 16.5 s with autocast against 11.6 s in float32 with TF32 matmuls
    # (its casts are launches of a launch-bound step), and batch 32 414 against 471 sentences/s
    bf16: bool = True  # inference and evaluation
    train_bf16: bool = False  # training steps
    # torch.compile the training loss (dynamic shapes; the RNNs stay eager): fused kernels where a step is
    # bound by kernel launches (batch 2 on a GPU), for a compile of a minute or two at the first step
    compile: bool = False
    max_seconds: float | None = None  # stop training after this wall time (demo budget)

    # label schema (filled from the training data when empty)
    entity_types: list[str] = Field(default_factory=list)
    relation_types: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data):
        """A config saved before the deviation switches existed (a complete dump: it holds every field of
        :data:`_DUMP_FIELDS`) ran with what the code did then: fill those in, so that an old checkpoint
        rebuilds the model it holds and an old result row is named by what it ran."""
        if isinstance(data, dict) and _DUMP_FIELDS <= data.keys():
            return {**{k: v for k, v in _BEFORE_SWITCHES.items() if k not in data}, **data}
        return data

    @model_validator(mode="after")
    def _check(self) -> IserConfig:
        if self.scratch is not None and self.scratch.hidden_size % 2:
            raise ValueError("scratch.hidden_size must be even (BiLSTM/BiGRU halves)")
        if self.scratch is not None and self.max_length > self.scratch.max_position:
            raise ValueError(f"max_length={self.max_length} exceeds scratch.max_position={self.scratch.max_position}: "
                             "positions past the encoder's last position embedding cannot be encoded; lower "
                             "max_length (longer input is cut) or raise max_position")
        return self

    def display_name(self) -> str:
        """The name of the model this config builds, for tables, plots, model cards and docs: "ISER" only
        for the paper's equations as written; every ablation and deviation is spelt out."""
        return display_name(self)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> IserConfig:
        return cls.model_validate(json.loads(text))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> IserConfig:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


#: fields every saved config (``model_dump``) has held since the first checkpoint
_DUMP_FIELDS = frozenset({"model_id", "encoder", "max_length", "max_span_width", "span_chunk", "fusion",
                          "entity_context", "relation_context", "neg_entities", "epochs", "entity_types",
                          "relation_types"})
#: what the code computed before each switch existed (commit 0b57e21 and earlier)
_BEFORE_SWITCHES = {"ffn_dropout": True, "sea_scale": "d_head", "sea_out_proj": True, "relation_loss": "sum",
                    "fusion_residual": False}

#: names of the paper's ablations (Tables 4-6) and of our deviations, in the order they are spelt
_ENTITY_CONTEXT = {"sea": "", "cls": "SEA→CLS", "gru": "SEA→GRU"}
_RELATION_CONTEXT = {"lc": "", "lc_att": "LC→LC_att", "lc_bert": "LC→LC_BERT", "cls": "LC→CLS",
                     "gc_bert": "LC→GC_BERT", "gc": "LC→GC"}


def display_name(cfg: IserConfig) -> str:
    """"ISER", "ISER + residual", "ISER − interactive fusion", "ISER_GRU", "SpERT (same encoder)", ...

    SpERT is ISER without interactive fusion, with [CLS] as the entity context and the max-pooled local
    context between the spans (H = X_b then): the same encoder in the same harness."""
    extras = [name for on, name in (
        (cfg.init != "default", f"{cfg.init} init"),
        (cfg.fusion and cfg.fusion_residual, "residual"), (cfg.fusion and cfg.fusion_skip, "skip"),
        (cfg.fusion and cfg.ffn_dropout, "FFN dropout"),
        (cfg.entity_context == "sea" and cfg.sea_scale != "d", "SEA √d_head"),
        (cfg.entity_context == "sea" and cfg.sea_out_proj, "SEA W_O"),
        (cfg.relation_loss != "mean", "BCE summed over types")) if on]
    if not cfg.fusion and cfg.entity_context == "cls" and cfg.relation_context in ("lc", "lc_bert"):
        base = "SpERT (same encoder)"  # lc and lc_bert coincide without fusion (H = X_b)
    else:
        ablations = ([] if cfg.fusion else ["interactive fusion"])
        swaps = [n for n in (_ENTITY_CONTEXT[cfg.entity_context], _RELATION_CONTEXT[cfg.relation_context]) if n]
        if cfg.entity_context == "gru" and cfg.fusion and cfg.relation_context == "lc":
            base = "ISER_GRU"  # the paper's name (Tables 3-4)
        else:
            base = "ISER" + "".join(f" − {a}" for a in ablations) + "".join(f", {s}" for s in swaps)
    return base + "".join(f" + {e}" for e in extras)
