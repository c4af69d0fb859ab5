"""Shapes, masking, gradient flow and ablation switches of the ISER model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ddikg.iser_model.fusion import InteractiveFusion

from .helpers import DOCS, tiny_model, train_batch


def test_fusion_shapes_and_padding_mask():
    torch.manual_seed(0)
    fusion = InteractiveFusion(8).eval()
    x_b, x_e, x_r = torch.randn(2, 5, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    h = fusion(x_b, x_e, x_r, mask)
    assert h.shape == (2, 5, 8)
    assert torch.all(h[1, 3:] == 0)  # nothing at padding
    x_e2, x_r2 = x_e.clone(), x_r.clone()
    x_e2[1, 3:] = 100.0
    x_r2[1, 3:] = -100.0  # changing padded positions must not change real ones
    torch.testing.assert_close(fusion(x_b, x_e2, x_r2, mask)[1, :3], h[1, :3])


def test_fusion_skip_adds_the_encoder_states_to_the_same_fusion():
    torch.manual_seed(0)
    plain = InteractiveFusion(8).eval()
    skip = InteractiveFusion(8, skip=True).eval()
    skip.load_state_dict(plain.state_dict())  # the switch adds no parameters
    x_b, x_e, x_r = torch.randn(2, 5, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    torch.testing.assert_close(skip(x_b, x_e, x_r, mask), plain(x_b, x_e, x_r, mask) + x_b)


def test_forward_shapes_and_loss():
    model, tok = tiny_model()
    batch = train_batch(model, tok)
    ent, rel = model(batch)
    B, S = batch["spans"].shape[:2]
    P = batch["pairs"].shape[1]
    assert ent.shape == (B, S, 2)  # none + 药物
    assert rel.shape == (B, P, 7)
    loss, parts = model.loss(batch)
    assert loss.ndim == 0 and parts["loss_entity"] > 0 and parts["loss_relation"] > 0


def test_loss_is_the_mean_over_real_spans_and_pairs():
    """The masked loss equals CE over the real spans plus BCE averaged over types, averaged over the real
    pairs, picked out by index; padded entries (here given huge logits) contribute nothing."""
    from ddikg.iser_model.batching import collate_train, prepare

    model, tok = tiny_model(relation_loss="mean")
    cfg = model.cfg
    items, _ = prepare(DOCS, tok, cfg.max_length, cfg.max_span_width, cfg.entity_types, cfg.relation_types)
    # more negatives than the short sentence has spans: its rows are padded
    batch = collate_train(items, tok.pad_token_id, cfg.max_span_width, len(cfg.relation_types), 60, 60,
                          np.random.default_rng(0))
    for key in ("pairs", "pair_mask", "relation_labels"):  # and one padded pair slot per sentence
        batch[key] = torch.cat([batch[key], torch.zeros_like(batch[key][:, :1])], 1)
    ent, rel = model(batch)
    si, pi = batch["span_mask"].nonzero(), batch["pair_mask"].nonzero()
    assert (~batch["span_mask"].bool()).any() and (~batch["pair_mask"].bool()).any()  # padding on both axes
    want = torch.nn.functional.cross_entropy(ent[si[:, 0], si[:, 1]], batch["entity_labels"][si[:, 0], si[:, 1]])
    want = want + torch.nn.functional.binary_cross_entropy_with_logits(
        rel[pi[:, 0], pi[:, 1]], batch["relation_labels"][pi[:, 0], pi[:, 1]].float(), reduction="none").mean(-1).mean()
    pad_e, pad_r = ~batch["span_mask"].bool(), ~batch["pair_mask"].bool()
    model.forward = lambda b: (ent.masked_fill(pad_e[..., None], 1e30), rel.masked_fill(pad_r[..., None], 1e30))
    loss, _ = model.loss(batch)
    torch.testing.assert_close(loss, want)


def test_padding_spans_and_sentences_do_not_change_results():
    model, tok = tiny_model()
    model.eval()
    batch = train_batch(model, tok)
    with torch.no_grad():
        ent, rel = model(batch)
        # the short sentence alone: no padding; and without the collate's host-side indexes, so the
        # model derives them itself (the comparison covers both ways)
        one = {k: v[1:2] for k, v in batch.items() if k not in ("lengths", "span_lengths", "span_index")}
        n, S, P = int(one["attention_mask"].sum()), int(one["span_mask"].sum()), int(one["pair_mask"].sum())
        W = int(one["word_mask"].sum())
        trimmed = {k: v for k, v in one.items()}
        for key in ("input_ids", "attention_mask"):
            trimmed[key] = one[key][:, :n]
        for key in ("word_start", "word_end", "word_mask"):
            trimmed[key] = one[key][:, :W]
        for key in ("spans", "span_mask", "entity_labels"):
            trimmed[key] = one[key][:, :S]
        for key in ("pairs", "pair_mask", "relation_labels"):
            trimmed[key] = one[key][:, :P]
        ent1, rel1 = model(trimmed)
    torch.testing.assert_close(ent[1, :S], ent1[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(rel[1, :P], rel1[0], atol=1e-5, rtol=1e-4)


def test_gradient_reaches_every_module():
    model, tok = tiny_model()
    loss, _ = model.loss(train_batch(model, tok))
    loss.backward()
    groups = {
        "encoder transformer": model.encoder.transformer.embeddings.word_embeddings.weight,
        "encoder FFN_e": model.encoder.ffn_e.net[0].weight,
        "encoder FFN_r": model.encoder.ffn_r.net[0].weight,
        "fusion BiLSTM": model.fusion.lstm.bwd.weight_ih_l0,
        "SEA mask vector": model.span_context.mask_vector,
        "SEA attention": model.span_context.qkv.weight,
        "SEA BiGRU": model.span_context.gru.bwd.weight_ih_l0,
        "width embedding": model.width.weight,
        "entity head": model.entity_head.linear.weight,
        "relation head": model.relation_head.linear.weight,
    }
    for name, p in groups.items():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


FUSION = [dict(fusion=False), dict(fusion_skip=True)]
ENTITY_SIDE = [dict(entity_context="cls"), dict(entity_context="gru")]
RELATION_SIDE = [dict(relation_context=m) for m in ("lc_att", "lc_bert", "cls", "gc_bert", "gc")]


def _logits(model, batch):
    model.eval()
    with torch.no_grad():
        return model(batch)


@pytest.mark.parametrize("switch", FUSION + ENTITY_SIDE + RELATION_SIDE,
                         ids=lambda s: f"{next(iter(s))}={next(iter(s.values()))}")
def test_each_ablation_changes_the_computation(switch):
    """Same weights where modules are shared: each switch changes exactly the scores it feeds
    (entity context -> entity scores; relation context -> relation scores; fusion -> both)."""
    base, tok = tiny_model()
    batch = train_batch(base, tok)
    ablated, _ = tiny_model(**switch)
    ablated.load_state_dict(base.state_dict(), strict=False)
    ent0, rel0 = _logits(base, batch)
    ent1, rel1 = _logits(ablated, batch)
    if switch in ENTITY_SIDE:
        assert not torch.allclose(ent0, ent1, atol=1e-6)
        torch.testing.assert_close(rel0, rel1)
    elif switch in RELATION_SIDE:
        assert not torch.allclose(rel0, rel1, atol=1e-6)
        torch.testing.assert_close(ent0, ent1)
    else:
        assert not torch.allclose(ent0, ent1, atol=1e-6) and not torch.allclose(rel0, rel1, atol=1e-6)


def test_relation_context_is_zero_for_adjacent_spans():
    model, tok = tiny_model()
    batch = train_batch(model, tok)
    enc = model.encode(batch)
    head = torch.tensor([[[0, 3], [0, 3]], [[0, 2], [5, 6]]])
    tail = torch.tensor([[[3, 5], [4, 6]], [[2, 4], [1, 3]]])  # adjacent, gap of one word, ..., reversed
    ctx = model.relation_context(enc, head, tail)
    assert torch.all(ctx[0, 0] == 0) and torch.all(ctx[1, 0] == 0)
    torch.testing.assert_close(ctx[0, 1], enc.h_words[0, 3])
    torch.testing.assert_close(ctx[1, 1], enc.h_words[1, 3:5].amax(0))


def test_collated_host_indexes_match_the_masks():
    """The collate functions' span indexes and host lengths are what the model would otherwise
    derive on the device (nonzero, mask sums); to_device leaves the host ones on the CPU."""
    from ddikg.iser_model.batching import HOST_KEYS, collate_infer, prepare, to_device

    model, tok = tiny_model()
    batch = train_batch(model, tok)
    assert torch.equal(batch["span_index"], batch["span_mask"].nonzero())
    assert torch.equal(batch["lengths"], batch["attention_mask"].sum(1))
    assert torch.equal(batch["span_lengths"], batch["lengths"][batch["span_index"][:, 0]])
    items, _ = prepare(DOCS, tok, 64, model.cfg.max_span_width, model.cfg.entity_types, model.cfg.relation_types)
    infer = collate_infer(items, tok.pad_token_id, model.cfg.max_span_width)
    assert torch.equal(infer["span_index"], infer["span_mask"].nonzero())
    moved = to_device(infer, torch.device("meta"))
    assert {k for k, v in moved.items() if v.device.type == "cpu"} == set(HOST_KEYS)


def test_packed_move_gives_each_tensor_back_with_one_copy_per_dtype():
    """to_device's CUDA path: a training batch travels as one buffer per dtype (int64 indexes, float32
    labels), and every tensor comes back with its own shape, dtype and values."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from ddikg.iser_model.batching import HOST_KEYS, move_packed

    model, tok = tiny_model()
    batch = train_batch(model, tok)
    moving = {k: v for k, v in batch.items() if k not in HOST_KEYS}
    assert {v.dtype for v in moving.values()} == {torch.int64, torch.float32}
    back = move_packed(moving, torch.device("cpu"), pin=False)
    assert back.keys() == moving.keys()
    for k, v in moving.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape and torch.equal(back[k], v), k

    copies = []

    class Copies(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.overloadpacket.__name__ == "_to_copy":
                copies.append(args[0].shape)
            return func(*args, **(kwargs or {}))

    with Copies():
        moved = move_packed(moving, torch.device("meta"), pin=False)
    assert len(copies) == 2 and len(moving) > 2
    assert all(moved[k].device.type == "meta" and moved[k].shape == v.shape for k, v in moving.items())


def test_compiled_loss_matches_eager_and_one_graph_serves_every_length():
    """``IserConfig.compile`` traces the loss with dynamic shapes: the same loss and gradients as eager,
    and batches of other sentence lengths (and span and pair counts) reuse the graphs already built.
    Backend aot_eager runs dynamo's tracing and AOTAutograd's joint graph without inductor's code
    generation, which takes minutes on 2 cores; tests/iser_model/test_cuda.py compiles with inductor."""
    import numpy as np
    from torch._dynamo.utils import counters

    from ddikg.iser_model.batching import collate_train, prepare
    from ddikg.iser_model.trainer import loss_function

    torch._dynamo.reset()
    model, tok = tiny_model(compile=True)
    model.train()
    cfg = model.cfg
    items, _ = prepare(DOCS, tok, cfg.max_length, cfg.max_span_width, cfg.entity_types, cfg.relation_types)
    compiled = loss_function(model, backend="aot_eager")
    graphs = []
    # sentences of 18 and 10 words: (0, 1) and (0, 0) share their padded length but differ in span and
    # pair counts; (1, 1) is shorter
    for seed, pick in enumerate([(0, 1), (0, 0), (1, 1)]):
        batch = collate_train([items[i] for i in pick], tok.pad_token_id, cfg.max_span_width,
                              len(cfg.relation_types), 10, 10, np.random.default_rng(seed))
        results = []
        for fn in (model.loss, compiled):
            torch.manual_seed(0)  # the same dropout masks (the tiny model has none; kept for safety)
            loss, _ = fn(batch)
            loss.backward()
            results.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
            model.zero_grad(set_to_none=False)
        (l0, g0), (l1, g1) = results
        torch.testing.assert_close(l1, l0)
        for a, b in zip(g0, g1, strict=True):
            torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-5)
        graphs.append(counters["stats"]["unique_graphs"])
    assert graphs[0] > 0 and graphs[1:] == [graphs[0]] * 2, graphs  # no recompile for new lengths or counts
