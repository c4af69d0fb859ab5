"""The rule baseline is scored by iser_model's evaluator: hand-computed figures and the baseline command."""

from __future__ import annotations

import json
from importlib.resources import as_file

import pytest
from typer.testing import CliRunner

from ddikg.annotate.chddi import CHDDI_TEST
from ddikg.annotate.lexicon import Lexicon
from ddikg.annotate.rules import prelabel
from ddikg.annotate.scoring import record_sets, score_records
from ddikg.cli import app
from ddikg.contracts import ChddiRecord, Spo, TypedValue
from ddikg.jsonl import read_jsonl

S1 = "某药片@与华法林及肝素合用加强,与利福平合用减弱"
S2 = "乙药片@与地高辛合用,本品血药浓度升高"


def _spo(subject, start, predicate, obj="某药片", spans=True):
    if not spans:
        return Spo(predicate=predicate, subject=subject, object=TypedValue.of(obj))
    return Spo(predicate=predicate, subject=subject, object=TypedValue.of(obj),
               subject_span=(start, start + len(subject)), object_span=(0, len(obj)))


def _example():
    gold = [ChddiRecord(text=S1, spo_list=[_spo("华法林", 5, "协同"), _spo("肝素", 9, "协同"),
                                           _spo("利福平", 17, "拮抗")]),
            ChddiRecord(text=S2, spo_list=[_spo("地高辛", 5, "促进", "乙药片")])]
    # S1: one right (协同), one wrong type (抑制 for 拮抗: FP 抑制 + FN 拮抗), one missed (肝素 协同);
    # S2: right, given without spans (placed by the readers' alignment: prompt, only occurrence), plus a spo
    # whose subject is not in the text (set aside, as the model's reader does)
    pred = [ChddiRecord(text=S1, spo_list=[_spo("华法林", 5, "协同"), _spo("利福平", 17, "抑制")]),
            ChddiRecord(text=S2, spo_list=[_spo("地高辛", 0, "促进", "乙药片", spans=False),
                                           _spo("阿司匹林", 0, "协同", "乙药片", spans=False)])]
    return gold, pred


def test_record_sets_are_character_spans():
    gold, pred = _example()
    ents, rels, aside = record_sets(gold[0])
    assert ents == {(0, 3, "药物"), (5, 8, "药物"), (9, 11, "药物"), (17, 20, "药物")}
    assert ((17, 20, "药物"), (0, 3, "药物"), "拮抗") in rels and aside == 0
    ents, rels, aside = record_sets(pred[1])
    assert rels == {((5, 8, "药物"), (0, 3, "药物"), "促进")} and aside == 1


def test_scores_match_hand_computed_figures():
    gold, pred = _example()
    s = score_records(gold, pred)
    assert (s.statements, s.set_aside_gold, s.set_aside_pred) == (2, 0, 1)
    re = s.metrics["re"]
    # tp / fp / fn: 协同 1/0/1, 拮抗 0/0/1, 抑制 0/1/0, 促进 1/0/0 -> micro 2/1/2
    assert (re["micro"]["tp"], re["micro"]["fp"], re["micro"]["fn"]) == (2, 1, 2)
    assert re["micro"]["p"] == pytest.approx(2 / 3)
    assert re["micro"]["r"] == pytest.approx(1 / 2)
    assert re["micro"]["f1"] == pytest.approx(4 / 7)
    pt = re["per_type"]
    assert set(pt) == {"协同", "拮抗", "抑制", "促进"}
    assert (pt["协同"]["p"], pt["协同"]["r"], pt["协同"]["f1"], pt["协同"]["support"]) == \
        (pytest.approx(1.0), pytest.approx(0.5), pytest.approx(2 / 3), 2)
    assert (pt["拮抗"]["f1"], pt["拮抗"]["support"]) == (0.0, 1)
    assert (pt["抑制"]["p"], pt["抑制"]["support"]) == (0.0, 0)
    assert pt["促进"]["f1"] == pytest.approx(1.0)
    # macro over the 4 types present: P (1+0+0+1)/4, R (0.5+0+0+1)/4, F1 (2/3+0+0+1)/4
    assert re["macro"]["p"] == pytest.approx(0.5)
    assert re["macro"]["r"] == pytest.approx(0.375)
    assert re["macro"]["f1"] == pytest.approx(5 / 12)
    assert s.metrics["re_no_nec"] == re  # one entity type: ignoring it changes nothing
    # NER: gold 某药片 华法林 肝素 利福平 | 乙药片 地高辛; predicted all but 肝素 -> tp 5, fp 0, fn 1
    ner = s.metrics["ner"]["micro"]
    assert (ner["tp"], ner["fp"], ner["fn"]) == (5, 0, 1)
    assert ner["f1"] == pytest.approx(10 / 11)


def test_spans_decide_and_statements_pair_by_position():
    twice = "某药片@华法林增强本品作用,本品亦增强华法林作用"
    gold = [ChddiRecord(text=twice, spo_list=[_spo("华法林", 4, "协同")])]
    wrong = [ChddiRecord(text=twice, spo_list=[_spo("华法林", twice.rindex("华法林"), "协同")])]
    assert score_records(gold, wrong).metrics["re"]["micro"]["tp"] == 0
    assert score_records(gold, gold).metrics["re"]["micro"]["f1"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="statement 1"):
        score_records(gold, [ChddiRecord(text="别药片@x")])
    with pytest.raises(ValueError, match="1 gold"):
        score_records(gold, [])


@pytest.fixture(scope="module")
def test_split_scores():
    with as_file(CHDDI_TEST) as p:
        gold = read_jsonl(p, ChddiRecord)
    lexicon = Lexicon.load()
    return score_records(gold, [prelabel(g.model_copy(update={"spo_list": []}), lexicon) for g in gold])


def test_baseline_command_runs_on_the_test_split(test_split_scores, tmp_path):
    out = tmp_path / "pred.jsonl"
    res = CliRunner().invoke(app, ["annotate", "baseline", "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "ddikg.iser_model.evaluator" in res.output and "(184 statements" in res.output
    assert "set aside" not in res.output  # every gold and rule spo has a span on the text
    for label in ("拮抗", "抑制", "协同", "禁忌", "无关", "促进", "相加"):
        assert f"re:{label}" in res.output
    cells = [[c.strip() for c in line.strip("│ ").split("│")] for line in res.output.splitlines() if "│" in line]
    re_row = next(c for c in cells if c[0] == "re")  # the table's cells (rich draws │ between them)
    p, r = float(re_row[1]), float(re_row[2])
    assert 50 < p <= 100 and 50 < r < 100  # precision-first rules miss the free-form statements
    assert p == pytest.approx(100 * test_split_scores.metrics["re"]["micro"]["p"], abs=0.005)
    metrics = json.loads(res.output[res.output.index("{"):res.output.rindex("}") + 1])
    assert metrics == json.loads(json.dumps(test_split_scores.metrics))
    assert len(read_jsonl(out, ChddiRecord)) == 184
