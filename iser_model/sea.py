"""SEA, the semantic enhancement attention (paper Eq. 7-9), computed for all spans at once.

For a span [i, j) SEA reads H_mask (H with positions i..j-1 replaced by a learned [mask] vector m),
applies multi-head self-attention with a residual connection, then a BiGRU; the span's context c is
the BiGRU's final forward and backward states concatenated (width d).

Efficiency: Q/K/V of H (and of m) are projected once per sentence. Masking a span only changes the
span's own key columns (they all become K_m, V_m) and its own query rows (they all become Q_m). With
per-row maxima M and prefix and suffix sums over key positions of E = exp(QKᵀ/√d_h - M) and of E·V,
a span's attention for every query row is

    (prefix_i(E·V) + suffix_j(E·V) + w·exp(q·k_m/√d_h - M)·v_m) / (prefix_i(E) + suffix_j(E) + w·exp(…))

(sums of non-negative terms only: no cancellation when the attention peaks inside the span)

so no (spans × tokens × tokens × d) tensor exists: memory is O(B·h·n²·d_h) for the prefix sums plus
O(S·n·d) for the per-span sequences the BiGRU needs anyway; time O(B·n²·d + S·n·d).
The attention part and the BiGRU run in float32 (exp and the sums need the range;
cuDNN's bf16 RNN kernels are not available everywhere); the projections around them follow the caller's
autocast (bf16 on CUDA).
"""

from __future__ import annotations

import torch
from torch import nn

from ddikg.iser_model.rnn import BiRNN


