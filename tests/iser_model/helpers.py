"""Tiny models and batches built in-process (no ../shared needed)."""

from __future__ import annotations

import numpy as np
import torch

from ddikg.contracts import SpanDocument
from ddikg.iser_model.batching import collate_train, prepare
from ddikg.iser_model.encoder import Encoder, new_tokenizer, new_transformer
from ddikg.iser_model.model import IserModel
from ddikg.iser_model.presets import tiny_config

DOCS = [
    SpanDocument.model_validate({"tokens": list("阿司匹林@与华法林合用，出血风险增加"),
                                 "entities": [{"type": "药物", "start": 0, "end": 4},
                                              {"type": "药物", "start": 6, "end": 9}],
                                 "relations": [{"type": "协同", "head": 1, "tail": 0}]}),
    SpanDocument.model_validate({"tokens": list("地高辛@禁与钙剂合用"),
                                 "entities": [{"type": "药物", "start": 0, "end": 3},
                                              {"type": "药物", "start": 6, "end": 8}],
                                 "relations": [{"type": "禁忌", "head": 1, "tail": 0}]}),
]
ENTITY_TYPES = ["药物"]
RELATION_TYPES = ["拮抗", "抑制", "协同", "禁忌", "无关", "促进", "相加"]


def tiny_model(**overrides):
    torch.manual_seed(0)
    cfg = tiny_config(entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES,
                      scratch=dict(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                                   max_position=64, dropout=0.0), max_length=64, width_embedding=4, **overrides)
    tok = new_tokenizer(cfg, [d.tokens for d in DOCS])
    model = IserModel(cfg, Encoder(new_transformer(cfg, tok), cfg.dropout))
    return model, tok


def train_batch(model, tok, seed: int = 0):
    cfg = model.cfg
    items, _ = prepare(DOCS, tok, cfg.max_length, cfg.max_span_width, cfg.entity_types, cfg.relation_types)
    return collate_train(items, tok.pad_token_id, cfg.max_span_width, len(cfg.relation_types), 10, 10,
                         np.random.default_rng(seed))
