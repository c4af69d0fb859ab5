"""The paper's equations, checked against hand-computed values and references of what each switch must
compute (a swapped query and key/value, a wrong loss reduction or an ablation computing something else
fails here, not only a shape)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from ddikg.iser_model.config import IserConfig
from ddikg.iser_model.fusion import InteractiveFusion, cross_attention

from .helpers import tiny_model, train_batch
from .test_spans_sea import reference_sea

# ---------------------------------------------------------------------------------- Eq. 3-5


def test_cross_attention_hand_computed_query_and_key_value_differ():
    """Eq. 3: X̃_e = softmax(X_r X_eᵀ/√d) X_e, with X_r = [[1,0],[0,1]], X_e = [[2,0],[0,0]], d = 2.
    Row 0 scores (2/√2, 0) -> weights (σ, 1-σ), σ = 1/(1+e^-√2); row 1 scores (0, 0) -> (½, ½)."""
    x_r = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    x_e = torch.tensor([[[2.0, 0.0], [0.0, 0.0]]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    sig = 1 / (1 + math.exp(-math.sqrt(2)))  # 0.8044
    want = torch.tensor([[[2 * sig, 0.0], [1.0, 0.0]]])
    torch.testing.assert_close(cross_attention(x_r, x_e, mask), want)
    # swapped (X_e queries reading X_r) is a different vector: the test tells the two apart
    assert not torch.allclose(cross_attention(x_e, x_r, mask), want, atol=1e-3)
    # a padded key gets no weight: row 0 then reads key 0 alone
    torch.testing.assert_close(cross_attention(x_r, x_e, torch.tensor([[True, False]]))[0, 0], torch.tensor([2.0, 0.0]))


@pytest.mark.parametrize("residual", [False, True])
def test_fusion_feeds_the_bilstm_eq3_and_eq4(residual):
    """The BiLSTM's input is X̃_e ⊕ X̃_r (Eq. 5) with X̃_e = softmax(X_r X_eᵀ/√d) X_e (relation queries)
    and X̃_r = softmax(X_e X_rᵀ/√d) X_r; with fusion_residual X̃_e + X_e ⊕ X̃_r + X_r."""
    torch.manual_seed(0)
    fusion = InteractiveFusion(4, residual=residual).eval()
    x_b, x_e, x_r = torch.randn(1, 3, 4), torch.randn(1, 3, 4) * 3, torch.randn(1, 3, 4) * 3
    mask = torch.ones(1, 3, dtype=torch.bool)
    seen = []
    fusion.lstm.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    fusion(x_b, x_e, x_r, mask)

    def attend(q, kv):  # written out per row
        out = torch.zeros_like(q)
        for i in range(q.shape[1]):
            w = torch.softmax(torch.stack([q[0, i] @ kv[0, j] for j in range(kv.shape[1])]) / 2.0, 0)  # √d = 2
            out[0, i] = sum(w[j] * kv[0, j] for j in range(kv.shape[1]))
        return out

    xe_t, xr_t = attend(x_r, x_e), attend(x_e, x_r)
    if residual:
        xe_t, xr_t = xe_t + x_e, xr_t + x_r
    torch.testing.assert_close(seen[0], torch.cat([xe_t, xr_t], -1))
    swapped = torch.cat([attend(x_e, x_e), attend(x_r, x_r)], -1)  # self- instead of cross attention
    assert not torch.allclose(seen[0][..., :4], swapped[..., :4] + (x_e if residual else 0), atol=1e-3)


# ---------------------------------------------------------------------------------- Eq. 15-17


def _loss_with_logits(relation_loss: str) -> float:
    model, tok = tiny_model(relation_loss=relation_loss)
    batch = train_batch(model, tok)
    one = {k: v[:1] for k, v in batch.items() if k not in ("lengths", "span_lengths", "span_index")}
    S, P, R = one["spans"].shape[1], one["pairs"].shape[1], len(model.cfg.relation_types)
    # two real spans (labels none, 药物) and one real pair (gold type 0) of known logits; the rest padding
    one["span_mask"] = torch.zeros(1, S, dtype=torch.long)
    one["span_mask"][0, :2] = 1
    one["entity_labels"] = torch.zeros(1, S, dtype=torch.long)
    one["entity_labels"][0, 1] = 1
    one["pair_mask"] = torch.zeros(1, P, dtype=torch.long)
    one["pair_mask"][0, 0] = 1
    one["relation_labels"] = torch.zeros(1, P, R)
    one["relation_labels"][0, 0, 0] = 1.0
    ent = torch.zeros(1, S, 2)
    ent[0, 0] = torch.tensor([2.0, 0.0])
    ent[0, 1] = torch.tensor([0.0, 1.0])
    rel = torch.zeros(1, P, R)
    rel[0, 0, 0] = 2.0
    model.forward = lambda _b: (ent, rel)  # the loss of known logits (Eq. 15-17 only)
    return model.loss(one)[0].item()


def test_loss_hand_computed_bce_mean_over_types():
    """L_e: CE of logits (2, 0) for class 0 and (0, 1) for class 1 = (ln(1+e^-2) + ln(1+e^-1)) / 2 =
    0.220095. L_r: BCEWithLogits of one pair, 7 types, logits (2, 0, ..., 0), label type 0 = (ln(1+e^-2) +
    6 ln 2) / 7 = 0.612259 (the mean over types, as BCEWithLogits and SpERT reduce); summed: 4.285811."""
    assert _loss_with_logits("mean") == pytest.approx(0.220095 + 0.612259, abs=1e-5)
    assert _loss_with_logits("sum") == pytest.approx(0.220095 + 4.285811, abs=1e-5)


# ---------------------------------------------------------------------------------- ablation references


def _encoded(**switches):
    model, tok = tiny_model(**switches)
    model.eval()
    batch = train_batch(model, tok)
    with torch.no_grad():
        enc = model.encode(batch)
    return model, batch, enc


def test_no_fusion_h_is_the_encoder_output():
    model, batch, enc = _encoded(fusion=False)
    assert model.fusion is None
    torch.testing.assert_close(enc.h, enc.x_b * enc.mask[..., None])


def test_fusion_skip_adds_x_b_to_the_papers_h():
    model, batch, enc = _encoded(fusion_skip=True)
    with torch.no_grad():
        x_b, x_e, x_r = model.encoder(batch["input_ids"], batch["attention_mask"])
        plain = InteractiveFusion(model.encoder.d, residual=model.cfg.fusion_residual)
        plain.load_state_dict(model.fusion.state_dict())
        want = (plain.eval()(x_b, x_e, x_r, enc.mask) + x_b) * enc.mask[..., None]
    torch.testing.assert_close(enc.h, want)


def test_sea_to_cls_context_is_the_cls_state():
    model, batch, enc = _encoded(entity_context="cls")
    with torch.no_grad():
        _, _, c = model.span_features(enc, batch["spans"], batch["span_mask"].bool())
    torch.testing.assert_close(c, enc.x_b[:, :1].expand_as(c))


@pytest.mark.parametrize("context", ["sea", "gru"])
def test_entity_context_is_sea_or_bigru_of_h_mask(context):
    """SEA (Eq. 7-9) and ISER_GRU (BiGRU over H_mask, no attention) against the per-span loop."""
    model, batch, enc = _encoded(entity_context=context)
    mask = batch["span_mask"].bool()
    b, j = mask.nonzero().unbind(1)
    sub_start = enc.word_start[b, batch["spans"][b, j, 0]]
    sub_end = enc.word_end[b, batch["spans"][b, j, 1] - 1]
    with torch.no_grad():
        _, _, c = model.span_features(enc, batch["spans"], mask)
        ref = reference_sea(model.span_context, enc.h, enc.mask, b, sub_start, sub_end, model.cfg.sea_scale)
    assert model.span_context.attention == (context == "sea")
    torch.testing.assert_close(c[b, j], ref, atol=2e-5, rtol=1e-4)


PAIRS_HEAD = torch.tensor([[[0, 2], [5, 6], [0, 1]], [[0, 1], [3, 4], [0, 2]]])
PAIRS_TAIL = torch.tensor([[[4, 5], [1, 3], [1, 2]], [[4, 6], [0, 2], [1, 3]]])  # gaps, reversed, adjacent, overlap


def _between_words(head, tail):
    a, b = sorted([tuple(head.tolist()), tuple(tail.tolist())])
    return list(range(a[1], b[0]))  # words strictly between; empty when adjacent or overlapping


def _reference_context(mode, model, enc, bi, head, tail):
    words = _between_words(head, tail)
    n = int(enc.mask[bi].sum())
    if mode in ("lc", "lc_bert"):
        src = enc.h if mode == "lc" else enc.x_b
        if not words:
            return torch.zeros(src.shape[-1])
        lo, hi = int(enc.word_start[bi, words[0]]), int(enc.word_end[bi, words[-1]])
        return src[bi, lo:hi].amax(0)  # max over the subwords of the words between
    if mode == "cls":
        return enc.x_b[bi, 0]
    if mode == "gc_bert":
        return enc.x_b[bi, :n].amax(0)
    if mode == "gc":
        return enc.h[bi, :n].amax(0)
    # lc_att: self-attention among the words between, averaged over them
    if not words:
        return torch.zeros(enc.h.shape[-1])
    x = enc.h_words[bi, words]  # (L, d)
    q, k, v = model.relation_context.qkv(x).chunk(3, -1)
    return (torch.softmax(q @ k.T / x.shape[-1] ** 0.5, -1) @ v).mean(0)


@pytest.mark.parametrize("mode", ["lc", "lc_att", "lc_bert", "cls", "gc_bert", "gc"])
def test_relation_context_against_its_reference(mode):
    """Each "LC -> ..." row of Tables 5-6 computes what its name says, pair by pair."""
    model, batch, enc = _encoded(relation_context=mode)
    with torch.no_grad():
        got = model.relation_context(enc, PAIRS_HEAD, PAIRS_TAIL)
        for bi in range(2):
            for p in range(PAIRS_HEAD.shape[1]):
                want = _reference_context(mode, model, enc, bi, PAIRS_HEAD[bi, p], PAIRS_TAIL[bi, p])
                torch.testing.assert_close(got[bi, p], want, atol=1e-5, rtol=1e-4)


def test_ffn_is_eq1_as_written_unless_ffn_dropout():
    """FFN(x) = ReLU(x W1 + b1) W2 + b2 in training mode too (no dropout inside Eq. 1-2 by default)."""
    model, tok = tiny_model(dropout=0.5)
    ffn = model.encoder.ffn_e.train()
    x = torch.randn(3, model.encoder.d)
    w1, b1, w2, b2 = ffn.net[0].weight, ffn.net[0].bias, ffn.net[-1].weight, ffn.net[-1].bias
    torch.testing.assert_close(ffn(x), torch.relu(x @ w1.T + b1) @ w2.T + b2)
    dropped, _ = tiny_model(dropout=0.5, ffn_dropout=True)
    dropped.encoder.ffn_e.train()
    torch.manual_seed(0)
    assert not torch.allclose(dropped.encoder.ffn_e(x), dropped.encoder.ffn_e(x))  # a dropout mask per call


def test_scaled_init_keeps_the_encoder_scale():
    """init="scaled": X_e, X_r start at about X_b's scale; PyTorch's default init shrinks them ~4x."""
    default, _ = tiny_model()
    scaled, _ = tiny_model(init="scaled")
    torch.manual_seed(0)
    x = torch.randn(4000, default.encoder.d) * 0.5
    with torch.no_grad():
        ratio_default = default.encoder.ffn_e(x).std().item() / 0.5
        ratio_scaled = scaled.encoder.ffn_e(x).std().item() / 0.5
    assert 0.8 < ratio_scaled < 1.25 and ratio_default < 0.4, (ratio_scaled, ratio_default)


# ---------------------------------------------------------------------------------- decoding


def test_every_ordered_pair_of_predicted_entities_is_a_candidate():
    """SpERT's decoding: (i, j) for every i != j of the predicted entities, overlapping spans included;
    max_entities keeps the top-scoring ones only."""
    from ddikg.iser_model.inference import _pairs

    is_ent = torch.tensor([[True, True, False, True, True]])  # spans 0, 1, 3, 4 (0 and 1 may overlap)
    score = torch.tensor([[0.9, 0.8, 0.99, 0.7, 0.6]])
    label = torch.ones(1, 5, dtype=torch.long)
    pairs, valid = _pairs(is_ent, score, label, None)
    got = {tuple(p) for p, v in zip(pairs[0].tolist(), valid[0].tolist(), strict=True) if v}
    assert got == {(i, j) for i in (0, 1, 3, 4) for j in (0, 1, 3, 4) if i != j}
    pairs, valid = _pairs(is_ent, score, label, None, max_entities=2)
    got = {tuple(p) for p, v in zip(pairs[0].tolist(), valid[0].tolist(), strict=True) if v}
    assert got == {(0, 1), (1, 0)}


# ---------------------------------------------------------------------------------- names and configs


@pytest.mark.parametrize("switches,name", [
    ({}, "ISER"),
    ({"fusion_residual": True}, "ISER + residual"),
    ({"fusion_skip": True}, "ISER + skip"),
    ({"fusion": False}, "ISER − interactive fusion"),
    ({"fusion": False, "entity_context": "cls"}, "SpERT (same encoder)"),
    ({"entity_context": "cls"}, "ISER, SEA→CLS"),
    ({"entity_context": "gru"}, "ISER_GRU"),
    ({"relation_context": "lc_att"}, "ISER, LC→LC_att"),
    ({"init": "scaled"}, "ISER + scaled init"),
    ({"fusion_residual": True, "sea_out_proj": True, "relation_loss": "sum"},
     "ISER + residual + SEA W_O + BCE summed over types"),
])
def test_display_name(switches, name):
    assert IserConfig(**switches).display_name() == name


def test_the_default_config_is_the_papers_equations():
    cfg = IserConfig()
    assert (cfg.fusion, cfg.fusion_residual, cfg.fusion_skip, cfg.ffn_dropout, cfg.sea_scale, cfg.sea_out_proj,
            cfg.relation_loss, cfg.entity_context, cfg.relation_context, cfg.max_entities) == (
        True, False, False, False, "d", False, "mean", "sea", "lc", None)


def test_a_config_saved_before_the_switches_is_named_by_what_it_ran(tmp_path):
    old = json.loads(IserConfig(fusion_residual=True).to_json())
    for key in ("ffn_dropout", "sea_scale", "sea_out_proj", "relation_loss", "init", "max_entities",
                "val_fraction", "val_seed"):
        old.pop(key)
    cfg = IserConfig.model_validate(old)
    assert (cfg.ffn_dropout, cfg.sea_scale, cfg.sea_out_proj, cfg.relation_loss) == (True, "d_head", True, "sum")
    assert cfg.display_name() == "ISER + residual + FFN dropout + SEA √d_head + SEA W_O + BCE summed over types"
    # a hand-written partial config is not a dump: the paper's form
    assert IserConfig.model_validate({"encoder": "x", "epochs": 3}).display_name() == "ISER"


# ---------------------------------------------------------------------------------- held-out selection


def test_validation_slice_is_fixed_grouped_and_disjoint(tmp_path):
    from ddikg.iser_model.api import split_validation
    from ddikg.iser_model.readers import read_dataset
    from ddikg.jsonl import write_jsonl

    from .synth import statements

    recs = statements(30)
    write_jsonl(tmp_path / "d.jsonl", recs)
    ds = read_dataset(tmp_path / "d.jsonl")
    train, val, where = split_validation(ds, 0.25, 0)
    again = split_validation(ds, 0.25, 0)
    assert [d.tokens for d in again[1]] == [d.tokens for d in val]  # fixed by the seed
    assert len(train) + len(val) == 30 and len(val) >= round(0.25 * 30)
    drug = {tuple(d.tokens): (r.meta.source_drug if r.meta and r.meta.source_drug else r.prompt)
            for d, r in zip(ds.documents, ds.records, strict=True)}
    assert not {drug[tuple(d.tokens)] for d in train} & {drug[tuple(d.tokens)] for d in val}  # whole drugs
    assert "grouped by source drug" in where and "seed 0" in where
    other = split_validation(ds, 0.25, 1)[1]
    assert [d.tokens for d in other] != [d.tokens for d in val]


# ---------------------------------------------------------------------------------- the literal form learns


def test_literal_fusion_overfits_a_few_statements():
    """The paper's Eq. 1-5 as written (no residual, no skip), with the FFNs initialised at the encoder's
    scale (the initialisation the paper leaves open), fits 4 training statements: every gold entity and
    relation, nothing else. Full batch, Adam; the same run is benchmarks/overfit.py --encoder tiny, whose
    result files (benchmarks/results/overfit/tiny-*.json) also hold PyTorch's default initialisation."""
    from benchmarks.overfit import tiny_overfit

    res = tiny_overfit("literal_scaled", steps=150)
    assert res["label"] == "ISER + scaled init"
    assert res["ner"]["f1"] == 1.0 and res["re"]["f1"] == 1.0, (res["ner"], res["re"])
