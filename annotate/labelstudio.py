"""Label Studio round trip: CH-DDI statements -> tasks with predictions; a Label Studio export -> CH-DDI.

Tasks follow Label Studio's JSON task format: ``data.text`` is the statement (``data.meta`` keeps the
CH-DDI meta), ``predictions[].result`` holds ``labels`` regions (``value.start``/``end``/``text``/
``labels: ["药物"]``) and ``relation`` results (``from_id`` -> ``to_id``, ``direction: "right"``,
``labels: [type]``) for the labeling config ``annotate/data/labelstudio_config.xml`` (``from_name="label"``,
``to_name="text"``). A relation is drawn from the subject (interacting drug) to the object (prompt drug).

Import reads Label Studio's JSON export (a list of tasks, or JSONL) and takes each task's last
non-cancelled annotation: relations become ``spo_list`` entries with ``subject_span``/``object_span`` from
the regions' offsets, so repeated strings stay distinct. CH-DDI holds only entities that take part in a
relation; drawn entities without one are counted, not kept.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ddikg.annotate.lexicon import Lexicon
from ddikg.annotate.preannotate import preannotate
from ddikg.annotate.rules import rule_spos
from ddikg.contracts import ChddiMeta, ChddiRecord, Spo, TypedValue
from ddikg.jsonl import OnError, UndecodableLine, iter_lines, require_file
from ddikg.labels import DRUG, RELATION_LABELS

FROM_NAME, TO_NAME = "label", "text"


def _region(rid: str, text: str, start: int, end: int) -> dict[str, Any]:
    return {"id": rid, "from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": [DRUG]}}


def _locate(text: str, value: str, span: tuple[int, int] | None) -> tuple[int, int]:
    if span is not None:
        return span
    i = text.find(value)
    if i < 0:
        raise ValueError(f"{value!r} does not occur in {text!r}")
    return i, i + len(value)


def record_result(rec: ChddiRecord, extra_entities: Iterable[tuple[int, int]] = ()) -> list[dict[str, Any]]:
    """The Label Studio ``result`` list of a record: its entities as regions, its spo_list as relations."""
    regions: dict[tuple[int, int], str] = {}
    result: list[dict[str, Any]] = []

    def region(span: tuple[int, int]) -> str:
        if span not in regions:
            regions[span] = f"e{len(regions)}"
            result.append(_region(regions[span], rec.text, *span))
        return regions[span]

    relations = []
    for spo in rec.spo_list:
        s = region(_locate(rec.text, spo.subject, spo.subject_span))
        o = region(_locate(rec.text, spo.object_text, spo.object_span))
        relations.append({"from_id": s, "to_id": o, "type": "relation", "direction": "right",
                          "labels": [spo.predicate]})
    for span in extra_entities:
        region(span)
    return result + relations


def export_tasks(records: Iterable[ChddiRecord], *, predictions: str = "rules", lexicon: Lexicon | None = None,
                 model_version: str | None = None) -> list[dict[str, Any]]:
    """Label Studio tasks for CH-DDI records.

    ``predictions="rules"``: jieba/lexicon entity candidates and the cue rules' relations;
    ``"record"``: the records' own ``spo_list`` (e.g. model output or an earlier annotation round);
    ``"none"``: text only. Boilerplate statements are left out.
    """
    if predictions not in ("rules", "record", "none"):
        raise ValueError(f"predictions must be rules, record or none, not {predictions!r}")
    if predictions == "rules" and lexicon is None:
        lexicon = Lexicon.load()
    tasks = []
    for rec in records:
        if rec.meta is not None and rec.meta.boilerplate:
            continue
        data: dict[str, Any] = {"text": rec.text}
        if rec.meta is not None:
            data["meta"] = rec.meta.model_dump(mode="json", exclude_none=True)
        task: dict[str, Any] = {"data": data}
        if predictions == "rules":
            cands = preannotate(rec.text, lexicon)
            spos = rule_spos(rec.text, cands)
            ents = [(c.start, c.end) for c in cands if c.kind in ("prompt", "drug", "dclass")]
            result = record_result(rec.model_copy(update={"spo_list": spos}), ents)
            task["predictions"] = [{"model_version": model_version or "ddikg-rules", "result": result}]
        elif predictions == "record":
            scores = [s.score for s in rec.spo_list if s.score is not None]
            pred: dict[str, Any] = {"model_version": model_version or "ddikg-record", "result": record_result(rec)}
            if scores:
                pred["score"] = min(scores)
            task["predictions"] = [pred]
        tasks.append(task)
    return tasks


def write_tasks(path: str | os.PathLike, tasks: list[dict[str, Any]]) -> Path:
    """Write tasks as the JSON list Label Studio imports."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- import


