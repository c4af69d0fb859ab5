"""validate (located problems, exit codes) and stats (tables and chart)."""

from __future__ import annotations

import json
from importlib.resources import as_file

from typer.testing import CliRunner

from ddikg.annotate.chddi import CHDDI_DEV, CHDDI_TEST, CHDDI_TRAIN
from ddikg.annotate.stats import corpus_stats, masked_wording, wording_overlap
from ddikg.annotate.validate import validate_file
from ddikg.cli import app
from ddikg.contracts import ChddiRecord
from ddikg.jsonl import read_jsonl


def _spo(subject, predicate="协同", obj="某药片", s_span=None, o_span=None, **extra):
    spo = {"predicate": predicate, "subject": subject, "subject_type": "药物", "object": {"@value": obj},
           "object_type": {"@value": "药物"}} | extra
    if s_span:
        spo["subject_span"] = s_span
    if o_span:
        spo["object_span"] = o_span
    return spo


def test_chddi_corpus_is_valid():
    with as_file(CHDDI_TRAIN) as train, as_file(CHDDI_DEV) as dev, as_file(CHDDI_TEST) as test:
        res = CliRunner().invoke(app, ["annotate", "validate", str(train), str(dev), str(test)])
    assert res.exit_code == 0, res.output
    assert "0 problems" in res.output


def test_problems_are_located(tmp_path):
    text = "某药片@与华法林合用加强"
    lines = [
        {"text": text, "spo_list": [_spo("华法林", s_span=[5, 8], o_span=[0, 3])]},  # 1: fine
        {"text": text, "spo_list": [_spo("肝素")]},  # 2: subject not in text
        {"text": text, "spo_list": [_spo("华法林", predicate="朋友")]},  # 3: unknown type
        {"text": "某药片@与华法林合用", "spo_list": [_spo("华法林", s_span=[4, 7])]},  # 4: wrong span
        {"text": "某药片@与华法林合用减弱", "spo_list": [_spo("华法林"), _spo("华法林", "拮抗")]},  # 5: two labels
        {"text": "某药片@华法林华法林", "spo_list": [_spo("华法林"), _spo("华法林")]},  # 6: duplicate
        {"text": text, "spo_list": []},  # 7: duplicate statement of line 1
        {"text": "没有提示的句子", "spo_list": []},  # 8: no @ prompt
        {"text": "某药片@尚不明确", "spo_list": [_spo("某药片")], "meta": {"boilerplate": True}},  # 9
        {"text": "某药片@x", "spo_list": [{"predicate": "协同"}]},  # 10: schema
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    report = validate_file(path)
    where = {(i.line, i.field) for i in report.issues}
    assert (2, "spo_list[0].subject") in where
    assert (3, "spo_list[0].predicate") in where
    # a span over other characters: the contract itself rejects it (schema error), validate reports it
    assert any(i.line == 4 and "subject_span" in (i.field + i.message) for i in report.issues)
    assert (5, "spo_list[1]") in where
    assert (6, "spo_list[1]") in where
    assert (7, "text") in where
    assert (8, "text") in where
    assert (9, "spo_list") in where and (9, "spo_list[0]") in where  # boilerplate with relations; self-relation
    assert any(i.line == 10 and i.field.startswith("spo_list[0]") for i in report.issues)
    assert not any(i.line == 1 for i in report.issues)
    res = CliRunner().invoke(app, ["annotate", "validate", str(path)])
    assert res.exit_code == 1
    assert f"{path}:3: spo_list[0].predicate" in res.output


def test_stats_counts_and_chart(tmp_path):
    records = [
        ChddiRecord.model_validate({"text": "某药片@与华法林及肝素合用加强", "spo_list": [
            _spo("华法林", s_span=[5, 8], o_span=[0, 3]), _spo("肝素", s_span=[9, 11], o_span=[0, 3])]}),
        ChddiRecord.model_validate({"text": "某药片@禁与华法林合用", "spo_list": [_spo("华法林", "禁忌")]}),
        ChddiRecord.model_validate({"text": "某药片@本品经肝脏代谢"}),
        ChddiRecord.model_validate({"text": "某药片@尚不明确", "meta": {"boilerplate": True}}),
    ]
    s = corpus_stats(records)
    assert (s.sentences, s.entities, s.relations, s.boilerplate, s.without_relations) == (3, 5, 3, 1, 1)
    assert s.per_type["协同"] == 2 and s.per_type["禁忌"] == 1 and s.per_type["相加"] == 0
    with as_file(CHDDI_TRAIN) as train, as_file(CHDDI_TEST) as test:
        png = tmp_path / "rel.png"
        res = CliRunner().invoke(app, ["annotate", "stats", str(train), str(test), "--png", str(png)])
    assert res.exit_code == 0, res.output
    assert "Table 1" in res.output and "Table 2" in res.output and "synergy" in res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _rec(text, *subjects):
    prompt = text.split("@")[0]
    spos = [_spo(s, obj=prompt, s_span=[text.index(s), text.index(s) + len(s)], o_span=[0, len(prompt)])
            for s in subjects]
    return ChddiRecord.model_validate({"text": text, "spo_list": spos})


def test_masked_wording_hides_drugs_prompt_effects_and_numbers():
    a = _rec("布美他尼片@与多巴胺合用,利尿作用加强", "多巴胺")
    b = _rec("卡托普利片@与氢氯噻嗪合用,降压作用加强", "氢氯噻嗪")
    assert masked_wording(a) == masked_wording(b) == "与<D>合用,<E>加强"
    listed = _rec("某药片@酮康唑、伊曲康唑和克拉霉素可使本药的AUC增加2.5倍", "酮康唑", "伊曲康唑", "克拉霉素")
    assert masked_wording(listed) == "<D>可使<P>的AUC增加#倍"  # a list of drugs is one <D>
    other = _rec("某药片@与华法林合用,出血风险增加", "华法林")
    ov = wording_overlap([a, other, ChddiRecord.model_validate({"text": "某药片@尚不明确", "meta": {"boilerplate": True}})],
                         [b])
    assert (ov.statements, ov.overlapping, ov.share) == (2, 1, 0.5) and ov.examples == ["与<D>合用,<E>加强"]


def test_committed_split_keeps_test_wordings_out_of_train():
    with as_file(CHDDI_TRAIN) as train, as_file(CHDDI_TEST) as test:
        res = CliRunner().invoke(app, ["annotate", "stats", str(test), "--overlap-with", str(train)])
        assert res.exit_code == 0, res.output
        ov = wording_overlap(read_jsonl(test, ChddiRecord), read_jsonl(train, ChddiRecord))
    assert ov.statements >= 150 and ov.share < 0.05
    assert f"{ov.overlapping} of {ov.statements} statements" in res.output
