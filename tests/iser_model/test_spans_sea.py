"""Span enumeration, pooling and the fast SEA against slow loop-based reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ddikg.iser_model.sea import SpanContext
from ddikg.iser_model.spans import (
    RangeMax,
    all_span_maxpool,
    enumerate_spans,
    gather_spans,
    select_max,
    word_pool,
)


def test_enumerate_spans_matches_loops():
    for n, k in [(1, 3), (5, 2), (7, 10), (12, 4)]:
        ref = [(s, s + w) for s in range(n) for w in range(1, k + 1) if s + w <= n]
        assert enumerate_spans(n, k).tolist() == [list(x) for x in ref]


def test_all_span_maxpool_and_gather_match_loops():
    torch.manual_seed(0)
    hw = torch.randn(2, 9, 5)
    k = 4
    pool = all_span_maxpool(hw, k)
    assert pool.shape == (2, 9, 4, 5)
    spans = torch.tensor([[[0, 1], [2, 6], [5, 9], [8, 9]], [[1, 3], [0, 4], [6, 8], [3, 4]]])
    got = gather_spans(pool, spans)
    for b in range(2):
        for j, (s, e) in enumerate(spans[b].tolist()):
            assert torch.equal(got[b, j], hw[b, s:e].amax(0))


def test_select_max_gradient_is_torch_maximums_without_ties_and_conserved_with_them():
    torch.manual_seed(2)
    a, b = torch.randn(3, 7, requires_grad=True), torch.randn(3, 7, requires_grad=True)
    g = torch.randn(3, 7)
    mine = torch.autograd.grad(select_max(a, b), (a, b), g)
    ref = torch.autograd.grad(torch.maximum(a, b), (a, b), g)
    assert torch.equal(select_max(a, b), torch.maximum(a, b))
    assert all(torch.equal(x, y) for x, y in zip(mine, ref, strict=True))
    tie = torch.autograd.grad(select_max(a, a.detach().clone().requires_grad_()), (a,), g)[0]
    assert torch.equal(tie, g)  # the whole gradient to the first input (torch.maximum: half to each)


def test_all_span_maxpool_gradient_matches_a_chain_of_maxima():
    torch.manual_seed(3)
    hw = torch.randn(2, 9, 5, requires_grad=True)
    k, g = 4, torch.randn(2, 9, 4, 5)
    pool = all_span_maxpool(hw, k)
    ref, cur = [hw], hw
    padded = torch.cat([hw, torch.full((2, k, 5), torch.finfo(hw.dtype).min)], 1)
    for w in range(1, k):
        cur = torch.maximum(cur, padded[:, w:w + 9])
        ref.append(cur)
    ref = torch.stack(ref, 2)
    valid = (torch.arange(9)[:, None] + torch.arange(1, k + 1)[None] <= 9)[None, :, :, None]  # spans inside
    assert torch.equal(pool[valid.expand_as(pool)], ref[valid.expand_as(ref)])
    mine = torch.autograd.grad(pool, hw, g * valid)[0]
    torch.testing.assert_close(mine, torch.autograd.grad(ref, hw, g * valid)[0])


@pytest.mark.parametrize("max_n", [None, 13, 64])  # the levels 13 needs, or more (the compiled form)
def test_range_max_matches_loops_and_empty_is_zero(max_n):
    torch.manual_seed(1)
    x = torch.randn(2, 13, 3)
    table = RangeMax(x, max_n)
    assert table.table.shape[0] == (13 if max_n is None else max_n).bit_length()
    rng = np.random.default_rng(0)
    starts = torch.tensor(rng.integers(0, 13, (2, 40)))
    ends = torch.tensor(rng.integers(0, 14, (2, 40)))
    got = table.query(starts, ends)
    for b in range(2):
        for q in range(40):
            s, e = int(starts[b, q]), int(ends[b, q])
            want = x[b, s:e].amax(0) if e > s else torch.zeros(3)
            assert torch.equal(got[b, q], want), (s, e)


def test_word_pool_respects_subword_ranges():
    x = torch.arange(2 * 6 * 2, dtype=torch.float).view(2, 6, 2)
    ws = torch.tensor([[1, 2, 4], [1, 3, 0]])
    we = torch.tensor([[2, 4, 5], [3, 5, 0]])  # second sentence: 2 words, then padding
    got = word_pool(x, ws, we)
    assert torch.equal(got[0, 1], x[0, 2:4].amax(0))
    assert torch.equal(got[1, 0], x[1, 1:3].amax(0))
    assert torch.equal(got[1, 2], torch.zeros(2))  # a padded word is a zero vector


def reference_sea(sea: SpanContext, h, mask, b, i, j, scale: str = "d"):
    """Loop per span: build H_mask, full multi-head self-attention (Eq. 8: softmax(QKᵀ/√d)V, or √d_head
    with ``scale="d_head"``; heads concatenated, then W_O if the module has one) + residual, BiGRU final
    states (Eq. 9)."""
    out = []
    d, heads = sea.d, sea.heads
    dh = d // heads
    temperature = (d if scale == "d" else dh) ** 0.5
    for bb, ii, jj in zip(b.tolist(), i.tolist(), j.tolist(), strict=True):
        n = int(mask[bb].sum())
        hm = h[bb, :n].clone()
        hm[ii:jj] = sea.mask_vector
        x = hm
        if sea.attention:
            q, k, v = sea.qkv(hm).view(n, 3, heads, dh).permute(1, 2, 0, 3)  # (heads, n, dh)
            att = torch.softmax(q @ k.transpose(-1, -2) / temperature, -1) @ v
            att = att.transpose(0, 1).reshape(n, d)
            x = hm + (att if sea.out is None else sea.out(att))
        _, fwd = sea.gru.fwd(x[None])  # final states of each direction over the unpadded row
        _, bwd = sea.gru.bwd(x.flip(0)[None])
        out.append(torch.cat([fwd[0, 0], bwd[0, 0]]))
    return torch.stack(out)


@pytest.mark.parametrize("attention,scale,out_proj", [(True, "d", False), (False, "d", False),
                                                     (True, "d_head", True), (True, "d_head", False)])
def test_fast_sea_matches_reference(attention, scale, out_proj):
    """The fast path computes Eq. 7-9 as written (√d, no W_O) and each switch (IserConfig.sea_scale,
    sea_out_proj) as its reference says; a wrong temperature or a W_O left in fails against the loop."""
    torch.manual_seed(2)
    B, n, d = 3, 11, 8
    sea = SpanContext(d, heads=2, dropout=0.0, attention=attention, chunk=40, scale=scale, out_proj=out_proj).eval()
    assert (getattr(sea, "out", None) is not None) == (attention and out_proj)
    h = torch.randn(B, n, d) * 2.0
    lengths = torch.tensor([11, 7, 4])
    mask = torch.arange(n)[None] < lengths[:, None]
    h = h * mask[..., None]
    b, i, j = [], [], []
    for bb, L in enumerate(lengths.tolist()):
        for s in range(L):
            for e in range(s + 1, min(L, s + 4) + 1):
                b.append(bb)
                i.append(s)
                j.append(e)
    b, i, j = torch.tensor(b), torch.tensor(i), torch.tensor(j)
    with torch.no_grad():
        fast = sea(h, mask, b, i, j)
        ref = reference_sea(sea, h, mask, b, i, j, scale)
        other = reference_sea(sea, h, mask, b, i, j, "d_head" if scale == "d" else "d")
    assert fast.shape == (len(b), d)
    torch.testing.assert_close(fast, ref, atol=2e-5, rtol=1e-4)
    if attention:  # the reference with the other temperature is not what the module computes
        assert not torch.allclose(fast, other, atol=1e-3)


def test_fast_sea_is_stable_with_a_dominant_key_inside_the_span():
    """Masking the key that holds almost all attention mass must not lose precision."""
    torch.manual_seed(3)
    d = 8
    sea = SpanContext(d, heads=1, dropout=0.0, chunk=1000).eval()
    h = torch.randn(1, 6, d)
    h[0, 2] *= 30.0  # a huge key: the prefix sums are dominated by it
    mask = torch.ones(1, 6, dtype=torch.bool)
    b, i, j = torch.tensor([0, 0]), torch.tensor([2, 1]), torch.tensor([3, 4])
    with torch.no_grad():
        torch.testing.assert_close(sea(h, mask, b, i, j), reference_sea(sea, h, mask, b, i, j), atol=1e-4, rtol=1e-3)


def test_fast_sea_never_returns_nan_when_the_complement_underflows():
    """A key so dominant that every other weight underflows to 0 in float32 gives finite output."""
    torch.manual_seed(4)
    d = 8
    sea = SpanContext(d, heads=1, dropout=0.0, chunk=1000).eval()
    h = torch.randn(1, 6, d)
    h[0, 2] *= 2000.0
    mask = torch.ones(1, 6, dtype=torch.bool)
    b, i, j = torch.tensor([0, 0, 0]), torch.tensor([2, 1, 0]), torch.tensor([3, 4, 1])
    with torch.no_grad():
        out = sea(h, mask, b, i, j)
    assert torch.isfinite(out).all()


def test_suppress_overlaps_matches_a_loop():
    """An entity survives iff no overlapping entity has a higher score (ties: the earlier span wins)."""
    from ddikg.iser_model.inference import suppress_overlaps

    rng = np.random.default_rng(5)
    spans = torch.from_numpy(enumerate_spans(9, 4))[None]  # (1, S, 2)
    S = spans.shape[1]
    is_ent = torch.from_numpy(rng.random((1, S)) < 0.4)
    score = torch.from_numpy(rng.choice([0.5, 0.6, 0.7, 0.9], size=(1, S))).float()  # ties on purpose
    got = suppress_overlaps(spans, is_ent, score)[0].tolist()
    for i in range(S):
        a, b = spans[0, i].tolist()
        beaten = any(is_ent[0, j] and spans[0, j, 0] < b and a < spans[0, j, 1]
                     and (score[0, j] > score[0, i] or (score[0, j] == score[0, i] and j < i))
                     for j in range(S) if j != i)
        assert got[i] == (bool(is_ent[0, i]) and not beaten), i


@pytest.mark.parametrize("path", ["padded", "packed"])  # training's path and uneven inference's path
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_birnn_matches_a_bidirectional_rnn_on_each_row_alone(cell, path):
    """BiRNN over padded rows gives every row what torch's bidirectional RNN (with the same weights,
    loaded through the old checkpoint keys) gives that row unpadded, and zeros past its length."""
    from ddikg.iser_model.rnn import BiRNN

    torch.manual_seed(0)
    ref = (torch.nn.GRU if cell == "gru" else torch.nn.LSTM)(6, 4, batch_first=True, bidirectional=True)
    rnn = BiRNN(cell, 6, 4)
    rnn.load_state_dict(ref.state_dict())  # weight_ih_l0 -> fwd, weight_ih_l0_reverse -> bwd
    lengths = torch.tensor([3, 7, 1, 7, 5])
    x = torch.randn(5, 7, 6)
    x[0, 3:] = 1e6  # padding must not leak into any real position
    run = getattr(rnn, path)
    out = run(x, lengths, outputs=True)
    last = run(x, lengths, outputs=False)
    with torch.set_grad_enabled(path == "padded"):  # forward(): these rows pack for inference only
        torch.testing.assert_close(rnn(x, lengths, outputs=True), out, rtol=0, atol=0)
    for i, n in enumerate(lengths.tolist()):
        want, h = ref(x[i:i + 1, :n])
        h = h[0] if cell == "lstm" else h
        torch.testing.assert_close(out[i, :n], want[0])
        assert out[i, n:].abs().max() == 0 if n < 7 else True
        torch.testing.assert_close(last[i], torch.cat([h[0, 0], h[1, 0]]))


def test_birnn_packs_only_inference_over_rows_of_different_lengths(monkeypatch):
    """Packing pays where padding is waste (inference over sentences of different lengths, whose spans are
    SEA's rows); training, and rows all of one length (one sentence's spans), stay padded: packing's
    per-time-step copies are launches of a launch-bound step."""
    from ddikg.iser_model.rnn import BiRNN

    rnn = BiRNN("gru", 6, 4)
    used = []
    for name in ("padded", "packed"):
        real = getattr(rnn, name)
        monkeypatch.setattr(rnn, name, lambda *a, _n=name, _f=real, **kw: used.append(_n) or _f(*a, **kw))
    x, uneven, even = torch.randn(3, 5, 6), torch.tensor([5, 2, 4]), torch.tensor([5, 5, 5])
    with torch.no_grad():
        rnn(x, uneven, outputs=False)
        rnn(x, even, outputs=False)
    rnn(x, uneven, outputs=False)
    assert used == ["packed", "padded", "padded"]
