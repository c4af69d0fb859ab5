"""From span documents to tensors: tokenisation with the subword -> word map, length-bucketed batches,
collation for training (sampled spans and pairs) and inference (every span up to width k)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from ddikg.contracts import SpanDocument
from ddikg.iser_model.sampling import sample_negatives
from ddikg.iser_model.spans import enumerate_spans


@dataclass
class Prepared:
    """A tokenised document. Words past ``max_length`` subwords are cut (``n_words`` < len(tokens))."""

    index: int
    input_ids: np.ndarray  # (n,) incl. [CLS] ... [SEP]
    word_start: np.ndarray  # (W,)
    word_end: np.ndarray  # (W,)
    entities: np.ndarray  # (E, 3) trainable gold entities: [start, end, type]
    relations: np.ndarray  # (R, 3) over ``entities``

    @property
    def n_words(self) -> int:
        return len(self.word_start)


@dataclass
class PrepareStats:
    documents: int = 0
    truncated_documents: int = 0
    untrainable_entities: int = 0  # wider than k or cut off: still counted as gold by the evaluator
    untrainable_relations: int = 0


def prepare(docs: list[SpanDocument], tokenizer: PreTrainedTokenizerBase, max_length: int, k: int,
            entity_types: list[str], relation_types: list[str]) -> tuple[list[Prepared], PrepareStats]:
    ent_id = {t: i for i, t in enumerate(entity_types)}
    rel_id = {t: i for i, t in enumerate(relation_types)}
    unk = tokenizer.unk_token
    words = [[w if w.strip() else unk for w in d.tokens] for d in docs]
    enc = tokenizer(words, is_split_into_words=True, add_special_tokens=True, truncation=False)
    stats = PrepareStats(documents=len(docs))
    out = []
    for i, d in enumerate(docs):  # per document (not per token): the map comes from word_ids
        ids = np.asarray(enc["input_ids"][i], np.int64)
        wid = np.asarray([-1 if w is None else w for w in enc.word_ids(i)], np.int64)
        if len(np.unique(wid[wid >= 0])) != len(d.tokens):  # a word that yields no subword -> [UNK]
            seen = set(wid.tolist())
            fixed = [w if w_i in seen else unk for w_i, w in enumerate(words[i])]
            one = tokenizer(fixed, is_split_into_words=True, add_special_tokens=True)
            ids = np.asarray(one["input_ids"], np.int64)
            wid = np.asarray([-1 if w is None else w for w in one.word_ids()], np.int64)
        pos = np.flatnonzero(wid >= 0)
        w_of = wid[pos]
        starts = np.full(len(d.tokens), -1, np.int64)
        ends = np.full(len(d.tokens), -1, np.int64)
        first = np.r_[True, w_of[1:] != w_of[:-1]]
        last = np.r_[w_of[1:] != w_of[:-1], True]
        starts[w_of[first]] = pos[first]
        ends[w_of[last]] = pos[last] + 1
        keep = int(np.searchsorted(ends, max_length - 1, side="right"))  # words fitting before [SEP]
        if keep < len(d.tokens):
            stats.truncated_documents += 1
            cut = int(ends[keep - 1]) if keep else 1
            ids = np.r_[ids[:cut], ids[-1:]]
        starts, ends = starts[:keep], ends[:keep]
        ents = np.asarray([[e.start, e.end, ent_id[e.type]] for e in d.entities], np.int64).reshape(-1, 3)
        ok = (ents[:, 1] <= keep) & (ents[:, 1] - ents[:, 0] <= k)
        stats.untrainable_entities += int((~ok).sum())
        remap = np.cumsum(ok) - 1
        rels = np.asarray([[r.head, r.tail, rel_id[r.type]] for r in d.relations], np.int64).reshape(-1, 3)
        r_ok = ok[rels[:, 0]] & ok[rels[:, 1]] if len(rels) else np.zeros(0, bool)
        stats.untrainable_relations += int((~r_ok).sum())
        rels = np.stack([remap[rels[r_ok, 0]], remap[rels[r_ok, 1]], rels[r_ok, 2]], 1).reshape(-1, 3)
        out.append(Prepared(i, ids, starts, ends, ents[ok], rels))
    return out, stats


def length_batches(lengths: list[int], batch_size: int, rng: np.random.Generator | None) -> list[list[int]]:
    """Batches of similar length (less padding). With ``rng``: shuffled pools of 50 batches, sorted
    inside each pool, batches shuffled; without: sorted by length (inference)."""
    order = np.argsort(lengths, kind="stable") if rng is None else rng.permutation(len(lengths))
    if rng is not None:
        pool = batch_size * 50
        order = np.concatenate([p[np.argsort(np.asarray(lengths)[p], kind="stable")]
                                for p in np.array_split(order, max(1, -(-len(order) // pool)))]) \
            if len(order) else order
    batches = [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


def _pad(arrays: list[np.ndarray], value=0) -> torch.Tensor:
    n = max((len(a) for a in arrays), default=0)
    shape = (len(arrays), max(n, 1)) + (arrays[0].shape[1:] if arrays else ())
    out = np.full(shape, value, dtype=arrays[0].dtype if arrays else np.int64)
    for i, a in enumerate(arrays):
        out[i, :len(a)] = a
    return torch.from_numpy(out)


# Host-side tensors that to_device leaves on the CPU: the RNNs (ddikg.iser_model.rnn) read lengths from the
# host (sorting for packing, or a copy queued without waiting), and reading them back from the GPU would
# wait for its whole queue (a sync in every training step).
HOST_KEYS = frozenset({"lengths", "span_lengths"})


def _index(masks: list[int]) -> torch.Tensor:
    """(row, position) of every real entry of a padded (B, max) layout, row-major: (N, 2) int64.
    Built here on the host so the model never calls nonzero() or boolean-mask indexing on the GPU
    (each of those waits for the device to learn the result's size)."""
    return torch.from_numpy(np.concatenate(
        [np.stack([np.full(m, b), np.arange(m)], 1) for b, m in enumerate(masks)] or [np.zeros((0, 2))]
    ).astype(np.int64).reshape(-1, 2))


def _spans(batch: dict[str, torch.Tensor], counts: list[int]) -> None:
    batch["span_index"] = _index(counts)  # (N, 2)
    batch["span_lengths"] = batch["lengths"][batch["span_index"][:, 0]]  # (N,) host: each span's sentence


def _base(items: list[Prepared], pad_id: int) -> dict[str, torch.Tensor]:
    ids = [p.input_ids for p in items]
    return {
        "lengths": torch.tensor([len(a) for a in ids], dtype=torch.int64),  # (B,) host
        "input_ids": _pad(ids, pad_id),
        "attention_mask": _pad([np.ones(len(a), np.int64) for a in ids]),
        "word_start": _pad([p.word_start for p in items]),
        "word_end": _pad([p.word_end for p in items]),
        "word_mask": _pad([np.ones(p.n_words, np.int64) for p in items]),
    }


def collate_train(items: list[Prepared], pad_id: int, k: int, n_rel_types: int, n_neg_ent: int,
                  n_neg_rel: int, rng: np.random.Generator | list[np.random.Generator]) -> dict[str, torch.Tensor]:
    """``rng``: one generator drawn from in turn, or one per item (``sampling.sample_rng``)."""
    batch = _base(items, pad_id)
    rngs = rng if isinstance(rng, list) else [rng] * len(items)
    samples = [sample_negatives(p.n_words, p.entities, p.relations, k, n_rel_types, n_neg_ent, n_neg_rel, r)
               for p, r in zip(items, rngs, strict=True)]
    batch["spans"] = _pad([s.spans for s in samples])
    batch["span_mask"] = _pad([np.ones(len(s.spans), np.int64) for s in samples])
    batch["entity_labels"] = _pad([s.entity_labels for s in samples])
    batch["pairs"] = _pad([s.pairs for s in samples])
    batch["pair_mask"] = _pad([np.ones(len(s.pairs), np.int64) for s in samples])
    batch["relation_labels"] = _pad([s.relation_labels for s in samples])
    _spans(batch, [len(s.spans) for s in samples])
    return batch


def collate_infer(items: list[Prepared], pad_id: int, k: int) -> dict[str, torch.Tensor]:
    batch = _base(items, pad_id)
    spans = [enumerate_spans(p.n_words, k) for p in items]
    batch["spans"] = _pad(spans)
    batch["span_mask"] = _pad([np.ones(len(s), np.int64) for s in spans])
    _spans(batch, [len(s) for s in spans])
    return batch


def host_to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``t`` on ``device``; from the host to CUDA through pinned memory, so the copy is queued behind
    the GPU's work instead of waiting for it."""
    if t.device == device:
        return t
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Every tensor but :data:`HOST_KEYS` to ``device``. From the host to CUDA the batch travels packed
    (:func:`move_packed`); otherwise each tensor moves on its own (:func:`host_to_device`)."""
    moving = {k: v for k, v in batch.items() if k not in HOST_KEYS and v.device != device}
    if device.type == "cuda" and all(v.device.type == "cpu" for v in moving.values()):
        return {**batch, **move_packed(moving, device, pin=True)}
    return {k: v if k in HOST_KEYS else host_to_device(v, device) for k, v in batch.items()}


def move_packed(tensors: dict[str, torch.Tensor], device: torch.device, pin: bool) -> dict[str, torch.Tensor]:
    """``tensors`` on ``device`` through one staging buffer per dtype: one copy per dtype (two for a
    training batch: int64 indexes, float32 labels) instead of a pinning and a copy per tensor (12 of
    them). A batch-2 step on a GPU is bound by the host issuing operators, so each saved call counts.
    The results are views of the moved buffer, each with its own shape. ``pin``: stage in pinned
    memory, so the copy is queued behind the GPU's work instead of waiting for it."""
    groups: dict[torch.dtype, list[str]] = {}
    for k, v in tensors.items():
        groups.setdefault(v.dtype, []).append(k)
    out = {}
    for dtype, keys in groups.items():
        sizes = [tensors[k].numel() for k in keys]
        staged = torch.empty(sum(sizes), dtype=dtype, pin_memory=pin)  # (total,) host
        torch.cat([tensors[k].reshape(-1) for k in keys], out=staged)
        moved = staged.to(device, non_blocking=pin)
        for k, part in zip(keys, moved.split(sizes), strict=True):
            out[k] = part.view(tensors[k].shape)
    return out
