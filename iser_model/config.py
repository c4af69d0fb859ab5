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
    max_pairs: int = Field(default=1000, ge=1)  # inference: cap on candidate entity pairs per sentence
    span_chunk: int = Field(default=65536, ge=256)  # SEA: spans x positions processed at once (memory bound)
    # inference: the spans SEA runs for (ddikg.iser_model.pruning, docs/model.md). "bound": only spans no SEA
    # output could make entities are skipped (exact); "margin": spans whose "no entity" logit, with the
    # unmasked sentence's context, leads every type by more than pruning_margin x ||W_k - W_0||_1
    # (approximate, and how safe a margin is depends on the model: check it with `ddikg bench speed
    # --sections extract`); "off": all spans
    span_pruning: Literal["off", "bound", "margin"] = "bound"
    pruning_margin: float = Field(default=0.3, ge=0.0)  # for "margin"; from 2 on it is exact (skips no more than "bound")

    # ablation switches (paper Tables 5-6)
    fusion: bool = True  # False = "-interactive fusion": H is the encoder output X_b
    # Not in the paper: feed X̃_e + X_e and X̃_r + X_r to the BiLSTM. The cross attention starts near uniform
    # and washes out each token's identity; without the residual the model stayed on the class prior, with a
    # scratch encoder and with pretrained MiniLM alike (docs/model.md). False = the paper's literal Eq. 5.
    fusion_residual: bool = True
    # Not in the paper: H = BiLSTM(...) + X_b. With the paper's H every head reads a BiLSTM that starts
    # random (its outputs ~5x smaller than MiniLM's states); over 9 CoNLL04 epochs ISER fitted the training
    # set more slowly than "-interactive fusion" and ended 3.4 RE F1 behind it (docs/results.md).
    fusion_skip: bool = False
    entity_context: EntityContext = "sea"
    relation_context: RelationContext = "lc"

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
    eval_every: int = Field(default=1, ge=1)  # epochs between dev evaluations
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

    @model_validator(mode="after")
    def _check(self) -> IserConfig:
        if self.scratch is not None and self.scratch.hidden_size % 2:
            raise ValueError("scratch.hidden_size must be even (BiLSTM/BiGRU halves)")
        if self.scratch is not None and self.max_length > self.scratch.max_position:
            raise ValueError(f"max_length={self.max_length} exceeds scratch.max_position={self.scratch.max_position}: "
                             "positions past the encoder's last position embedding cannot be encoded; lower "
                             "max_length (longer input is cut) or raise max_position")
        return self

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
