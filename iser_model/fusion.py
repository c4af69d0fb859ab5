"""Interactive fusion (paper Eq. 3-5): cross attention between X_e and X_r both ways, then a BiLSTM."""

from __future__ import annotations

import torch
from torch import nn

from ddikg.iser_model.rnn import BiRNN


def cross_attention(query: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """softmax(query kvᵀ / √d) kv with padded keys masked.  query, kv: (B, n, d); mask: (B, n) -> (B, n, d)"""
    d = query.shape[-1]
    scores = query @ kv.transpose(1, 2) / d ** 0.5  # (B, n_q, n_k)
    scores = scores.masked_fill(~mask[:, None, :], torch.finfo(scores.dtype).min)
    return scores.softmax(-1) @ kv


class InteractiveFusion(nn.Module):
    def __init__(self, d: int, residual: bool = False, skip: bool = False):
        super().__init__()
        self.residual, self.skip = residual, skip
        self.lstm = BiRNN("lstm", 2 * d, d // 2)

    def forward(self, x_b: torch.Tensor, x_e: torch.Tensor, x_r: torch.Tensor, mask: torch.Tensor,
                lengths: torch.Tensor | None = None) -> torch.Tensor:
        # x_b, x_e, x_r: (B, n, d); mask: (B, n) bool; lengths: (B,) host, if known  ->  H: (B, n, d), zero at
        # padding unless skip adds x_b there (IserModel.encode masks H)
        xe_t = cross_attention(x_r, x_e, mask)  # Eq. 3: relation queries read the entity view
        xr_t = cross_attention(x_e, x_r, mask)  # Eq. 4
        if self.residual:  # IserConfig.fusion_residual (a documented deviation, docs/model.md)
            xe_t, xr_t = xe_t + x_e, xr_t + x_r
        lengths = mask.sum(1) if lengths is None else lengths
        h = self.lstm(torch.cat([xe_t, xr_t], -1), lengths, outputs=True)  # Eq. 5
        # IserConfig.fusion_skip (not in the paper): the heads start from the encoder's own states and the
        # fusion learns a correction, instead of every head reading a BiLSTM that starts random
        return h + x_b if self.skip else h