class ImportProblem(ValueError):
    """A task of a Label Studio export that cannot become a CH-DDI record, located by task and field."""

    def __init__(self, file: str, task: int, task_id: Any, field: str, message: str):
        self.file, self.task, self.task_id, self.field, self.message = file, task, task_id, field, message
        self.raw: str | None = None  # the line's text, for a JSONL line that is not a task at all
        super().__init__(f"{file}: task #{task} (id {task_id}): {field}: {message}")


class ImportSummary(BaseModel):
    tasks: int = 0
    imported: int = 0
    relations: int = 0
    unannotated: int = 0  # tasks without a usable annotation (skipped, counted)
    unlinked_entities: int = 0  # regions that take part in no relation (CH-DDI cannot hold them)
    rejected: int = 0
    rejects: Path | None = None


def _load_export(path: Path) -> list[Any]:
    """The tasks of a JSON list or JSONL export. A JSONL line that cannot be read comes as an
    ImportProblem in its place, so ``--on-error skip`` sets that line aside and goes on."""
    data = require_file(path).read_bytes().removeprefix(b"\xef\xbb\xbf")  # an editor's BOM
    if data.lstrip().startswith(b"["):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise ImportProblem(str(path), 0, None, "<encoding>",
                                f"line {line}: not UTF-8: byte 0x{data[exc.start]:02x}") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportProblem(str(path), 0, None, "<json>",
                                f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    out: list[Any] = []
    for i, line in iter_lines(path):
        if isinstance(line, UndecodableLine):
            problem = ImportProblem(str(path), len(out), None, "<encoding>", f"line {i}: {line.error.message}")
        else:
            try:
                out.append(json.loads(line))
                continue
            except json.JSONDecodeError as exc:
                problem = ImportProblem(str(path), len(out), None, "<json>",
                                        f"line {i}: invalid JSON at column {exc.pos + 1}: {exc.msg}")
        problem.raw = str(line)
        out.append(problem)
    return out


def _pick_annotation(task: dict[str, Any]) -> dict[str, Any] | None:
    anns = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    if not anns:
        return None
    return max(enumerate(anns), key=lambda ia: (str(ia[1].get("updated_at") or ""), ia[0]))[1]


def task_to_record(task: dict[str, Any], *, file: str = "<export>", index: int = 0) -> tuple[ChddiRecord | None, int]:
    """(record or None when unannotated, number of unlinked regions); ImportProblem on bad content."""
    tid = task.get("id")

    def problem(field: str, message: str) -> ImportProblem:
        return ImportProblem(file, index, tid, field, message)

    data = task.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("text"), str) or not data["text"].strip():
        raise problem("data.text", "missing or empty")
    text = data["text"]
    ann = _pick_annotation(task)
    if ann is None:
        return None, 0
    regions: dict[str, tuple[int, int]] = {}
    relations = []
    for j, item in enumerate(ann.get("result") or []):
        kind = item.get("type")
        where = f"annotations.result[{j}]"
        if kind == "labels":
            v = item.get("value") or {}
            start, end = v.get("start"), v.get("end")
            if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= len(text):
                raise problem(f"{where}.value", f"bad offsets start={start!r} end={end!r} for {len(text)} chars")
            if "text" in v and text[start:end] != v["text"]:
                raise problem(f"{where}.value.text", f"{v['text']!r} is not the text at [{start}, {end}) "
                                                     f"({text[start:end]!r})")
            labels = v.get("labels") or []
            if labels != [DRUG]:
                raise problem(f"{where}.value.labels", f"{labels!r}: the only entity label is {DRUG}")
            regions[str(item.get("id"))] = (start, end)
        elif kind == "relation":
            relations.append((j, item))
        else:
            raise problem(f"{where}.type", f"{kind!r} is not a labels or relation result")
    spos: list[Spo] = []
    linked: set[str] = set()
    for j, item in relations:
        where = f"annotations.result[{j}]"
        a, b = str(item.get("from_id")), str(item.get("to_id"))
        for rid in (a, b):
            if rid not in regions:
                raise problem(where, f"relation refers to unknown region {rid!r}")
        direction = item.get("direction", "right")
        if direction == "left":
            a, b = b, a
        elif direction != "right":
            raise problem(f"{where}.direction", f"{direction!r}: a DDI relation needs a direction (subject -> object)")
        labels = item.get("labels") or []
        if len(labels) != 1 or labels[0] not in RELATION_LABELS:
            raise problem(f"{where}.labels", f"{labels!r}: need exactly one of {' '.join(RELATION_LABELS)}")
        (ss, se), (os_, oe) = regions[a], regions[b]
        linked.update((a, b))
        spos.append(Spo(predicate=labels[0], subject=text[ss:se], object=TypedValue.of(text[os_:oe]),
                        subject_span=(ss, se), object_span=(os_, oe)))
    meta = ChddiMeta.model_validate(data["meta"]) if isinstance(data.get("meta"), dict) else None
    try:
        rec = ChddiRecord(text=text, spo_list=spos, meta=meta)
    except ValueError as exc:
        raise problem("record", str(exc)) from None
    return rec, len(set(regions) - linked)


