"""Batched prediction: every span up to width k -> entities -> candidate pairs -> relations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from ddikg.iser_model.batching import Prepared, collate_infer, length_batches, to_device
from ddikg.iser_model.hostmem import reuse_freed_memory
from ddikg.iser_model.model import IserModel
from ddikg.iser_model.pruning import SpanPruning, keep_spans


@dataclass
class Prediction:
    """One document's predictions, word level."""

    entities: list[tuple[int, int, str, float]]  # (start, end, type, probability)
    relations: list[tuple[int, int, str, float]]  # (head entity idx, tail entity idx, type, probability)


def autocast(device: torch.device, bf16: bool):
    if device.type == "cuda" and bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when there is one, else the CPU) or a torch device name; ValueError for a device
    that is not a device name or that this machine lacks."""
    try:
        device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)
    except RuntimeError as exc:
        raise ValueError(f"device {name!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available on this machine (use --device cpu or auto)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA devices")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r}: MPS is not available on this machine")
    if device.type == "cuda":
        # the float32 parts (SEA's prefix sums, the RNNs) may use TF32 tensor cores: ample precision
        # for a sum over at most a few hundred positions, several times the float32 speed
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        # cuDNN's fused attention (the SDPA backend torch picks first on H100/H200) builds an execution
        # plan per new sequence length: 6 ms of host time per encoder layer and pass, 57 % of a batch-2
        # training step with length-varying batches (measured, benchmarks/profile_step.py); the
        # memory-efficient and flash kernels have no such set-up cost
        torch.backends.cuda.enable_cudnn_sdp(False)
    return device


def configure_host(device: torch.device, threads: int | None, reuse_memory: bool = False) -> None:
    """Process settings for running the model on ``device``.

    ``threads`` torch CPU threads if given, else 1 on CUDA: there the host only launches kernels and
    collates, and torch's default pool (one thread per core) made a batch-2 MiniLM epoch on the H200
    take 54 s instead of 25 s. On the CPU, ``reuse_memory`` keeps freed tensor memory in the process
    (``hostmem.reuse_freed_memory``: fewer page faults, a larger resident heap).
    """
    if threads:
        torch.set_num_threads(threads)
    elif device.type == "cuda":
        torch.set_num_threads(1)
    if reuse_memory and device.type == "cpu":
        reuse_freed_memory()


@torch.no_grad()
def predict(model: IserModel, items: list[Prepared], pad_id: int, *, batch_size: int,
            device: torch.device, allowed_pair_types: set[tuple[str, str]] | None = None,
            non_overlapping: bool = False, span_pruning: SpanPruning | None = None,
            pruning_margin: float | None = None, stats: dict | None = None,
            max_entities: int | None = None) -> Iterator[tuple[int, Prediction]]:
    """Yield (index into ``items``, Prediction), in length-sorted batch order.

    Every ordered pair (i, j), i != j, of predicted entities is scored, as SpERT decodes (overlapping
    spans included), in chunks of ``cfg.max_pairs`` pairs. ``allowed_pair_types``: if given, only pairs
    whose (head type, tail type) is in it are scored (e.g. DDI: only drug-drug pairs). ``non_overlapping``:
    drop every predicted entity that overlaps a higher-scoring one (flat mentions, as drug names in
    CH-DDI are). ``max_entities``: pair only each sentence's top-scoring entities (an extraction-speed
    cap). Evaluation uses neither: it scores the model as the paper does. ``span_pruning``,
    ``pruning_margin``: which spans SEA runs for (:mod:`ddikg.iser_model.pruning`; default
    ``cfg.span_pruning``, ``cfg.pruning_margin``). ``stats``: if given, receives the counts of candidate
    spans (``spans``) and of those SEA ran for (``sea_spans``).
    """
    cfg = model.cfg
    rule = cfg.span_pruning if span_pruning is None else span_pruning
    margin = cfg.pruning_margin if pruning_margin is None else pruning_margin
    if stats is not None:
        stats.update(spans=0, sea_spans=0)
    model.eval()
    k, thr, ents, rels = cfg.max_span_width, cfg.relation_threshold, cfg.entity_types, cfg.relation_types
    allowed = None
    if allowed_pair_types is not None:
        allowed = torch.zeros(len(ents) + 1, len(ents) + 1, dtype=torch.bool, device=device)  # by label id
        for h, t in allowed_pair_types:
            if h in ents and t in ents:
                allowed[ents.index(h) + 1, ents.index(t) + 1] = True
    for idx in length_batches([len(p.input_ids) for p in items], batch_size, None):
        batch = to_device(collate_infer([items[i] for i in idx], pad_id, k), device)
        with autocast(device, cfg.bf16):
            enc = model.encode(batch)
            span_mask = batch["span_mask"].bool()
            s, w, c, sea = _span_features(model, enc, batch, span_mask, rule, margin)
            if stats is not None:
                stats["spans"] += int(span_mask.sum())
                stats["sea_spans"] += int(sea.sum())
            probs = model.entity_logits(s, w, c).float().softmax(-1)  # (B, S, 1+E)
            score, label = probs.max(-1)
            is_ent = (label > 0) & sea  # (B, S): a span skipped by the pruning rule is no entity
            if non_overlapping:
                is_ent = suppress_overlaps(batch["spans"], is_ent, score)
            # candidate pairs per sentence: every ordered pair of (the top max_entities) entities
            pairs, pair_mask = _pairs(is_ent, score, label, allowed, max_entities)
            rel = torch.zeros(*pairs.shape[:2], len(rels), device=device)
            if pair_mask.any():  # in chunks of max_pairs pairs per sentence: bounded memory, as SpERT
                rel = torch.cat([model.relation_logits(enc, batch["spans"], s, w, pairs[:, c:c + cfg.max_pairs])
                                 .float().sigmoid() for c in range(0, pairs.shape[1], cfg.max_pairs)], 1)
        spans = batch["spans"].cpu().numpy()
        is_ent, score, label = is_ent.cpu().numpy(), score.float().cpu().numpy(), label.cpu().numpy()
        pairs, pair_mask, rel = pairs.cpu().numpy(), pair_mask.cpu().numpy(), rel.cpu().numpy()
        for row, i in enumerate(idx):  # per sentence: turn tensors into Python records
            span_ids = np.flatnonzero(is_ent[row])
            pos = {int(j): n for n, j in enumerate(span_ids)}
            entities = [(int(spans[row, j, 0]), int(spans[row, j, 1]), ents[label[row, j] - 1],
                         float(score[row, j])) for j in span_ids]
            p_rows, t_ids = np.nonzero((rel[row] >= thr) & pair_mask[row][:, None])
            relations = [(pos[int(pairs[row, p, 0])], pos[int(pairs[row, p, 1])], rels[t], float(rel[row, p, t]))
                         for p, t in zip(p_rows, t_ids, strict=True)]
            yield i, Prediction(entities, relations)


def _span_features(model: IserModel, enc, batch: dict[str, torch.Tensor], span_mask: torch.Tensor,
                   rule: SpanPruning, margin: float):
    """s, w, c of every candidate span, c (SEA) only for the spans ``rule`` keeps (zero for the others),
    and the kept spans.  -> 3 x (B, S, ·), (B, S) bool"""
    spans, index, lengths = batch["spans"], batch["span_index"], batch["span_lengths"]
    if rule == "off" or model.span_context is None:
        return *model.span_features(enc, spans, span_mask, index, lengths), span_mask
    s, w, _ = model.span_features(enc, spans, span_mask, index[:0], lengths[:0])  # no span's context yet
    keep = keep_spans(model, enc, s, w, span_mask, rule, margin, batch["lengths"])
    index = keep.nonzero()  # (N', 2)
    s, w, c = model.span_features(enc, spans, keep, index, batch["lengths"][index[:, 0].cpu()])
    return s, w, c, keep


def suppress_overlaps(spans: torch.Tensor, is_ent: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """Keep an entity span only if no overlapping entity span beats it (higher score; on a tie the
    earlier span).  spans: (B, S, 2); is_ent, score: (B, S) -> is_ent (B, S)"""
    st, en = spans[..., 0], spans[..., 1]
    overlap = (st[:, :, None] < en[:, None, :]) & (st[:, None, :] < en[:, :, None])  # (B, S, S), i == j too
    idx = torch.arange(is_ent.shape[1], device=is_ent.device)
    si, sj = score[:, :, None], score[:, None, :]
    beaten_by = (sj > si) | ((sj == si) & (idx[None, None, :] < idx[None, :, None]))  # [b, i, j]: j beats i
    return is_ent & ~(overlap & beaten_by & is_ent[:, None, :]).any(-1)


def _pairs(is_ent, score, label, allowed, max_entities: int | None = None):
    """Ordered pairs (i, j), i != j, of predicted entity spans (SpERT's candidates), of the top
    ``max_entities`` entities by score when given.  is_ent, score, label: (B, S) -> (B, P, 2), (B, P)"""
    B, S = is_ent.shape
    n_ent = int(is_ent.sum(1).max()) if S else 0  # the one host read of the decoding step
    T = max(1, min(S, n_ent if max_entities is None else min(n_ent, max_entities)))
    top = score.masked_fill(~is_ent, -1.0).topk(T, dim=1).indices  # (B, T) entities first, by score
    ok = is_ent.gather(1, top)  # (B, T)
    hi = top[:, :, None].expand(B, T, T)
    ti = top[:, None, :].expand(B, T, T)
    valid = ok[:, :, None] & ok[:, None, :] & ~torch.eye(T, dtype=torch.bool, device=top.device)  # i != j
    if allowed is not None:
        lab = label.gather(1, top)
        valid &= allowed[lab[:, :, None], lab[:, None, :]]
    pairs = torch.stack([hi, ti], -1).reshape(B, T * T, 2)
    return pairs, valid.reshape(B, T * T)
