"""Inference: which candidate spans SEA has to run for.

SEA is most of inference on a CPU (a BiGRU over the whole sentence for every span), but its context c only
enters the entity classifier, which is linear (Eq. 10-11):

    logit_k = a_k + W_k·c,   a_k = (W_s·s + W_w·w + b)_k   (k = 0 is "no entity")

``a`` costs two gathers per span. A span is skipped (labelled "no entity", its c never computed) when
"no entity" beats every type by more than what c could still add:

* ``"bound"`` (exact): c is a pair of GRU final states, each coordinate in [-1, 1] (h_t = (1-z)·tanh(…) +
  z·h_{t-1}, h_0 = 0), so W_k·c - W_0·c <= ||W_k - W_0||_1. A span with a_0 - a_k above that for
  every k is "no entity" whatever SEA returns: predictions are those of running SEA for every span.
* ``"margin"`` (approximate): the context of the unmasked sentence c_u (one SEA row per sentence) stands
  in for c, and a span is skipped when a_0 - a_k - (W_k - W_0)·c_u > ``margin``·||W_k - W_0||_1 for
  every k. The margin is relative to the classifier's weights on c, so it means the same for a model
  whose weights grew larger; (W_k - W_0)·(c - c_u) can reach 2·||W_k - W_0||_1, so any margin below 2
  can lose a span whose own context would have made it an entity. How often that happens is measured
  by ``ddikg bench speed --sections extract`` (docs/benchmarks.md, docs/model.md).
* ``"off"``: SEA for every span.

Relation scores read s and w, never c, so a kept entity's relations are unchanged by either rule.
"""

from __future__ import annotations

from typing import Literal

import torch

from ddikg.iser_model.model import Encoded, IserModel

SpanPruning = Literal["off", "bound", "margin"]

#: float32 rounding of the logits (sums of ~800 products): the exact rule keeps a span this close to its bound
_ROUNDING = 1e-4


def context_free_logits(model: IserModel, s: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """a = the entity logits with c = 0, and W_c, the classifier's weights on c.
    s: (B, S, d), w: (B, S, wd) -> a (B, S, 1 + E), W_c (1 + E, d)"""
    linear = model.entity_head.linear  # its input is s ⊕ w ⊕ c (EntityHead)
    sw = s.shape[-1] + w.shape[-1]
    a = torch.nn.functional.linear(torch.cat([s, w.to(s.dtype)], -1).float(), linear.weight[:, :sw].float(),
                                   linear.bias.float())
    return a, linear.weight[:, sw:].float()


def keep_spans(model: IserModel, enc: Encoded, s: torch.Tensor, w: torch.Tensor, span_mask: torch.Tensor,
               rule: SpanPruning, margin: float, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """The spans whose SEA context can change their label under ``rule``.  -> (B, S) bool

    ``lengths``: (B,) host, each sentence's subword count (for the unmasked context of ``"margin"``)."""
    if rule == "off" or model.span_context is None:
        return span_mask
    a, w_c = context_free_logits(model, s, w)
    gap = a[..., :1] - a[..., 1:]  # (B, S, E): how far "no entity" leads each type without context
    dw = w_c[1:] - w_c[:1]  # (E, d): what c adds to type k against "no entity"
    if rule == "bound":
        reach = dw.abs().sum(-1) * (1 + _ROUNDING) + _ROUNDING  # (E,): the most c can add (|c_i| <= 1)
        skip = (gap > reach).all(-1)
    elif rule == "margin":
        B = s.shape[0]
        rows = torch.arange(B, device=s.device)
        empty = torch.ones(B, dtype=torch.long, device=s.device)  # an empty span [1, 1): nothing masked
        c_u = model.span_context(enc.h, enc.mask, rows, empty, empty,
                                 None if lengths is None else lengths.cpu()).float()  # (B, d)
        skip = (gap - (c_u @ dw.t())[:, None] > margin * dw.abs().sum(-1)).all(-1)
    else:
        raise ValueError(f"unknown span pruning rule {rule!r} (off | bound | margin)")
    return span_mask & ~skip