def import_export(path: str | os.PathLike, *, on_error: OnError = "raise",
                  rejects: str | os.PathLike | None = None) -> tuple[list[ChddiRecord], ImportSummary]:
    """Turn a Label Studio JSON export into CH-DDI records (bad tasks raise, or are written to ``rejects``)."""
    path = Path(path)
    tasks = _load_export(path)
    if not isinstance(tasks, list):
        raise ImportProblem(str(path), 0, None, "<json>", "expected a list of tasks")
    summary = ImportSummary(tasks=len(tasks), rejects=Path(rejects) if rejects else None)
    records: list[ChddiRecord] = []
    bad: list[dict[str, Any]] = []
    for i, task in enumerate(tasks):
        try:
            if isinstance(task, ImportProblem):
                raise task
            if not isinstance(task, dict):
                raise ImportProblem(str(path), i, None, "<task>", "expected a JSON object")
            rec, unlinked = task_to_record(task, file=str(path), index=i)
        except ImportProblem as exc:
            if on_error == "raise":
                raise
            bad.append({"file": exc.file, "task": exc.task, "task_id": exc.task_id, "field": exc.field,
                        "error": exc.message, "raw": task if exc.raw is None else exc.raw})
            continue
        if rec is None:
            summary.unannotated += 1
            continue
        records.append(rec)
        summary.imported += 1
        summary.relations += len(rec.spo_list)
        summary.unlinked_entities += unlinked
    summary.rejected = len(bad)
    if bad and rejects:
        Path(rejects).parent.mkdir(parents=True, exist_ok=True)
        with open(rejects, "w", encoding="utf-8") as fh:
            for row in bad:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return records, summary


def iter_tasks(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    for task in _load_export(Path(path)):
        if isinstance(task, ImportProblem):
            raise task
        yield task
