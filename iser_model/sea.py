"""SEA, the semantic enhancement attention (paper Eq. 7-9), computed for all spans at once.

For a span [i, j) SEA reads H_mask (H with positions i..j-1 replaced by a learned [mask] vector m),
applies multi-head self-attention (scale 1/√d as Eq. 8, heads concatenated; IserConfig.sea_scale and
sea_out_proj switch to 1/√d_head and an output projection W_O) with a residual connection, then a BiGRU; the
span's context c is
the BiGRU's final forward and backward states concatenated (width d).

Efficiency: Q/K/V of H (and of m) are projected once per sentence. Masking a span only changes the
span's own key columns (they all become K_m, V_m) and its own query rows (they all become Q_m). With
per-row maxima M and prefix and suffix sums over key positions of E = exp(QKᵀ·scale - M) and of E·V,
a span's attention for every query row is

    (prefix_i(E·V) + suffix_j(E·V) + w·exp(q·k_m·scale - M)·v_m) / (prefix_i(E) + suffix_j(E) + w·exp(…))

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

    def __init__(self, d: int, heads: int, dropout: float, attention: bool = True, chunk: int = 65536,
                 scale: str = "d", out_proj: bool = False):
        super().__init__()
        if d % heads:
            raise ValueError(f"hidden size {d} is not divisible by sea_heads={heads}")
        self.d, self.heads, self.attention, self.chunk = d, heads, attention, chunk
        # Eq. 8 divides by √d; IserConfig.sea_scale="d_head" uses each head's √(d/heads), as Vaswani et al.
        self.scale = (d if scale == "d" else d // heads) ** -0.5
        self.mask_vector = nn.Parameter(torch.randn(d) * 0.02)  # the learned [mask]
        if attention:
            self.qkv = nn.Linear(d, 3 * d)  # W_Q, W_K, W_V of Eq. 7
            # IserConfig.sea_out_proj: W_O after the heads (not among Eq. 7's weights)
            self.out = nn.Linear(d, d) if out_proj else None
            self.drop = nn.Dropout(dropout)
        self.gru = BiRNN("gru", d, d // 2)
        self.fast_inference = True  # False: inference runs :meth:`reference` too (the before of benchmarks)

    def forward(self, h: torch.Tensor, mask: torch.Tensor, span_batch: torch.Tensor,
                start: torch.Tensor, end: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """h: (B, n, d); mask: (B, n) bool; span_batch/start/end: (N,) subword positions [start, end);
        lengths: (N,) host, the length of each span's sentence, if known (else read from ``mask``).

        Returns c: (N, d), one context vector per span. Without autograd (inference) on the CPU this is
        :meth:`infer`, the same function computed with fewer operations; else :meth:`reference`.
        """
        if not torch.is_grad_enabled() and h.device.type == "cpu" and self.fast_inference:
            return self.infer(h, mask, span_batch, start, end, lengths)
        return self.reference(h, mask, span_batch, start, end, lengths)

    def reference(self, h: torch.Tensor, mask: torch.Tensor, span_batch: torch.Tensor, start: torch.Tensor,
                  end: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`forward` as training runs it (autograd, any device): H_mask + MHA(H_mask) per span, then
        the BiGRU modules. Also the reference :meth:`infer` is tested against."""
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
        scale = self.scale
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
            x = h_mask + self.drop(att if self.out is None else self.out(att))  # residual
        return x

    def _bigru(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """Final forward and backward BiGRU states over each span's sequence.  x: (N, n, d) -> (N, d)"""
        return self.gru(x, mask.sum(1) if lengths is None else lengths, outputs=False)


    # ------------------------------------------------------------------ inference (no autograd)
    @torch.no_grad()
    def infer(self, h: torch.Tensor, mask: torch.Tensor, span_batch: torch.Tensor, start: torch.Tensor,
              end: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`reference` re-associated for inference; equal up to float32 rounding.

        * The BiGRU's input projection is linear, so it distributes over SEA's sequence
          x = H_mask + A·W_oᵀ + b_o (A: the attention rows): x·W_ihᵀ = H_mask·W_ihᵀ + A·(W_ih·W_o)ᵀ + b_o·W_ihᵀ.
          H·W_ihᵀ and m·W_ihᵀ are computed once per sentence and read per span; per span and position
          one (d x 6H) product remains (was: d x d for W_o, then d x 6H inside the GRU, for both cells),
          and none for the ISER_GRU variant.
        * The masked attention is computed per span from its sentence's exponentiated scores (see
          :meth:`_infer_attention`) instead of prefix tables. When h·(n+1) < d the attention weights
          (h·(n+1) per row: n keys and k_m per head) multiply values already projected by W_ih·W_o
          (:meth:`_add_projected_attention`): h·(n+1) instead of d products per gate. Like the reference,
          the weights are relative to each query's maximum over all keys: where every key left outside the
          span scores ~87 nats below a key inside it, the weights are subnormal and both paths keep only a
          few digits (the tests hold them within 1e-5 for realistic scores).
        * The recurrence of both directions runs as one batched product per time step over the
          precomputed input gates, over all spans of a chunk; a row past its length keeps its state
          (the forward cell's final state is the one at its last real position; the backward cell starts
          at its last real position), so no packing is needed.
        """
        if span_batch.shape[0] == 0:
            return h.new_zeros(0, self.d, dtype=torch.float32)
        with torch.autocast(h.device.type, enabled=False):
            h = h.float()
            B, n, d = h.shape
            cells = (self.gru.fwd, self.gru.bwd)
            w_ih = torch.cat([c.weight_ih_l0 for c in cells]).float()  # (6H, d): both cells' input gates
            b_ih = torch.cat([c.bias_ih_l0 for c in cells]).float()  # (6H,)
            if self.attention:
                # (6H, d) = W_ih·W_o, or W_ih itself without W_O (IserConfig.sea_out_proj off: Eq. 7-9)
                fold = w_ih if self.out is None else w_ih @ self.out.weight.float()
                if self.out is not None:
                    b_ih = b_ih + w_ih @ self.out.bias.float()
                stats = self._infer_stats(h, mask)
            g_h = torch.addmm(b_ih, h.reshape(B * n, d), w_ih.t()).view(B, n, -1)  # (B, n, 6H) H·W_ihᵀ + bias
            g_m = torch.addmm(b_ih, self.mask_vector.float()[None], w_ih.t())[0]  # (6H,) the [mask] vector's
            length = (mask.sum(1).index_select(0, span_batch) if lengths is None
                      else lengths.to(h.device)).clamp(min=1)  # (N,)
            # the input gates (N, n, 6H) are 3x wider than the reference's sequences: a third of its rows
            step = max(1, self.chunk // (3 * n))
            pos = torch.arange(n, device=h.device)
            parts = []
            for c0 in range(0, span_batch.shape[0], step):  # chunks of spans (memory bound), not spans
                b, i, j = span_batch[c0:c0 + step], start[c0:c0 + step], end[c0:c0 + step]
                in_span = (pos[None] >= i[:, None]) & (pos[None] < j[:, None])  # (N, n)
                gates = torch.where(in_span[..., None], g_m, g_h.index_select(0, b))  # (N, n, 6H)
                if self.attention and self.heads * (n + 1) < d:  # short sentences: fewer products per row
                    self._add_projected_attention(gates, stats, fold, n, b, i, j, in_span)
                elif self.attention:
                    att = self._infer_attention(stats, n, b, i, j, in_span)  # (N, n, d)
                    gates.view(-1, gates.shape[-1]).addmm_(att.view(-1, d), fold.t())
                parts.append(self._recur(gates, length[c0:c0 + step]))
            if not parts:
                return h.new_zeros(0, self.d)
            return torch.cat(parts, 0)

    def _infer_stats(self, h: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per sentence: the exponentiated scores of every (query, key) pair, of the queries against the
        masked key k_m and of the masked query q_m against every key, with :meth:`_prefix_stats`'s row
        maxima; and V."""
        B, n, d = h.shape
        hh, dh = self.heads, d // self.heads
        scale = self.scale  # Eq. 8: 1/√d (IserConfig.sea_scale)
        q, k, v = self.qkv(h).view(B, n, 3, hh, dh).permute(2, 0, 3, 1, 4)  # each (B, h, n, dh)
        qm, km, vm = self.qkv(self.mask_vector).view(3, hh, dh)  # each (h, dh)
        key_ok = mask[:, None, None, :]  # (B, 1, 1, n)
        s = (q @ k.transpose(-1, -2)) * scale  # (B, h, n_q, n_k)
        s_qm = (q * km[None, :, None]).sum(-1) * scale  # (B, h, n_q)
        row_max = torch.maximum(s.masked_fill(~key_ok, float("-inf")).amax(-1), s_qm)  # (B, h, n_q)
        s_m = (k * qm[None, :, None]).sum(-1) * scale  # (B, h, n_k): the masked query
        s_mm = (qm * km).sum(-1) * scale  # (h,)
        m_max = torch.maximum(s_m.masked_fill(~mask[:, None], float("-inf")).amax(-1), s_mm[None])  # (B, h)
        return dict(e=torch.exp(s - row_max[..., None]) * key_ok, e_qm=torch.exp(s_qm - row_max),
                    e_m=torch.exp(s_m - m_max[..., None]) * mask[:, None], e_mm=torch.exp(s_mm[None] - m_max),
                    v=v.contiguous(), vm=vm)

    def _infer_attention(self, st: dict[str, torch.Tensor], n: int, b: torch.Tensor, i: torch.Tensor,
                         j: torch.Tensor, in_span: torch.Tensor) -> torch.Tensor:
        """MHA(H_mask) of each span, heads concatenated: (N, n, d), the attention of :meth:`_sequences`
        without its prefix tables: a span's weights are its sentence's with the span's keys zeroed, plus
        the w masked keys k_m. On a CPU the (N, h, n, n) product is cheap next to the BiGRU, and the
        tables (B·h·n²·d_h, a memory-bound cumulative sum) would cost more once pruning leaves few spans."""
        N = b.shape[0]
        w = (j - i).to(st["e"].dtype)  # (N,) masked keys, all equal to k_m
        out_of_span = (~in_span).to(st["e"].dtype)  # (N, n) keys kept
        v = st["v"].index_select(0, b)  # (N, h, n, dh)
        e = st["e"].index_select(0, b) * out_of_span[:, None, None, :]  # (N, h, n_q, n_k)
        e_qm = st["e_qm"].index_select(0, b) * w[:, None, None]  # (N, h, n_q)
        rows = _safe_div(e @ v + e_qm[..., None] * st["vm"][None, :, None], e.sum(-1) + e_qm)  # (N, h, n, dh)
        e_m = st["e_m"].index_select(0, b) * out_of_span[:, None, :]  # (N, h, n_k)
        e_mm = st["e_mm"].index_select(0, b) * w[:, None]  # (N, h)
        m_row = _safe_div((e_m[:, :, None] @ v)[:, :, 0] + e_mm[..., None] * st["vm"][None], e_m.sum(-1) + e_mm)
        rows = torch.where(in_span[:, None, :, None], m_row[:, :, None], rows)  # masked query rows
        return rows.transpose(1, 2).reshape(N, n, self.d)

    def _add_projected_attention(self, gates: torch.Tensor, st: dict[str, torch.Tensor], fold: torch.Tensor, n: int,
                                 b: torch.Tensor, i: torch.Tensor, j: torch.Tensor, in_span: torch.Tensor) -> None:
        """gates += MHA(H_mask)·(W_ih·W_o)ᵀ, in place, as attention weights times projected values.

        Per sentence the values of every key and of k_m are projected once, per head by the head's
        columns of W_ih·W_o: P (h·(n+1), 6H). A span's row is then its normalised weights over the n keys
        (zero in the span) and its w keys k_m, (h·(n+1)), times P.  gates: (N, n, 6H)"""
        N, hh = b.shape[0], self.heads
        dh = self.d // hh
        dt = st["e"].dtype
        w = (j - i).to(dt)  # (N,)
        out_of_span = (~in_span).to(dt)  # (N, n)
        weights = gates.new_empty(N, n, hh, n + 1)  # (span, query, head, key ⊕ k_m)
        e = st["e"].index_select(0, b) * out_of_span[:, None, None, :]  # (N, h, n_q, n_k)
        e_qm = st["e_qm"].index_select(0, b) * w[:, None, None]  # (N, h, n_q)
        # divided, not multiplied by 1/den: a subnormal den has no finite inverse. den == 0 only when every
        # weight underflowed to 0: 0/1, zero weights (as _safe_div)
        den = (e.sum(-1) + e_qm).clamp(min=torch.finfo(dt).tiny)[..., None]  # (N, h, n_q, 1)
        weights[..., :n] = (e / den).transpose(1, 2)
        weights[..., n] = (e_qm[..., None] / den)[..., 0].transpose(1, 2)
        e_m = st["e_m"].index_select(0, b) * out_of_span[:, None, :]  # (N, h, n_k): the masked query
        e_mm = st["e_mm"].index_select(0, b) * w[:, None]  # (N, h)
        den_m = (e_m.sum(-1) + e_mm).clamp(min=torch.finfo(dt).tiny)[..., None]  # (N, h, 1)
        m_weights = torch.cat([e_m / den_m, e_mm[..., None] / den_m], -1)  # (N, h, n+1)
        weights = torch.where(in_span[:, :, None, None], m_weights[:, None], weights)  # masked query rows
        # projected values per sentence: (B, h, n+1, 6H), key values then k_m's value, per head
        v = torch.cat([st["v"], st["vm"][None, :, None].expand(st["v"].shape[0], -1, -1, -1)], 2)
        proj = torch.einsum("bhtk,ohk->bhto", v, fold.view(-1, hh, dh))  # (B, h, n+1, 6H)
        flat = gates.view(N * n, -1)
        weights = weights.view(N * n, hh * (n + 1))
        bounds = torch.cat([torch.tensor([0]), torch.nonzero(b[1:] != b[:-1]).flatten().cpu() + 1,
                            torch.tensor([N])]).tolist()  # the chunk's spans run sentence by sentence
        for r0, r1 in zip(bounds[:-1], bounds[1:], strict=True):
            flat[r0 * n:r1 * n].addmm_(weights[r0 * n:r1 * n], proj[int(b[r0])].reshape(hh * (n + 1), -1))

    def _recur(self, gates: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        """Final states of both GRU cells over precomputed input gates.  gates: (N, n, 6H) forward cell's
        (r, z, n) gates ⊕ backward cell's; length: (N,) -> (N, 2H), as nn.GRU computes them."""
        N, n, _ = gates.shape
        cells = (self.gru.fwd, self.gru.bwd)
        w_hh = torch.stack([c.weight_hh_l0.t() for c in cells]).float()  # (2, H, 3H)
        b_hh = torch.stack([c.bias_hh_l0 for c in cells]).float()[:, None]  # (2, 1, 3H)
        H = w_hh.shape[1]
        state = gates.new_zeros(2, N, H)  # forward cell's ⊕ backward cell's
        for t in range(n):
            # the forward cell reads position t, the backward cell position n-1-t (from each row's end:
            # positions at or past a row's length leave its state as it is, still zero for the backward cell)
            gi = torch.stack([gates[:, t, :3 * H], gates[:, n - 1 - t, 3 * H:]])  # (2, N, 3H)
            gh = torch.baddbmm(b_hh, state, w_hh)  # (2, N, 3H)
            rz = torch.sigmoid(gi[..., :2 * H] + gh[..., :2 * H])
            cand = torch.tanh(gi[..., 2 * H:] + rz[..., :H] * gh[..., 2 * H:])
            new = cand + rz[..., H:] * (state - cand)  # (1 - z)·n + z·h, as torch's GRU cell
            live = torch.stack([length > t, length > n - 1 - t])[..., None]  # (2, N, 1)
            state = torch.where(live, new, state)
        return torch.cat([state[0], state[1]], -1)


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
