"""JSONL reading and writing for the stage contracts.

Every error names ``file:line``, the field and the problem. With ``on_error="skip"`` a bad line is
written aside to a *rejects* file (one JSON object per bad line: file, line, field, error, raw) and
counted, so nothing is silently lost::

    reader = JsonlReader(path, ChddiRecord, on_error="skip", rejects=path.with_suffix(".rejects.jsonl"))
    records = list(reader)
    print(reader.summary())   # "412 read, 3 rejected -> corpus.rejects.jsonl"
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)
OnError = Literal["raise", "skip"]


class RecordError(ValueError):
    """A record that failed to parse or validate, located by file, line and field."""

    def __init__(self, file: str | os.PathLike, line: int, field: str, message: str):
        self.file, self.line, self.field, self.message = str(file), line, field, message
        super().__init__(f"{self.file}:{line}: {field}: {message}")

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "field": self.field, "error": self.message}


def _field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<record>"


def validation_errors(file: str | os.PathLike, line: int, exc: ValidationError) -> list[RecordError]:
    """Translate a pydantic error into located RecordErrors (one per failing field)."""
    errs = []
    for e in exc.errors(include_url=False):
        loc = tuple(p for p in e.get("loc", ()) if p not in ("function-after", "function-before"))
        errs.append(RecordError(file, line, _field_path(loc), e.get("msg", "invalid")))
    return errs


def parse_line(file: str | os.PathLike, line_no: int, text: str, model: type[T]) -> T:
    """Parse one JSONL line into ``model``; raises RecordError (the first failing field)."""
    try:  # fast path: pydantic parses and validates in one pass without Python objects in between
        return model.model_validate_json(text)
    except ValidationError:
        pass  # the two-step path below words the error (JSON column, record type, first field)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(file, line_no, "<json>", f"invalid JSON at column {exc.colno}: {exc.msg}") from None
    if not isinstance(obj, dict):
        raise RecordError(file, line_no, "<record>", f"expected a JSON object, got {type(obj).__name__}")
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        errs = validation_errors(file, line_no, exc)
        first = errs[0]
        if len(errs) > 1:
            first.message += f" (and {len(errs) - 1} more: " + ", ".join(e.field for e in errs[1:4]) + ")"
            first.args = (f"{first.file}:{first.line}: {first.field}: {first.message}",)
        raise first from None


TORN = "<torn>"  # the field of a torn last line in the rejects


def torn_reason(raw: bytes) -> str | None:
    """Why ``raw``, a file's last line without its newline, is the prefix of a line an interrupted write
    cut off (a killed writer); None when it is a whole (possibly bad) line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "it ends inside a UTF-8 character" if exc.reason == "unexpected end of data" else None
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg.startswith("Unterminated string") or exc.pos >= len(text.rstrip()):
            return "its JSON ends early"
    return None


class JsonlReader(Generic[T]):
    """Iterate the records of a JSONL file, validating each line against ``model``.

    Blank lines are ignored. ``on_error="raise"`` stops at the first bad line with a RecordError;
    ``"skip"`` writes it to ``rejects`` (if given), counts it and continues. Either way a *torn last
    line* (no newline at the end of the file and cut off mid-record: what a writer killed mid-write
    leaves) is set aside like a skipped line, with field ``<torn>`` and the reason, and counted in
    ``n_torn`` (and ``n_bad``); the lines before it are read normally.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        model: type[T],
        *,
        on_error: OnError = "raise",
        rejects: str | os.PathLike | None = None,
    ):
        self.path, self.model, self.on_error = Path(path), model, on_error
        self.rejects_path = Path(rejects) if rejects else None
        self.n_ok = 0
        self.n_bad = 0
        self.n_torn = 0
        self.errors: list[RecordError] = []
        self._rejects_fh = None

    def _set_aside(self, err: RecordError, raw: str) -> None:
        self.n_bad += 1
        self.errors.append(err)
        if self.rejects_path is not None:
            if self._rejects_fh is None:
                self.rejects_path.parent.mkdir(parents=True, exist_ok=True)
                self._rejects_fh = self.rejects_path.open("w", encoding="utf-8")
            row = err.as_dict() | {"raw": raw}
            self._rejects_fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    def __iter__(self) -> Iterator[T]:
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no such file")
        try:
            with self.path.open("rb") as fh:
                for line_no, raw in enumerate(fh, start=1):
                    last_unterminated = not raw.endswith(b"\n")
                    try:
                        text = raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        text = None
                        bad: RecordError = RecordError(self.path, line_no, "<encoding>", f"not UTF-8: {exc.reason}")
                    if text is not None:
                        if not text.strip():
                            continue
                        try:
                            record = parse_line(self.path, line_no, text, self.model)
                        except RecordError as err:
                            bad = err
                        else:
                            self.n_ok += 1
                            yield record
                            continue
                    why = torn_reason(raw) if last_unterminated else None
                    if why is not None:
                        self.n_torn += 1
                        self._set_aside(RecordError(self.path, line_no, TORN,
                                                    f"torn last line: no newline at the end of the file and {why} "
                                                    "(an interrupted write); set aside"),
                                        raw.decode("utf-8", errors="replace"))
                        continue
                    if self.on_error == "raise":
                        raise bad
                    self._set_aside(bad, raw.decode("utf-8", errors="replace").rstrip("\n"))
        finally:
            if self._rejects_fh is not None:
                self._rejects_fh.close()
                self._rejects_fh = None

    def read_all(self) -> list[T]:
        return list(self)

    def summary(self) -> str:
        s = f"{self.n_ok} read, {self.n_bad} rejected"
        if self.n_bad and self.rejects_path:
            s += f" -> {self.rejects_path}"
        return s


def read_jsonl(
    path: str | os.PathLike,
    model: type[T],
    *,
    on_error: OnError = "raise",
    rejects: str | os.PathLike | None = None,
) -> list[T]:
    """Read a whole contract file; see :class:`JsonlReader`."""
    return JsonlReader(path, model, on_error=on_error, rejects=rejects).read_all()


def default_rejects_path(path: str | os.PathLike) -> Path:
    """``corpus.jsonl`` -> ``corpus.rejects.jsonl`` beside it."""
    p = Path(path)
    return p.with_name(p.name.removesuffix(".jsonl") + ".rejects.jsonl")


def write_jsonl(path: str | os.PathLike, records: Iterable[BaseModel | dict]) -> int:
    """Write records atomically (temp file + rename): a crash never leaves a half-written contract file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for rec in records:
                if isinstance(rec, BaseModel):
                    obj = rec.model_dump(mode="json", by_alias=True, exclude_none=True)
                else:
                    obj = rec
                fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
                n += 1
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def append_jsonl(path: str | os.PathLike, records: Iterable[BaseModel | dict]) -> int:
    """Append records (for incremental logs such as per-epoch metrics)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("a", encoding="utf-8") as fh:
        for rec in records:
            obj = rec.model_dump(mode="json", by_alias=True, exclude_none=True) if isinstance(rec, BaseModel) else rec
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
            n += 1
    return n
