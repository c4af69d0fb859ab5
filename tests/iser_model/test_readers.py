"""Readers and the CH-DDI/CMeIE string -> span alignment rule."""

from __future__ import annotations

import json

import pytest

from ddikg.contracts import ChddiRecord
from ddikg.iser_model.readers import align_record, detect_format, read_dataset
from ddikg.jsonl import RecordError


def rec(text, *spo):
    return ChddiRecord.model_validate({"text": text, "spo_list": list(spo)})


def spo(subject, obj, predicate="协同", **extra):
    return {"predicate": predicate, "subject": subject, "subject_type": "药物", "object": {"@value": obj},
            "object_type": {"@value": "药物"}} | extra


def spans(doc):
    return [(e.start, e.end, e.type) for e in doc.entities]


def test_prompt_entity_is_the_text_before_at():
    # the prompt drug also occurs in the statement: the prompt occurrence is used
    doc, problems = align_record(rec("华法林@华法林与阿司匹林合用", spo("阿司匹林", "华法林")))
    assert problems == []
    assert spans(doc) == [(8, 12, "药物"), (0, 3, "药物")]
    assert [(r.head, r.tail, r.type) for r in doc.relations] == [(0, 1, "协同")]


def test_repeated_string_takes_the_occurrence_nearest_the_other_argument():
    text = "甲药@乙药可增效；乙药与丙药合用时毒性增加"
    doc, problems = align_record(rec(text, spo("乙药", "丙药", "拮抗")))
    assert problems == []
    assert spans(doc)[0] == (9, 11, "药物")  # the second 乙药, next to 丙药
    assert text[9:11] == "乙药"


def test_equally_near_repeats_are_ambiguous_and_reported():
    doc, problems = align_record(rec("甲@乙丙乙", spo("乙", "丙")))
    assert doc.entities == []
    assert problems and problems[0][1] == "subject" and problems[0][2].startswith("ambiguous")


def test_both_repeated_is_ambiguous_but_explicit_spans_resolve_it():
    text = "甲@乙与丙；乙与丙"
    _, problems = align_record(rec(text, spo("乙", "丙")))
    assert problems[0][2].startswith("ambiguous")
    doc, problems = align_record(rec(text, spo("乙", "丙", subject_span=[6, 7], object_span=[8, 9])))
    assert problems == [] and spans(doc) == [(6, 7, "药物"), (8, 9, "药物")]


def test_not_found_is_reported():
    # (an explicit span whose text differs is already refused by the ChddiRecord contract)
    _, problems = align_record(rec("甲@与乙合用", spo("丁", "甲")))
    assert problems[0][1] == "subject" and problems[0][2].startswith("not found")


def test_overlapping_and_nested_spans_are_kept_as_separate_entities():
    text = "甲@复方甘草片与甘草酸合用"
    doc, problems = align_record(rec(text, spo("复方甘草片", "甲"), spo("甘草", "甲", "拮抗", subject_span=[4, 6])))
    assert problems == []
    assert sorted(spans(doc)) == [(0, 1, "药物"), (2, 7, "药物"), (4, 6, "药物")]  # 甘草 nested in 复方甘草片
    assert len(doc.relations) == 2


def test_type_clash_on_one_span_is_reported():
    r = ChddiRecord.model_validate({"text": "甲@乙", "spo_list": [
        spo("乙", "甲"), {"predicate": "协同", "subject": "乙", "subject_type": "疾病", "object": {"@value": "甲"}}]})
    doc, problems = align_record(r, {"药物", "疾病"})
    assert len(doc.entities) == 2 and problems[0][0] == 1 and problems[0][2].startswith("type clash")


def test_read_dataset_writes_unusable_spo_aside_with_file_line_and_reason(tmp_path):
    path = tmp_path / "train.jsonl"
    rows = [{"text": "甲@与乙合用", "spo_list": [spo("乙", "甲"), spo("丁", "甲")]},
            {"text": "丙@与乙乙合用", "spo_list": [spo("乙", "丙", "未知关系")]}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\nnot json\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"train.jsonl:4: <json>"):
        read_dataset(path, "chddi")
    rejects = tmp_path / "rej.jsonl"
    ds = read_dataset(path, "chddi", on_error="skip", rejects=rejects)
    assert len(ds.documents) == 2 and ds.rejected_lines == 1 and ds.rejected_spo == 2
    rows = [json.loads(x) for x in rejects.read_text(encoding="utf-8").splitlines()]
    assert {(r["line"], r["field"]) for r in rows} == {(4, "<json>"), (1, "spo_list[1].subject"),
                                                      (2, "spo_list[0].predicate")}
    assert all(r["error"] and r["raw"] for r in rows)


def test_spert_json_with_types_file_and_located_errors(tmp_path):
    docs = [{"tokens": ["John", "lives", "in", "Rome"], "entities": [{"type": "Peop", "start": 0, "end": 1},
                                                                     {"type": "Loc", "start": 3, "end": 4}],
             "relations": [{"type": "Live_In", "head": 0, "tail": 1}]}]
    (tmp_path / "x_types.json").write_text(json.dumps(
        {"entities": {"Loc": {}, "Peop": {}}, "relations": {"Live_In": {}, "Kill": {}}}), encoding="utf-8")
    path = tmp_path / "x_train.json"
    path.write_text(json.dumps(docs), encoding="utf-8")
    assert detect_format(path) == "spert"
    ds = read_dataset(path)
    assert ds.entity_types == ["Loc", "Peop"] and ds.relation_types == ["Live_In", "Kill"]
    bad = docs + [{"tokens": ["a"], "entities": [{"type": "Loc", "start": 0, "end": 3}]}]
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(RecordError, match=r"x_train.json:2: \[1\]\.<record>: .*entities\[0\]"):
        read_dataset(path)


def test_cmeie_extra_keys_and_index_hints(tmp_path):
    text = "病@病人发热，病人咳嗽"
    row = {"text": text, "entities": [], "spo_list": [
        {"predicate": "临床表现", "subject": "病人", "subject_type": "疾病", "object": {"@value": "咳嗽"},
         "object_type": {"@value": "症状"}, "subject_start_idx": 7, "object_start_idx": 9}]}
    path = tmp_path / "cm.jsonl"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    assert detect_format(path) == "cmeie"
    ds = read_dataset(path)
    assert ds.rejected_spo == 0 and spans(ds.documents[0]) == [(7, 9, "疾病"), (9, 11, "症状")]
