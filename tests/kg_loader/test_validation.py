"""What the loader refuses, with file:line:field, that the Triple contract alone would let through."""

from __future__ import annotations

import json
from datetime import timezone

import pytest

from ddikg.contracts import Triple
from ddikg.jsonl import RecordError
from ddikg.kg_loader.api import load_triples
from ddikg.kg_loader.plan import check_record, read_triples

from .conftest import snapshot, triple, write_lines

GOOD = triple("阿司匹林", "拮抗", "华法林")
NO_TIME = {k: v for k, v in GOOD.items() if k != "extracted_at"}

# (row, field, words in the message); each of these rows passes Triple.model_validate.
ACCEPTED_BUT_WRONG = [
    ({**GOOD, "score": "0.8"}, "score", "must be a number, not a string"),
    ({**GOOD, "score": True}, "score", "must be a number, not a boolean"),
    (triple("华法林", "拮抗", "华法林"), "object", "does not interact with itself"),
    (triple("ＡＢＣ", "拮抗", "ABC"), "object", "itself"),  # full-width: the same key after NFKC
    (triple(" 华法林", "拮抗", "华法林"), "object", "itself"),  # the same key after normalisation
    ({**GOOD, "subject_type": "疾病"}, "subject_type", "only drug-drug interactions"),
    ({**GOOD, "object_type": "疾病"}, "object_type", "only drug-drug interactions"),
    (NO_TIME, "extracted_at", "field required"),
    ({**GOOD, "extracted_at": "2026-11-01T02:00:00"}, "extracted_at", "no time zone"),
    ({**GOOD, "extracted_at": 1767225600}, "extracted_at", "ISO 8601 string"),
]


@pytest.mark.parametrize("row,field,words", ACCEPTED_BUT_WRONG, ids=[f"{f}-{i}" for i, (_, f, _) in
                                                                    enumerate(ACCEPTED_BUT_WRONG)])
def test_rejected_with_file_line_field(tmp_path, row, field, words):
    Triple.model_validate(row)  # the contract's pydantic model lets it through
    path = write_lines(tmp_path / "t.jsonl", [GOOD, row])
    with pytest.raises(RecordError, match=rf"t\.jsonl:2: {field}: .*{words}"):
        read_triples(path)
    run = read_triples(path, on_error="skip", rejects=tmp_path / "rej.jsonl")
    assert (run.read, run.rejected) == (1, 1)
    (rej,) = [json.loads(x) for x in (tmp_path / "rej.jsonl").read_text(encoding="utf-8").splitlines()]
    assert (rej["line"], rej["field"]) == (2, field) and json.loads(rej["raw"]) == row


def test_lean_check_takes_what_the_contract_takes(tmp_path):
    rows = [GOOD, {**GOOD, "score": 1}, {**GOOD, "subject_type": "药物", "object_type": "药物", "drug_id": "7",
                                         "sentence_index": 3, "run_id": "x", "source_url": None},
            {**GOOD, "extracted_at": "2026-11-01T10:00:00+08:00"}, {**GOOD, "extracted_at": "2026-11-01T02:00:00Z"}]
    for row in rows:
        t = Triple.model_validate(row)
        # Stored in UTC, so first_seen/last_seen strings sort as times.
        assert check_record(row) == t.extracted_at.astimezone(timezone.utc).isoformat() == "2026-11-01T02:00:00+00:00"
    # And the contract's own refusals stay refusals, on the same field.
    for row, field in [({**GOOD, "score": 7}, "score"), ({**GOOD, "typo": 1}, "typo"),
                       ({**GOOD, "evidence": " "}, "evidence"), ({**GOOD, "drug_id": 7}, "drug_id"),
                       (GOOD | {"model_id": None}, "model_id")]:
        with pytest.raises(ValueError) as exc:
            check_record(row)
        assert exc.value.args[0] == field


def test_reloading_a_file_gives_the_same_graph(graph_settings, tmp_path):
    path = write_lines(tmp_path / "t.jsonl", [GOOD, triple("布洛芬", "禁忌", "华法林")])
    load_triples(graph_settings, path, run_id="r1")
    before = snapshot(graph_settings)
    s = load_triples(graph_settings, path, run_id="r1")
    assert (s.added, s.updated, s.unchanged) == (0, 0, 2)
    assert snapshot(graph_settings) == before


def test_not_utf8_is_a_located_error(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes((json.dumps(GOOD, ensure_ascii=False) + "\n").encode() + b'{"subject": "\xff"}\n')
    with pytest.raises(RecordError, match=r"t\.jsonl:2: <encoding>: not UTF-8"):
        read_triples(path)


def test_trusted_lines_are_the_bytes_that_passed_under_the_same_limits(graph_settings, tmp_path):
    rows = [GOOD, triple("布洛芬", "禁忌", "华法林", "华法林@" + "长" * 40)]
    path = write_lines(tmp_path / "t.jsonl", rows)
    first = load_triples(graph_settings, path, run_id="r1")
    assert first.added == 2
    seen: list[set[str]] = []
    digests = read_triples(path, trusted=lambda d: seen.append(set(d)) or set(d)).digests
    assert seen == [{"华法林"}] and set(digests) == {"华法林"}
    # Reloading with a tighter evidence limit: the digest covers the limits, so nothing is trusted
    # and the now overlong sentence is refused.
    from ddikg.config import load_settings

    tight = load_settings(home=graph_settings.home, graph={**graph_settings.graph.model_dump(), "max_evidence_length": 20})
    with pytest.raises(RecordError, match=r"t\.jsonl:2: evidence: is 44 characters long"):
        load_triples(tight, path, run_id="r2")
