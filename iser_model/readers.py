"""Training/evaluation data as :class:`ddikg.contracts.SpanDocument` (word/character level).

Formats:
* ``spert``: a JSON list of span documents (SpERT's files, e.g. CoNLL04) or JSONL of them;
  types from a ``*_types.json`` beside the file.
* ``chddi``: CH-DDI ``spo_list`` JSONL (:class:`ChddiRecord`); types from :mod:`ddikg.labels`.
* ``cmeie``: the same layout with CMeIE's extra keys; types from a ``*_schema.jsonl`` beside the file.

CH-DDI/CMeIE are character level (each character one token). Subjects and objects are aligned to
character spans by this rule, in order:

1. an explicit ``subject_span``/``object_span`` (its text must equal the string);
2. the string equal to the prompt (the text before the first ``@``) -> the prompt's span;
3. the only occurrence of the string in the text;
4. several occurrences: the one nearest to a CMeIE ``*_start_idx`` hint, else the one nearest to the
   other argument of the spo once that argument is placed by rules 1-3; a tie is ambiguous.

A spo that cannot be placed (not found, ambiguous, span text mismatch, subject == object, a span
already labelled with another type, a type outside the schema) is not used: it is counted and
written to the rejects file with its reason (same row layout as :mod:`ddikg.jsonl` rejects).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, ValidationError

from ddikg.contracts import ChddiRecord, SpanDocument, SpanEntity, SpanRelation, Spo
from ddikg.jsonl import (
    JsonlReader,
    NoRecordsError,
    OnError,
    RecordError,
    UndecodableLine,
    append_jsonl,
    default_rejects_path,
    iter_lines,
    require_file,
    validation_errors,
)
from ddikg.labels import ENTITY_TYPES, RELATION_LABELS

Format = Literal["auto", "spert", "chddi", "cmeie"]


class CmeieRecord(ChddiRecord):
    """A CH-DDI-layout record that keeps CMeIE's extra top-level keys (e.g. ``entities``)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


@dataclass
class Dataset:
    path: Path
    format: str
    documents: list[SpanDocument]
    records: list[ChddiRecord] | None  # the source records (spo formats), aligned with documents
    entity_types: list[str]
    relation_types: list[str]
    rejected_lines: int = 0
    rejected_spo: int = 0
    rejects_path: Path | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        s = f"{self.path}: {len(self.documents)} documents ({self.format})"
        if self.rejected_lines or self.rejected_spo:
            s += f", {self.rejected_lines} bad lines and {self.rejected_spo} spo set aside -> {self.rejects_path}"
        return s


def detect_format(path: str | Path) -> str:
    """spert (a ``.json`` file, or a JSON list), chddi or cmeie, from the first non-blank line."""
    path = require_file(path)
    if path.suffix == ".json":
        return "spert"
    line_no, first = next(iter(iter_lines(path)), (0, ""))
    if not first:
        raise NoRecordsError(path)
    if isinstance(first, UndecodableLine):
        raise first.error
    if first.lstrip().startswith("["):
        return "spert"
    try:
        obj = json.loads(first)
    except json.JSONDecodeError as exc:
        raise RecordError(path, line_no, "<json>", f"cannot detect the data format: invalid JSON at column "
                                                   f"{exc.pos + 1}: {exc.msg}") from None
    if not isinstance(obj, dict):
        raise RecordError(path, line_no, "<record>", f"expected a JSON object, got {type(obj).__name__}")
    if "tokens" in obj:
        return "spert"
    if "text" in obj:  # CMeIE: extra keys, or predicates outside the DDI label set
        extra = set(obj) - {"text", "spo_list", "meta"}
        foreign = any(isinstance(s, dict) and s.get("predicate") not in RELATION_LABELS for s in obj.get("spo_list", []))
        return "cmeie" if extra or foreign else "chddi"
    raise RecordError(path, line_no, "<record>", "cannot detect the data format: neither 'tokens' nor 'text'")