class SpanContext(nn.Module):
    """SEA (``attention=True``) or the ISER_GRU variant (BiGRU over H_mask, no attention)."""

    def __init__(self, d: int, heads: int, dropout: float, attention: bool = True, chunk: int = 65536):
        super().__init__()
        if d % heads:
            raise ValueError(f"hidden size {d} is not divisible by sea_heads={heads}")
        self.d, self.heads, self.attention, self.chunk = d, heads, attention, chunk
        self.mask_vector = nn.Parameter(torch.randn(d) * 0.02)  # the learned [mask]
        if attention:
            self.qkv = nn.Linear(d, 3 * d)
            self.out = nn.Linear(d, d)
            self.drop = nn.Dropout(dropout)
        self.gru = BiRNN("gru", d, d // 2)

    def forward(self, h: torch.Tensor, mask: torch.Tensor, span_batch: torch.Tensor,
                start: torch.Tensor, end: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """h: (B, n, d); mask: (B, n) bool; span_batch/start/end: (N,) subword positions [start, end);
        lengths: (N,) host, the length of each span's sentence, if known (else read from ``mask``).

        Returns c: (N, d), one context vector per span.
        """
        with torch.autocast(h.device.type, enabled=False):  # the prefix-sum subtraction needs float32
            h = h.float()
            stats = self._prefix_stats(h, mask) if self.attention else None
        # a GPU holds 16x the CPU chunk (spans x positions) comfortably: fewer, larger kernels
        chunk = self.chunk * (16 if h.device.type == "cuda" else 1)
        step = max(1, chunk // max(1, h.shape[1]))
        parts = []
        for i in range(0, span_batch.shape[0], step):  # loop over chunks of spans (memory bound), not spans
            b = span_batch[i:i + step]
            with torch.autocast(h.device.type, enabled=False):
                x = self._sequences(h, mask, stats, b, start[i:i + step], end[i:i + step])
            parts.append(self._bigru(x, mask[b], None if lengths is None else lengths[i:i + step]))
        if not parts:
            return h.new_zeros(0, self.d)
        return torch.cat(parts, 0)

    # ------------------------------------------------------------------ once per sentence
    def _prefix_stats(self, h: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        B, n, d = h.shape
        hh, dh = self.heads, d // self.heads
        scale = dh ** -0.5
        q, k, v = self.qkv(h).view(B, n, 3, hh, dh).permute(2, 0, 3, 1, 4)  # each (B, h, n, dh)
        qm, km, vm = self.qkv(self.mask_vector).view(3, hh, dh)  # each (h, dh)
        key_ok = mask[:, None, None, :]  # (B, 1, 1, n)

        # v with a leading channel of ones: e·[1 ⊕ v] carries the weights E (channel 0) and E·V (the
        # rest) in one tensor, so one prefix and one suffix sum cover both
        v1 = nn.functional.pad(v, (1, 0), value=1.0)  # (B, h, n, 1+dh)
        s = (q @ k.transpose(-1, -2)) * scale  # (B, h, n, n) query rows x key columns
        s_qm = (q * km[None, :, None]).sum(-1) * scale  # (B, h, n): ordinary query vs masked key
        # the row maxima only keep exp in range: every span's attention is a ratio they cancel from, so
        # no gradient flows through them (detached: a dozen fewer backward kernels)
        row_max = torch.maximum(s.masked_fill(~key_ok, float("-inf")).amax(-1), s_qm).detach()  # (B, h, n)
        e = torch.exp(s - row_max[..., None]) * key_ok  # (B, h, n, n)
        # sums over the keys before i (pre[…, i]) and over the last m keys (suf_rev[…, m]; the keys from j
        # on are the last n-j), both (B, h, n, n+1, 1+dh): a span's complement is a sum of non-negative
        # terms. (total - span, the obvious form, cancels catastrophically when the attention peaks
        # inside the span: NaN in training.)
        pre = _prefix_table(e, v1[:, :, None])
        suf_rev = _prefix_table(e.flip(-1), v1.flip(-2)[:, :, None])
        e_qm = torch.exp(s_qm - row_max)  # (B, h, n)

        # the masked rows all share the query q_m
        s_m = (k * qm[None, :, None]).sum(-1) * scale  # (B, h, n): masked query vs ordinary keys
        s_mm = (qm * km).sum(-1) * scale  # (h,)
        m_max = torch.maximum(s_m.masked_fill(~mask[:, None], float("-inf")).amax(-1), s_mm[None]).detach()  # (B, h)
        e_m = torch.exp(s_m - m_max[..., None]) * mask[:, None]  # (B, h, n)
        pre_m, suf_m_rev = _prefix_table(e_m, v1), _prefix_table(e_m.flip(-1), v1.flip(-2))  # (B, h, n+1, 1+dh)
        e_mm = torch.exp(s_mm[None] - m_max)  # (B, h)
        return dict(pre=pre, suf_rev=suf_rev, e_qm=e_qm, vm=vm, pre_m=pre_m, suf_m_rev=suf_m_rev, e_mm=e_mm)

    # ------------------------------------------------------------------ per chunk of spans
    def _sequences(self, h, mask, st, b, i, j) -> torch.Tensor:
        """The SEA sequence H_mask + MHA(H_mask) of each span: (N, n, d) float32."""
        N = b.shape[0]
        n, d = h.shape[1], self.d
        pos = torch.arange(n, device=h.device)
        in_span = (pos[None] >= i[:, None]) & (pos[None] < j[:, None])  # (N, n)
        h_mask = torch.where(in_span[..., None], self.mask_vector.to(h.dtype), h.index_select(0, b))  # (N, n, d)
        x = h_mask
        if self.attention:
            hh = self.heads
            w = (j - i).to(h.dtype)  # (N,) masked keys, all equal to k_m
            # (N, h, n) prefix entries read by row number, without copying whole (n, n+1) planes: the
            # first row of sentence b's plane for (head, query), to which a key position is added
            plane = torch.arange(hh * n, device=h.device).view(hh, n) * (n + 1)  # (h, n)
            row = b[:, None, None] * (hh * n * (n + 1)) + plane  # (N, h, n)

            # keys before i and from j on, weights ⊕ weighted values: (N, h, n, 1+dh)
            out = _rows(st["pre"], row + i[:, None, None]) + _rows(st["suf_rev"], row + (n - j)[:, None, None])
            e_qm = st["e_qm"].index_select(0, b) * w[:, None, None]  # (N, h, n)
            num = out[..., 1:] + e_qm[..., None] * st["vm"][None, :, None]
            rows = _safe_div(num, out[..., 0] + e_qm)  # (N, h, n, dh) ordinary query rows

            row_m = b[:, None] * (hh * (n + 1)) + torch.arange(hh, device=h.device) * (n + 1)  # (N, h)
            out_m = _rows(st["pre_m"], row_m + i[:, None]) + _rows(st["suf_m_rev"], row_m + (n - j)[:, None])  # (N, h, 1+dh)
            e_mm = st["e_mm"].index_select(0, b) * w[:, None]  # (N, h)
            m_row = _safe_div(out_m[..., 1:] + e_mm[..., None] * st["vm"][None], out_m[..., 0] + e_mm)
            rows = torch.where(in_span[:, None, :, None], m_row[:, :, None, :], rows)  # masked query rows
            att = rows.transpose(1, 2).reshape(N, n, d)  # (N, n, d) heads concatenated
            x = h_mask + self.drop(self.out(att))  # residual
        return x

    def _bigru(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """Final forward and backward BiGRU states over each span's sequence.  x: (N, n, d) -> (N, d)"""
        return self.gru(x, mask.sum(1) if lengths is None else lengths, outputs=False)


def _prefix_table(w: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Σ_{k<i} w[…, k]·v[…, k, :] for every i = 0..n: (…, n+1, c), first entry 0.

    w: (…, n) weights, v: (…, n, c) values, broadcastable. The zero entry is padded onto w and v before
    the product, and the running sum is taken in place: one tensor of the table's size instead of the
    product, its cumsum and a padded copy (three, or five for a suffix taken by flipping)."""
    t = nn.functional.pad(w, (1, 0))[..., None] * nn.functional.pad(v, (0, 0, 1, 0))
    return t.cumsum_(-2)  # in place: the product's backward needs w and v, not t


def _rows(table: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
    """table viewed as rows of its last axis, read at flat row numbers: (..., c), (*R) -> (*R, c).

    One index_select, whose backward is one index_add; advanced indexing (table[b, h, q, i]) would
    backward through index_put with accumulation, which sorts the indexes on CUDA: several kernels and
    about 0.15 ms of host time per read at batch 2."""
    c = table.shape[-1]
    return table.reshape(-1, c).index_select(0, row.reshape(-1)).view(*row.shape, c)


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den[..., None], zero where every weight underflowed (den == 0) instead of NaN."""
    ok = den > 0
    return num / torch.where(ok, den, torch.ones_like(den))[..., None] * ok[..., None]
