"""Contract records: round trips, and bad input named by file, line and field."""

from __future__ import annotations

import json

import pytest

from ddikg.contracts import ChddiRecord, RawDrugRecord, SpanDocument, Triple, content_hash
from ddikg.jsonl import JsonlReader, RecordError, default_rejects_path, read_jsonl, write_jsonl

PAPER_EXAMPLE = {
    "text": "布美他尼片@与多巴胺合用,利尿作用加强",
    "spo_list": [{"predicate": "协同", "subject": "多巴胺", "subject_type": "药物",
                  "object": {"@value": "布美他尼片"}, "object_type": {"@value": "药物"}}],
}

RAW = {
    "drug_id": "1001", "name": "布美他尼片", "url": "http://127.0.0.1:1/drugref/html/1001.shtml",
    "categories": ["利尿药"], "diseases": ["高血压"],
    "sections": {"药品名称": "布美他尼片", "药物相互作用": "1.与多巴胺合用,利尿作用加强。"},
    "fetched_at": "2026-11-25T00:00:00Z",
}

SPAN = {"tokens": ["Aspirin", "inhibits", "COX"], "entities": [{"type": "Drug", "start": 0, "end": 1},
        {"type": "Protein", "start": 2, "end": 3}], "relations": [{"type": "inhibits", "head": 0, "tail": 1}]}

TRIPLE = {"subject": "多巴胺", "predicate": "协同", "object": "布美他尼片", "score": 0.93,
          "evidence": PAPER_EXAMPLE["text"], "model_id": "iser-test", "source_drug": "布美他尼片"}


@pytest.mark.parametrize("model,obj", [(ChddiRecord, PAPER_EXAMPLE), (RawDrugRecord, RAW),
                                       (SpanDocument, SPAN), (Triple, TRIPLE)])
def test_round_trip(tmp_path, model, obj):
    rec = model.model_validate(obj)
    path = tmp_path / "x.jsonl"
    write_jsonl(path, [rec, rec])
    back = read_jsonl(path, model)
    assert back == [rec, rec]
    # The file is the documented format: aliases, UTF-8 text unescaped.
    line = path.read_text(encoding="utf-8").splitlines()[0]
    assert json.loads(line) == json.loads(rec.to_json())


def test_paper_format_is_exact():
    rec = ChddiRecord.model_validate(PAPER_EXAMPLE)
    assert json.loads(rec.to_json()) == PAPER_EXAMPLE
    assert rec.prompt == "布美他尼片"
    assert rec.spo_list[0].object_text == "布美他尼片"


def test_content_hash_is_order_independent_and_checked():
    a = RawDrugRecord.model_validate(RAW)
    flipped = dict(RAW, sections=dict(reversed(list(RAW["sections"].items()))))
    assert RawDrugRecord.model_validate(flipped).content_hash == a.content_hash
    assert a.content_hash == content_hash(RAW["name"], RAW["sections"])
    with pytest.raises(ValueError, match="content_hash"):
        RawDrugRecord.model_validate(dict(RAW, content_hash="sha256:00"))
    assert a.interactions.startswith("1.与多巴胺")


def _write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_bad_line_names_file_line_and_field(tmp_path):
    path = tmp_path / "corpus.jsonl"
    bad = dict(PAPER_EXAMPLE, spo_list=[dict(PAPER_EXAMPLE["spo_list"][0], object={"value": "x"})])
    _write_lines(path, [json.dumps(PAPER_EXAMPLE, ensure_ascii=False), "", json.dumps(bad, ensure_ascii=False)])
    with pytest.raises(RecordError) as info:
        read_jsonl(path, ChddiRecord)
    err = info.value
    assert (err.file, err.line) == (str(path), 3)
    assert err.field.startswith("spo_list[0].object")
    assert str(err).startswith(f"{path}:3: spo_list[0].object")


@pytest.mark.parametrize("line,field", [
    ("{not json", "<json>"),
    ("[1, 2]", "<record>"),
    (json.dumps({"tokens": ["a"], "entities": [{"type": "X", "start": 0, "end": 3}]}), "entities[0].end"),
    (json.dumps({"tokens": ["a", "b"], "entities": [{"type": "X", "start": 1, "end": 1}]}), "entities[0]"),
])
def test_span_document_errors(tmp_path, line, field):
    path = tmp_path / "docs.jsonl"
    _write_lines(path, [json.dumps(SPAN), line])
    with pytest.raises(RecordError) as info:
        read_jsonl(path, SpanDocument)
    assert info.value.line == 2
    assert field in str(info.value)


def test_relation_index_checked(tmp_path):
    doc = dict(SPAN, relations=[{"type": "r", "head": 0, "tail": 5}])
    with pytest.raises(ValueError, match="relations\\[0\\].tail"):
        SpanDocument.model_validate(doc)


def test_skip_writes_bad_lines_aside_and_counts(tmp_path):
    path = tmp_path / "triples.jsonl"
    bad_score = dict(TRIPLE, score=1.7)
    missing = {k: v for k, v in TRIPLE.items() if k != "model_id"}
    _write_lines(path, [json.dumps(TRIPLE, ensure_ascii=False), json.dumps(bad_score, ensure_ascii=False),
                        json.dumps(TRIPLE, ensure_ascii=False), json.dumps(missing, ensure_ascii=False)])
    rejects = default_rejects_path(path)
    reader = JsonlReader(path, Triple, on_error="skip", rejects=rejects)
    good = list(reader)
    assert len(good) == 2 and (reader.n_ok, reader.n_bad) == (2, 2)
    rows = [json.loads(x) for x in rejects.read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["field"]) for r in rows] == [(2, "score"), (4, "model_id")]
    assert json.loads(rows[0]["raw"]) == bad_score  # the original line is kept verbatim
    assert "2 rejected" in reader.summary()


def test_unknown_keys_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="spo_lst"):
        ChddiRecord.model_validate({"text": "a@b", "spo_lst": []})


def test_spans_must_lie_in_text():
    spo = dict(PAPER_EXAMPLE["spo_list"][0], subject_span=[7, 10])
    ChddiRecord.model_validate(dict(PAPER_EXAMPLE, spo_list=[spo]))
    with pytest.raises(ValueError, match="beyond the text"):
        ChddiRecord.model_validate(dict(PAPER_EXAMPLE, spo_list=[dict(spo, subject_span=[7, 99])]))
    with pytest.raises(ValueError, match="covers '与多巴', not '多巴胺'"):
        ChddiRecord.model_validate(dict(PAPER_EXAMPLE, spo_list=[dict(spo, subject_span=[6, 9])]))


def test_not_utf8(tmp_path):
    path = tmp_path / "gbk.jsonl"
    path.write_bytes(json.dumps(PAPER_EXAMPLE, ensure_ascii=False).encode("gbk"))
    with pytest.raises(RecordError, match="not UTF-8"):
        read_jsonl(path, ChddiRecord)


def test_write_is_atomic(tmp_path):
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [ChddiRecord.model_validate(PAPER_EXAMPLE)])

    def boom():
        yield ChddiRecord.model_validate(PAPER_EXAMPLE)
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(path, boom())
    assert len(read_jsonl(path, ChddiRecord)) == 1  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temp file left behind
