"""The evaluator against hand-computed figures; negative sampling invariants."""

from __future__ import annotations

import numpy as np
import pytest

from ddikg.iser_model.evaluator import evaluate_predictions
from ddikg.iser_model.sampling import sample_negatives


def test_micro_macro_by_hand():
    A, B = (0, 1, "Peop"), (3, 4, "Loc")
    C, D = (5, 7, "Org"), (8, 9, "Loc")
    gold_e = [{A, B}, {C, D}]
    pred_e = [{A, (3, 4, "Org")}, {C, D, (10, 11, "Loc")}]
    gold_r = [{(A, B, "Live_In")}, {(C, D, "OrgBased_In")}]
    pred_r = [{(A, (3, 4, "Org"), "Live_In")}, {(C, D, "OrgBased_In"), (D, C, "Live_In")}]
    m = evaluate_predictions(gold_e, gold_r, pred_e, pred_r)
    # NER: tp = A, C, D = 3; fp = (3,4,Org), (10,11,Loc) = 2; fn = B = 1
    assert m["ner"]["micro"] == pytest.approx({"p": 3 / 5, "r": 3 / 4, "f1": 2 * 0.6 * 0.75 / 1.35,
                                               "tp": 3, "fp": 2, "fn": 1})
    # per type: Peop 1/1/1; Loc p=1/2 r=1/2; Org p=1/2 r=1
    pt = m["ner"]["per_type"]
    assert pt["Peop"]["f1"] == 1.0 and pt["Loc"]["p"] == 0.5 and pt["Loc"]["r"] == 0.5
    assert pt["Org"]["p"] == 0.5 and pt["Org"]["r"] == 1.0
    assert m["ner"]["macro"]["p"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert m["ner"]["macro"]["f1"] == pytest.approx((1 + 0.5 + 2 / 3) / 3)
    # RE: the Live_In of doc 0 has a wrongly typed tail -> wrong; OrgBased_In right; (D, C) spurious
    assert m["re"]["micro"]["tp"] == 1 and m["re"]["micro"]["fp"] == 2 and m["re"]["micro"]["fn"] == 1
    assert m["re"]["per_type"]["OrgBased_In"]["f1"] == 1.0 and m["re"]["per_type"]["Live_In"]["f1"] == 0.0
    assert m["re"]["macro"]["f1"] == pytest.approx(0.5)
    # without entity types the doc-0 relation counts
    assert m["re_no_nec"]["micro"]["tp"] == 2 and m["re_no_nec"]["micro"]["fp"] == 1
    assert m["re_no_nec"]["micro"]["f1"] == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))


def test_empty_predictions_score_zero():
    m = evaluate_predictions([{(0, 1, "X")}], [set()], [set()], [set()])
    assert m["ner"]["micro"]["f1"] == 0.0 and m["re"]["micro"]["f1"] == 0.0


def test_negative_sampling_invariants():
    rng = np.random.default_rng(0)
    ents = np.array([[0, 2, 0], [3, 4, 1], [5, 8, 0]])
    rels = np.array([[0, 1, 2], [0, 1, 0], [2, 0, 1]])
    s = sample_negatives(10, ents, rels, 4, 3, 7, 100, rng)
    assert s.spans[:3].tolist() == ents[:, :2].tolist() and s.entity_labels[:3].tolist() == [1, 2, 1]
    neg = s.spans[3:]
    assert len(neg) == 7 and (s.entity_labels[3:] == 0).all()
    assert not ({tuple(x) for x in neg.tolist()} & {(0, 2), (3, 4), (5, 8)})
    assert ((neg[:, 1] - neg[:, 0]) <= 4).all() and (neg[:, 1] <= 10).all()
    assert len({tuple(x) for x in neg.tolist()}) == 7  # without replacement
    pairs = [tuple(p) for p in s.pairs.tolist()]
    assert pairs[:2] == [(0, 1), (2, 0)] and s.relation_labels[0].tolist() == [1, 0, 1]
    assert len(pairs) == 6 and len(set(pairs)) == 6 and all(h != t for h, t in pairs)  # 3*2 ordered pairs
    assert s.relation_labels[2:].sum() == 0
