"""The inference-only computations (SEA's ``infer``, span pruning) against the paths they replace."""

from __future__ import annotations

import pytest
import torch

from ddikg.contracts import SpanDocument
from ddikg.iser_model.batching import collate_infer, prepare
from ddikg.iser_model.inference import predict
from ddikg.iser_model.pruning import context_free_logits, keep_spans
from ddikg.iser_model.sea import SpanContext

from .helpers import DOCS, tiny_model

# sentences of different lengths, so that a batch pads and its spans' rows differ in length
MORE = DOCS + [SpanDocument(tokens=list("华法林@与阿司匹林、氯吡格雷或肝素合用时出血风险明显增加")),
               SpanDocument(tokens=list("钙剂@减少地高辛吸收")),
               SpanDocument(tokens=list("西咪替丁@抑制华法林代谢，合用须监测凝血酶原时间"))]


def _spans(lengths: list[int], k: int):
    b, i, j = [], [], []
    for bb, n in enumerate(lengths):
        for s in range(n):
            for e in range(s + 1, min(n, s + k) + 1):
                b += [bb]
                i += [s]
                j += [e]
    return torch.tensor(b), torch.tensor(i), torch.tensor(j)


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("chunk", [40, 100000])  # several chunks of spans, and one
@pytest.mark.parametrize("d,heads", [(16, 4), (64, 2)])  # h·(n+1) > d: attention rows; < d: projected values
def test_infer_equals_the_reference_path(attention, chunk, d, heads):
    """SEA's inference path (input projection folded into the attention, gates precomputed, both GRU
    cells stepped together over padded rows) gives the training path's c for every span."""
    torch.manual_seed(7)
    B, n = 3, 13
    sea = SpanContext(d, heads=heads, dropout=0.0, attention=attention, chunk=chunk).eval()
    with torch.no_grad():  # trained-looking weights: biases and the [mask] vector away from zero
        for p in sea.parameters():
            p.normal_(0, 0.2)
    lengths = torch.tensor([13, 9, 4])
    mask = torch.arange(n)[None] < lengths[:, None]
    h = torch.randn(B, n, d) * 2.0 * mask[..., None]
    b, i, j = _spans(lengths.tolist(), 5)
    with torch.no_grad():
        fast = sea.infer(h, mask, b, i, j, lengths[b])
        also = sea(h, mask, b, i, j)  # inference dispatches to infer, lengths read from the mask
        ref = sea.reference(h, mask, b, i, j, lengths[b])
    assert fast.shape == (len(b), d)
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(also, fast, atol=0, rtol=0)
    assert sea.infer(h, mask, b[:0], i[:0], j[:0]).shape == (0, d)


def test_infer_is_stable_with_a_dominant_key_inside_the_span():
    torch.manual_seed(3)
    d = 8
    sea = SpanContext(d, heads=1, dropout=0.0).eval()
    h = torch.randn(1, 6, d)
    h[0, 2] *= 30.0  # a key holding almost all attention: masking it must not cancel the sums
    mask = torch.ones(1, 6, dtype=torch.bool)
    b, i, j = torch.tensor([0, 0, 0]), torch.tensor([2, 1, 0]), torch.tensor([3, 4, 6])
    with torch.no_grad():
        torch.testing.assert_close(sea.infer(h, mask, b, i, j), sea.reference(h, mask, b, i, j),
                                   atol=1e-5, rtol=1e-5)


def _separating_head(model, seed: int = 0):
    """Entity classifier weights under which some spans are far from being entities and some are
    entities: what a trained head looks like to the pruning rule (a fresh one is near uniform)."""
    g = torch.Generator().manual_seed(seed)
    lin = model.entity_head.linear
    d, wd = model.encoder.d, model.cfg.width_embedding
    with torch.no_grad():
        lin.weight[:, :d + wd] = torch.randn(lin.weight[:, :d + wd].shape, generator=g) * 3.0
        lin.weight[:, d + wd:] = torch.randn(lin.weight[:, d + wd:].shape, generator=g) * 0.1
        lin.bias.zero_()
        lin.bias[0] = 6.0  # most spans lean to "no entity", as in text


