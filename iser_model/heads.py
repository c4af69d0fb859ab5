"""Classifiers (paper Eq. 10-14) and the relation local-context variants of Tables 5-6."""

from __future__ import annotations

import torch
from torch import nn

from ddikg.iser_model.spans import RangeMax


class EntityHead(nn.Module):
    """ỹ_e = softmax(W z_e + b), z_e = s ⊕ w ⊕ c (Eq. 10-11); logits over [none] + entity types."""

    def __init__(self, d: int, width_dim: int, n_types: int, dropout: float):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.linear = nn.Linear(2 * d + width_dim, n_types + 1)

    def forward(self, s: torch.Tensor, w: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # s, c: (B, S, d); w: (B, S, wd) -> (B, S, 1 + types)
        return self.linear(self.drop(torch.cat([s, w, c], -1)))


class RelationHead(nn.Module):
    """ỹ_r = σ(W z_r + b), z_r = (s1 ⊕ w_p) ⊕ c(s1, s2) ⊕ (s2 ⊕ w_q) (Eq. 12-14); one logit per type."""

    def __init__(self, d: int, width_dim: int, n_types: int, dropout: float):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.linear = nn.Linear(3 * d + 2 * width_dim, n_types)

    def forward(self, head: torch.Tensor, ctx: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
        # head, tail: (B, P, d + wd); ctx: (B, P, d) -> (B, P, types)
        return self.linear(self.drop(torch.cat([head, ctx, tail], -1)))


def between(spans_a: torch.Tensor, spans_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Word range strictly between two spans (empty when adjacent or overlapping).  (B, P, 2) each."""
    a_first = spans_a[..., 0] <= spans_b[..., 0]
    start = torch.where(a_first, spans_a[..., 1], spans_b[..., 1])
    end = torch.where(a_first, spans_b[..., 0], spans_a[..., 0])
    return start, end


class RelationContext(nn.Module):
    """c(s1, s2) by variant: lc (max-pool of H between the spans, the paper's choice), lc_att
    (self-attention over the words of H between the spans, averaged over them: "LC -> LC_att"),
    lc_bert (max-pool of the encoder output X_b between), cls (X_b[CLS]), gc_bert (max-pool of X_b over
    the sentence), gc (max-pool of H over the sentence). An empty context (adjacent or overlapping spans)
    is the zero vector in every local variant."""

    def __init__(self, d: int, mode: str):
        super().__init__()
        self.mode = mode
        if mode == "lc_att":
            self.qkv = nn.Linear(d, 3 * d)  # one head; the paper does not say more than "self-attention"

    def forward(self, ctx, head_spans: torch.Tensor, tail_spans: torch.Tensor) -> torch.Tensor:
        # head_spans, tail_spans: (B, P, 2) word ranges -> (B, P, d)
        P = head_spans.shape[1]
        if self.mode in ("lc", "lc_bert"):
            table: RangeMax = ctx.h_words_max if self.mode == "lc" else ctx.xb_words_max
            return table.query(*between(head_spans, tail_spans))
        if self.mode == "lc_att":
            return self._self_attention(ctx.h_words, *between(head_spans, tail_spans))
        if self.mode == "cls":
            return ctx.x_b[:, :1].expand(-1, P, -1)
        if self.mode == "gc_bert":
            return ctx.xb_global[:, None].expand(-1, P, -1)
        if self.mode == "gc":
            return ctx.h_global[:, None].expand(-1, P, -1)
        raise ValueError(f"unknown relation_context {self.mode!r}")

    def _self_attention(self, hw: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
        """mean over i in [start, end) of softmax_j(q_i k_jᵀ/√d, j in [start, end)) v_j, per pair.
        hw: (B, W, d) words of H; start, end: (B, P) -> (B, P, d), zero for an empty range."""
        W, d = hw.shape[1], hw.shape[2]
        q, k, v = self.qkv(hw).chunk(3, -1)  # (B, W, d) each, once per sentence
        scores = q @ k.transpose(1, 2) / d ** 0.5  # (B, W, W)
        pos = torch.arange(W, device=start.device)
        inside = (pos[None, None] >= start[..., None]) & (pos[None, None] < end[..., None])  # (B, P, W)
        # keys outside the pair's range masked per pair: (B, P, W query, W key); query rows outside it -> NaN -> 0
        att = scores[:, None].masked_fill(~inside[:, :, None, :], float("-inf")).softmax(-1).nan_to_num(0.0)
        weight = (att * inside[..., None]).sum(2) / inside.sum(-1, keepdim=True).clamp(min=1)  # (B, P, W)
        return weight.to(v.dtype) @ v  # (B, P, d)
