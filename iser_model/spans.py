"""Span partition and pooling: candidate spans over words, subword -> word mapping, max-pooling.

* :func:`enumerate_spans` lists every span of width 1..k words (start-major order).
* :func:`all_span_maxpool` max-pools every span at once by a running max over widths (one scan over
  each start's window of k words), never a dense (spans x tokens x d) mask.
* :class:`RangeMax` answers max-pool queries over arbitrary ranges (subwords -> words, the context
  between two spans) in O(1) each from a sparse table of O(n log n) maxima.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def enumerate_spans(n_words: int, k: int) -> np.ndarray:
    """All spans [start, end) of 1..k words in a sentence of ``n_words``: (S, 2) int64, start-major."""
    starts = np.arange(n_words)[:, None]
    ends = starts + np.arange(1, k + 1)[None, :]  # (W, k)
    keep = ends <= n_words
    return np.stack([np.broadcast_to(starts, ends.shape)[keep], ends[keep]], 1).astype(np.int64)


def select_max(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """torch.maximum of two tensors of one shape, with a cheaper backward when a gradient is needed.

    torch.maximum's backward splits the gradient of a tie in half: ten kernels per call (eq, div, where
    and a comparison with masked_fill for each input). Here the gradient goes to ``a`` where a >= b and
    to ``b`` elsewhere (a subgradient too): two kernels, and a bool mask is kept instead of ``a`` and
    ``b``. At batch 2 on a GPU the step is bound by how many kernels the host launches, and RangeMax
    calls this a few dozen times per step."""
    if torch.is_grad_enabled() and (a.requires_grad or b.requires_grad):
        return _SelectMax.apply(a, b)
    return torch.maximum(a, b)


class _SelectMax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a >= b)
        return torch.maximum(a, b)  # NaN propagates as torch.maximum's does

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (take_a,) = ctx.saved_tensors
        grad_a = grad * take_a
        return grad_a, grad - grad_a


def all_span_maxpool(hw: torch.Tensor, k: int) -> torch.Tensor:
    """out[b, s, w-1] = max(hw[b, s:s+w]) for widths w = 1..k.  hw: (B, W, d) -> (B, W, k, d).

    One running max (cummax) over each start's window of k words: a single scan over a (B, W, k, d)
    view instead of k-1 elementwise maxima, and one scatter in backward instead of ten kernels per
    width. Never a dense (spans x tokens x d) mask. Entries with s+w > W (past the sentence) hold
    -inf-padded maxima and must not be read.
    """
    B, W, d = hw.shape
    neg = torch.full((B, k - 1, d), torch.finfo(hw.dtype).min, dtype=hw.dtype, device=hw.device)
    windows = torch.cat([hw, neg], 1).unfold(1, k, 1)  # (B, W, d, k) view: [b, s, :, w] = hw[b, s + w]
    return windows.transpose(2, 3).contiguous().cummax(2).values  # (B, W, k, d)


def gather_spans(pool: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
    """Read spans from :func:`all_span_maxpool`.  pool: (B, W, k, d); spans: (B, S, 2) -> (B, S, d)"""
    B, W, k, d = pool.shape
    width = (spans[..., 1] - spans[..., 0]).clamp(1, k)
    idx = (spans[..., 0].clamp(0, W - 1) * k + width - 1)  # (B, S)
    return pool.reshape(B, W * k, d).gather(1, idx[..., None].expand(-1, -1, d))


class RangeMax:
    """Sparse table of maxima over positions: O(n log n d) to build, O(1) per range query.

    x: (B, n, d). ``query(start, end)`` with (B, Q) index tensors -> (B, Q, d); an empty range
    (end <= start) gives a zero vector. ``max_n``: build the levels for lengths up to ``max_n`` whatever
    n is (levels past n repeat the last), so that the operations do not depend on n and one compiled
    graph serves every length (torch.compile guards on the loop count otherwise: a recompile per
    power of two); default, the levels n itself needs.
    """

    def __init__(self, x: torch.Tensor, max_n: int | None = None):
        B, n, d = x.shape
        self.n = n
        fill = torch.finfo(x.dtype).min
        levels = [x]
        step = 1
        while 2 * step <= (n if max_n is None else max_n):
            prev = levels[-1]
            # prev shifted left by step, fill past the end: (B, n, d) even where step > n
            shifted = nn.functional.pad(prev, (0, 0, 0, step), value=fill)[:, step:step + n]
            levels.append(select_max(prev, shifted))
            step *= 2
        self.table = torch.stack(levels)  # (L, B, n, d)

    def query(self, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
        L, B, n, d = self.table.shape
        length = end - start
        empty = length <= 0
        level = torch.floor(torch.log2(length.clamp(min=1).double())).long().clamp(max=L - 1)  # (B, Q)
        a = start.clamp(0, n - 1)
        b = (end - (1 << level)).clamp(0, n - 1)
        # rows of the table viewed as (L·B·n, d): index_select, whose backward (index_add) needs no sort
        # of the indexes as advanced indexing's (index_put) does on CUDA
        row = (level * B + torch.arange(B, device=start.device)[:, None]) * n  # (B, Q)
        rows = self.table.view(L * B * n, d)
        out = select_max(rows.index_select(0, (row + a).flatten()), rows.index_select(0, (row + b).flatten()))
        return out.view(*start.shape, d).masked_fill(empty[..., None], 0.0)  # (B, Q, d)


def word_pool(x: torch.Tensor, word_start: torch.Tensor, word_end: torch.Tensor, max_n: int | None = None
              ) -> torch.Tensor:
    """Max-pool subword vectors into word vectors.  x: (B, n, d); word_*: (B, W) subword idx -> (B, W, d)"""
    return RangeMax(x, max_n).query(word_start, word_end)
