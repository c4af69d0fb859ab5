"""Negative sampling as in SpERT, vectorised with NumPy (no per-span Python loops).

Per sentence: every gold entity span (width <= k) plus up to ``n_neg_entities`` random non-entity
spans of width <= k; every gold related pair (multi-hot types) plus up to ``n_neg_relations`` random
ordered pairs of gold entities that hold no relation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ddikg.iser_model.spans import enumerate_spans


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one training sentence's negatives in one epoch: the same draws whichever batch
    or process (data-parallel rank) the sentence lands in."""
    return np.random.default_rng((seed, epoch, index))


@dataclass
class Sample:
    spans: np.ndarray  # (S, 2) word ranges
    entity_labels: np.ndarray  # (S,) 0 = none, else type index + 1
    pairs: np.ndarray  # (P, 2) indices into spans
    relation_labels: np.ndarray  # (P, R) multi-hot


def sample_negatives(n_words: int, entities: np.ndarray, relations: np.ndarray, k: int, n_rel_types: int,
                     n_neg_entities: int, n_neg_relations: int, rng: np.random.Generator) -> Sample:
    """entities: (E, 3) [start, end, type]; relations: (R, 3) [head, tail, type] indexing ``entities``."""
    cand = enumerate_spans(n_words, k)  # (C, 2)
    code = cand[:, 0] * (k + 1) + (cand[:, 1] - cand[:, 0])
    pos_code = entities[:, 0] * (k + 1) + (entities[:, 1] - entities[:, 0])
    neg = cand[~np.isin(code, pos_code)]
    neg = neg[rng.permutation(len(neg))[:n_neg_entities]]
    spans = np.concatenate([entities[:, :2], neg]).astype(np.int64)
    labels = np.concatenate([entities[:, 2] + 1, np.zeros(len(neg), np.int64)]).astype(np.int64)

    E = len(entities)
    multi = np.zeros((E * E, n_rel_types), np.float32)  # (E*E, R) flattened ordered pairs
    if len(relations):
        multi[relations[:, 0] * E + relations[:, 1], relations[:, 2]] = 1.0
    is_pos = multi.any(1)
    head, tail = np.divmod(np.arange(E * E), max(E, 1))
    not_self = head != tail
    pos_idx = np.flatnonzero(is_pos)
    neg_idx = np.flatnonzero(~is_pos & not_self)
    neg_idx = neg_idx[rng.permutation(len(neg_idx))[:n_neg_relations]]
    chosen = np.concatenate([pos_idx, neg_idx])
    pairs = np.stack([head[chosen], tail[chosen]], 1).astype(np.int64)
    return Sample(spans, labels, pairs.reshape(-1, 2), multi[chosen])