def read_dataset(path: str | Path, fmt: Format = "auto", *, on_error: OnError = "raise",
                 rejects: str | Path | None = None, schema: tuple[list[str], list[str]] | None = None,
                 ) -> Dataset:
    """Read a data file into span documents plus its label schema (``schema`` overrides the file's)."""
    path = require_file(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    rejects_path = Path(rejects) if rejects else default_rejects_path(path)
    rejects_path.unlink(missing_ok=True)  # one rejects file per read, never mixed with an older run
    if fmt == "spert":
        docs, bad = _read_spert(path, on_error, rejects_path)
        ds = Dataset(path, fmt, docs, None, *(schema or _spert_schema(path, docs)), rejected_lines=bad,
                     rejects_path=rejects_path)
        return _check_types(ds, on_error)
    model = ChddiRecord if fmt == "chddi" else CmeieRecord
    reader = JsonlReader(path, model, on_error=on_error, rejects=rejects_path)
    records = reader.read_all()
    ent_types, rel_types = schema or (_spo_schema(path, fmt, records))
    ds = Dataset(path, fmt, [], [], ent_types, rel_types, rejected_lines=reader.n_bad, rejects_path=rejects_path)
    rows = []
    for rec, line in zip(records, reader.lines, strict=True):
        doc, problems = align_record(rec, set(ent_types), set(rel_types))
        ds.documents.append(doc)
        ds.records.append(rec)
        for i, fld, reason in problems:
            ds.rejected_spo += 1
            key = reason.split(":")[0]
            ds.reasons[key] = ds.reasons.get(key, 0) + 1
            rows.append(RecordError(path, line, f"spo_list[{i}].{fld}", reason).as_dict()
                        | {"raw": rec.spo_list[i].to_json()})
    if rows:
        append_jsonl(rejects_path, rows)
    return ds


# --------------------------------------------------------------------------- SpERT JSON


def _read_spert(path: Path, on_error: OnError, rejects_path: Path) -> tuple[list[SpanDocument], int]:
    if path.suffix == ".jsonl":
        reader = JsonlReader(path, SpanDocument, on_error=on_error, rejects=rejects_path)
        return reader.read_all(), reader.n_bad
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")  # an editor's byte-order mark
    try:
        items = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RecordError(path, data.count(b"\n", 0, exc.start) + 1, "<encoding>",
                          f"not UTF-8: byte 0x{data[exc.start]:02x}") from None
    except json.JSONDecodeError as exc:
        raise RecordError(path, exc.lineno, "<json>", f"invalid JSON at column {exc.colno}: {exc.msg}") from None
    if not isinstance(items, list):
        raise RecordError(path, 1, "<json>", "a SpERT file is a JSON list of documents")
    docs, rows = [], []
    for i, item in enumerate(items):  # "line" = 1-based document index in the list
        try:
            docs.append(SpanDocument.model_validate(item))
        except ValidationError as exc:
            err = validation_errors(path, i + 1, exc)[0]
            err.field = f"[{i}].{err.field}"
            if on_error == "raise":
                raise RecordError(path, i + 1, err.field, err.message) from None
            rows.append(err.as_dict() | {"raw": json.dumps(item, ensure_ascii=False)})
    if rows:
        append_jsonl(rejects_path, rows)
    return docs, len(rows)


def _spert_schema(path: Path, docs: list[SpanDocument]) -> tuple[list[str], list[str]]:
    types = sorted(path.parent.glob("*_types.json"))
    if types:
        obj = json.loads(types[0].read_text(encoding="utf-8"))
        return list(obj["entities"]), list(obj["relations"])
    return (sorted({e.type for d in docs for e in d.entities}),
            sorted({r.type for d in docs for r in d.relations}))


def _check_types(ds: Dataset, on_error: OnError) -> Dataset:
    ents, rels = set(ds.entity_types), set(ds.relation_types)
    for i, d in enumerate(ds.documents):
        for j, e in enumerate(d.entities):
            if e.type not in ents:
                raise RecordError(ds.path, i + 1, f"entities[{j}].type", f"{e.type!r} is not in the schema")
        for j, r in enumerate(d.relations):
            if r.type not in rels:
                raise RecordError(ds.path, i + 1, f"relations[{j}].type", f"{r.type!r} is not in the schema")
    return ds


# --------------------------------------------------------------------------- CH-DDI / CMeIE


def _spo_schema(path: Path, fmt: str, records: list[ChddiRecord]) -> tuple[list[str], list[str]]:
    if fmt == "chddi":
        return list(ENTITY_TYPES), list(RELATION_LABELS)
    schema = sorted(path.parent.glob("*_schema.jsonl"))
    if schema:
        rows = [json.loads(t) for t in schema[0].read_text(encoding="utf-8").splitlines() if t.strip()]
        ents = sorted({r["subject_type"] for r in rows} | {r["object_type"] for r in rows})
        return ents, sorted({r["predicate"] for r in rows})
    ents = {s.subject_type for r in records for s in r.spo_list} | {
        s.object_type_text for r in records for s in r.spo_list}
    return sorted(ents), sorted({s.predicate for r in records for s in r.spo_list})


def occurrences(text: str, s: str) -> list[int]:
    """Start offsets of every (possibly overlapping) occurrence of ``s`` in ``text``."""
    out, i = [], text.find(s)
    while i >= 0:
        out.append(i)
        i = text.find(s, i + 1)
    return out


def _gap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(a[0] - b[1], b[0] - a[1], 0)


def _place(text: str, prompt: str | None, s: str, explicit, hint) -> tuple[tuple[int, int] | None, list[int], str]:
    """Rules 1-3 (and the hint of rule 4): (span or None, candidate starts, error or '')."""
    if explicit is not None:
        a, b = explicit
        if text[a:b] != s:
            return None, [], f"span text mismatch: text[{a}:{b}] is {text[a:b]!r}, not {s!r}"
        return (a, b), [a], ""
    if not s:
        return None, [], "empty string"
    if prompt and s == prompt:
        return (0, len(s)), [0], ""
    starts = occurrences(text, s)
    if not starts:
        return None, [], f"not found: {s!r} does not occur in the text"
    if len(starts) == 1:
        return (starts[0], starts[0] + len(s)), starts, ""
    if isinstance(hint, int):
        dist = sorted((abs(st - hint), st) for st in starts)
        if dist[0][0] != dist[1][0]:
            return (dist[0][1], dist[0][1] + len(s)), starts, ""
    return None, starts, ""


def _nearest(starts: list[int], length: int, anchor: tuple[int, int], s: str) -> tuple[tuple[int, int] | None, str]:
    ranked = sorted((_gap((st, st + length), anchor), st) for st in starts)
    if len(ranked) > 1 and ranked[0][0] == ranked[1][0]:
        return None, f"ambiguous: {s!r} occurs {len(starts)} times, two equally near the other argument"
    return (ranked[0][1], ranked[0][1] + length), ""


def align_spo(text: str, prompt: str | None, spo: Spo) -> tuple[tuple[int, int] | None, tuple[int, int] | None, str, str]:
    """(subject span, object span, failing field, reason) for one spo; spans are None on failure."""
    extra = spo.model_extra or {}
    subj, s_starts, err = _place(text, prompt, spo.subject, spo.subject_span, extra.get("subject_start_idx"))
    if err:
        return None, None, "subject", err
    obj, o_starts, err = _place(text, prompt, spo.object_text, spo.object_span, extra.get("object_start_idx"))
    if err:
        return None, None, "object", err
    if subj is None and obj is None:
        return None, None, "subject", (f"ambiguous: {spo.subject!r} and {spo.object_text!r} both occur several "
                                       "times and neither is placed")
    if subj is None:
        subj, err = _nearest(s_starts, len(spo.subject), obj, spo.subject)
        if err:
            return None, None, "subject", err
    if obj is None:
        obj, err = _nearest(o_starts, len(spo.object_text), subj, spo.object_text)
        if err:
            return None, None, "object", err
    if subj == obj:
        return None, None, "object", "subject and object are the same span"
    return subj, obj, "", ""


def align_record(rec: ChddiRecord, entity_types: set[str] | None = None, relation_types: set[str] | None = None,
                 ) -> tuple[SpanDocument, list[tuple[int, str, str]]]:
    """A character-level SpanDocument for ``rec`` and the (spo index, field, reason) of spo not used."""
    text, prompt = rec.text, rec.prompt
    spans: dict[tuple[int, int], int] = {}  # span -> entity index
    entities: list[SpanEntity] = []
    relations: set[tuple[int, int, str]] = set()
    problems: list[tuple[int, str, str]] = []

    for i, spo in enumerate(rec.spo_list):
        if relation_types is not None and spo.predicate not in relation_types:
            problems.append((i, "predicate", f"unknown type: predicate {spo.predicate!r} is not in the schema"))
            continue
        if entity_types is not None:
            bad = [(f, t) for f, t in (("subject_type", spo.subject_type), ("object_type", spo.object_type_text))
                   if t not in entity_types]
            if bad:
                problems.append((i, bad[0][0], f"unknown type: {bad[0][1]!r} is not in the schema"))
                continue
        subj, obj, fld, reason = align_spo(text, prompt, spo)
        if subj is None or obj is None:
            problems.append((i, fld, reason))
            continue
        typed = ((subj, spo.subject_type, "subject"), (obj, spo.object_type_text, "object"))
        clash = [(f, sp, t) for sp, t, f in typed if sp in spans and entities[spans[sp]].type != t]
        if clash:
            f, sp, t = clash[0]
            problems.append((i, f, f"type clash: span {list(sp)} is already a {entities[spans[sp]].type!r}, "
                                   f"not {t!r}"))
            continue
        idx = []
        for sp, t, _ in typed:
            if sp not in spans:
                spans[sp] = len(entities)
                entities.append(SpanEntity(type=t, start=sp[0], end=sp[1]))
            idx.append(spans[sp])
        relations.add((idx[0], idx[1], spo.predicate))
    doc = SpanDocument(tokens=list(text), entities=entities,
                       relations=[SpanRelation(type=t, head=h, tail=tl) for h, tl, t in sorted(relations)])
    return doc, problems