def _run(model, tok, items, **kw):
    stats: dict = {}
    out = dict(predict(model, items, tok.pad_token_id, batch_size=2, device=torch.device("cpu"), stats=stats, **kw))
    return out, stats


def _same_predictions(a, b, tol: float):
    assert a.keys() == b.keys()
    for i in a:
        assert [e[:3] for e in a[i].entities] == [e[:3] for e in b[i].entities], i
        assert [r[:3] for r in a[i].relations] == [r[:3] for r in b[i].relations], i
        for x, y in zip(a[i].entities + a[i].relations, b[i].entities + b[i].relations, strict=True):
            assert abs(x[3] - y[3]) <= tol, (i, x, y)


def test_bound_pruning_and_the_fast_path_leave_predictions_unchanged():
    """Exact optimisations: SEA's fast path, and skipping the spans no context could make entities, give
    the entities, relations and scores of the reference path run for every span."""
    model, tok = tiny_model(max_span_width=4)
    model.eval()
    _separating_head(model)
    cfg = model.cfg
    items, _ = prepare(MORE, tok, cfg.max_length, cfg.max_span_width, cfg.entity_types, cfg.relation_types)
    model.span_context.fast_inference = False
    before, all_spans = _run(model, tok, items, span_pruning="off")
    model.span_context.fast_inference = True
    fast, _ = _run(model, tok, items, span_pruning="off")
    pruned, stats = _run(model, tok, items, span_pruning="bound")
    assert all_spans["sea_spans"] == all_spans["spans"] == stats["spans"]
    assert 0 < stats["sea_spans"] < 0.8 * stats["spans"]  # the rule skipped spans ...
    assert sum(len(p.entities) for p in before.values()) >= 3  # ... and there were entities to keep
    _same_predictions(before, fast, 1e-5)
    _same_predictions(before, pruned, 1e-5)


def test_a_span_the_bound_skips_is_no_entity_for_any_context():
    """For each skipped span, the context vector that favours each type most (c_i = ±1 along W_k - W_0)
    still leaves "no entity" ahead."""
    model, tok = tiny_model(max_span_width=4)
    model.eval()
    _separating_head(model, seed=1)
    cfg = model.cfg
    items, _ = prepare(MORE, tok, cfg.max_length, cfg.max_span_width, cfg.entity_types, cfg.relation_types)
    batch = collate_infer(items, tok.pad_token_id, cfg.max_span_width)
    mask = batch["span_mask"].bool()
    with torch.no_grad():
        enc = model.encode(batch)
        s, w, _ = model.span_features(enc, batch["spans"], mask, batch["span_index"][:0], batch["span_lengths"][:0])
        skipped = mask & ~keep_spans(model, enc, s, w, mask, "bound", 0.0)
        a, w_c = context_free_logits(model, s, w)
    assert skipped.any() and (mask & ~skipped).any()
    for k in range(1, w_c.shape[0]):
        worst = torch.sign(w_c[k] - w_c[0])  # (d,): the c in [-1, 1]^d that raises type k most
        logits = a + worst @ w_c.t()  # (B, S, 1 + E)
        assert (logits[skipped][:, 0] > logits[skipped][:, k]).all()


def test_margin_pruning_skips_more_as_the_margin_shrinks_and_never_yields_a_skipped_entity():
    model, tok = tiny_model(max_span_width=4)
    model.eval()
    _separating_head(model)
    cfg = model.cfg
    items, _ = prepare(MORE, tok, cfg.max_length, cfg.max_span_width, cfg.entity_types, cfg.relation_types)
    off, _ = _run(model, tok, items, span_pruning="off")
    kept = []
    for margin in (1e6, 1.0, 0.0):
        out, stats = _run(model, tok, items, span_pruning="margin", pruning_margin=margin)
        kept.append(stats["sea_spans"])
        for i, p in out.items():  # whatever is predicted is predicted by the full path too, same score
            full = {e[:3]: e[3] for e in off[i].entities}
            for e in p.entities:
                if e[:3] in full:
                    assert abs(full[e[:3]] - e[3]) <= 1e-5
        if margin == 1e6:  # a margin no span clears: SEA for every span, the full path's output
            _same_predictions(off, out, 1e-5)
    assert kept[0] > kept[1] > kept[2]
