"""Checks an annotated CH-DDI file beyond its schema, each problem located as ``file:line: field: message``.

Schema (through the contract parser), then per record: the ``@`` prompt, every subject/object present in
the text and at its span when one is given, predicates in the label set, entity types ``药物``, no relation
from an entity to itself, no duplicate relation, one label per (subject, object) pair, no relations on a
boilerplate statement; and across the file: no repeated statement text.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel

from ddikg.contracts import ChddiRecord
from ddikg.jsonl import RecordError, iter_lines, parse_line
from ddikg.labels import DRUG, RELATION_LABELS


class Issue(BaseModel):
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        if not self.line:  # about the whole file (missing, a directory, empty): no line to name
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class ValidationReport(BaseModel):
    path: Path
    records: int = 0  # lines that parsed
    issues: list[Issue] = []

    @property
    def ok(self) -> bool:
        return not self.issues

    def line(self) -> str:
        bad = len({i.line for i in self.issues})
        return f"{self.path}: {self.records} records, {len(self.issues)} problems on {bad} lines"


def _entity_key(text: str, span: tuple[int, int] | None, value: str) -> tuple:
    return tuple(span) if span else (value,)


def check_record(rec: ChddiRecord) -> list[tuple[str, str]]:
    """Problems of one record as (field, message)."""
    out: list[tuple[str, str]] = []
    text = rec.text
    if not rec.prompt:
        out.append(("text", "no entity prompt: expected '药名@statement'"))
    if rec.meta is not None and rec.meta.boilerplate and rec.spo_list:
        out.append(("spo_list", "a boilerplate statement carries relations"))
    pairs: dict[tuple, tuple[int, str]] = {}
    for i, spo in enumerate(rec.spo_list):
        where = f"spo_list[{i}]"
        if spo.predicate not in RELATION_LABELS:
            out.append((f"{where}.predicate", f"{spo.predicate!r} is not one of {' '.join(RELATION_LABELS)}"))
        if spo.subject_type != DRUG:
            out.append((f"{where}.subject_type", f"{spo.subject_type!r} is not {DRUG}"))
        if spo.object_type_text != DRUG:
            out.append((f"{where}.object_type", f"{spo.object_type_text!r} is not {DRUG}"))
        out.extend(_check_entity(text, where, "subject", spo.subject, spo.subject_span))
        out.extend(_check_entity(text, where, "object", spo.object_text, spo.object_span))
        s_key = _entity_key(text, spo.subject_span, spo.subject)
        o_key = _entity_key(text, spo.object_span, spo.object_text)
        if s_key == o_key:
            out.append((where, "relates an entity to itself"))
        pair = (s_key, o_key)
        if pair in pairs:
            j, label = pairs[pair]
            if label == spo.predicate:
                out.append((where, f"duplicate of spo_list[{j}]"))
            else:
                out.append((where, f"second label {spo.predicate!r} for the pair of spo_list[{j}] ({label!r}); "
                                   "one label per pair"))
        else:
            pairs[pair] = (i, spo.predicate)
    return out


def _check_entity(text: str, where: str, role: str, value: str, span: tuple[int, int] | None):
    if value not in text:
        yield f"{where}.{role}", f"{value!r} does not occur in the text"
    elif span is not None and text[span[0]:span[1]] != value:
        yield f"{where}.{role}_span", f"{list(span)} holds {text[span[0]:span[1]]!r}, not {value!r}"


def validate_file(path: str | os.PathLike) -> ValidationReport:
    """Validate every line of a CH-DDI file; problems are collected, never raised."""
    path = Path(path)
    report = ValidationReport(path=path)
    try:
        lines = list(iter_lines(path))
    except OSError as exc:  # missing, a directory, unreadable
        report.issues.append(Issue(file=str(path), line=0, field="<file>", message=str(exc).removeprefix(f"{path}: ")))
        return report
    first_seen: dict[str, int] = {}
    for line_no, raw in lines:
        try:
            rec = parse_line(path, line_no, raw, ChddiRecord)
        except RecordError as err:
            report.issues.append(Issue(file=str(path), line=line_no, field=err.field, message=err.message))
            continue
        report.records += 1
        for field, message in check_record(rec):
            report.issues.append(Issue(file=str(path), line=line_no, field=field, message=message))
        if rec.text in first_seen:
            report.issues.append(Issue(file=str(path), line=line_no, field="text",
                                       message=f"duplicate statement (first at line {first_seen[rec.text]})"))
        else:
            first_seen[rec.text] = line_no
    if not lines:
        report.issues.append(Issue(file=str(path), line=0, field="<file>", message="no records (empty file)"))
    return report


def spo_entities(rec: ChddiRecord) -> set[tuple]:
    """The distinct entities a record's relations use (by span where given, else by string)."""
    out: set[tuple] = set()
    for spo in rec.spo_list:
        out.add(_entity_key(rec.text, spo.subject_span, spo.subject))
        out.add(_entity_key(rec.text, spo.object_span, spo.object_text))
    return out

