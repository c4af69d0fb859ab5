"""How the JSONL reader meets bytes: a BOM, a non-UTF-8 line, a cut-off line, CRLF line ends."""

from __future__ import annotations

import json

import pytest

from ddikg.contracts import ChddiRecord
from ddikg.jsonl import JsonlReader, NoRecordsError, RecordError, read_jsonl

GOOD = json.dumps({"text": "甲药@与乙药合用"}, ensure_ascii=False).encode()


def test_bom_and_crlf_are_accepted(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + GOOD + b"\r\n\r\n" + GOOD + b"\r\n")
    reader = JsonlReader(p, ChddiRecord)
    assert [r.text for r in reader] == ["甲药@与乙药合用"] * 2 and reader.lines == [1, 3]


def test_a_non_utf8_line_is_reported_at_its_line_and_skippable(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(GOOD + b"\n" + GOOD[:3] + b"\xc3\x28" + GOOD[3:] + b"\n" + GOOD + b"\n")
    with pytest.raises(RecordError, match=r"a\.jsonl:2: <encoding>: not UTF-8: byte 0xc3 at column 4"):
        read_jsonl(p, ChddiRecord)
    rejects = tmp_path / "r.jsonl"
    reader = JsonlReader(p, ChddiRecord, on_error="skip", rejects=rejects)
    assert len(list(reader)) == 2 and reader.n_bad == 1 and reader.lines == [1, 3]
    row = json.loads(rejects.read_text(encoding="utf-8"))
    assert row["line"] == 2 and "\\xc3" in row["raw"]


def test_a_cut_off_line_names_its_column(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(GOOD + b"\n" + b'{"text": "x", \n')
    with pytest.raises(RecordError, match=r"a\.jsonl:2: <json>: invalid JSON at column 15"):
        read_jsonl(p, ChddiRecord)


def test_require_records(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b"\n\n")
    assert read_jsonl(p, ChddiRecord) == []
    with pytest.raises(NoRecordsError, match="no records"):
        list(JsonlReader(p, ChddiRecord, require_records=True))
    p.write_bytes(b'{"text": ""}\n')
    with pytest.raises(NoRecordsError, match="all 1 lines rejected"):
        list(JsonlReader(p, ChddiRecord, on_error="skip", require_records=True))


def test_a_directory_is_no_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="is a directory"):
        read_jsonl(tmp_path, ChddiRecord)
