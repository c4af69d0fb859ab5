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


class NoRecordsError(ValueError):
    """An input of which no record could be used: an empty file, or every line rejected."""

    def __init__(self, file: str | os.PathLike, rejected: int = 0, rejects: str | os.PathLike | None = None):
        self.file, self.rejected = str(file), rejected
        why = f"all {rejected} lines rejected" if rejected else "no records (empty file)"
        if rejected and rejects:
            why += f" -> {rejects}"
        super().__init__(f"{self.file}: nothing could be processed: {why}")


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


class UndecodableLine(str):
    """A line that is not valid UTF-8: its text with the bad bytes as ``\\xNN`` escapes (for the rejects
    file), and the located error that :func:`parse_line` raises for it."""

    error: RecordError


def require_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path, or FileNotFoundError worded ``path: no such file`` / ``path: is a directory``."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.is_dir():  # (a pipe or /dev/stdin is fine)
        raise FileNotFoundError(f"{p}: is a directory, not a file")
    return p


def iter_raw_lines(path: str | os.PathLike) -> Iterator[tuple[int, bytes, bool]]:
    """Every line of a file as (1-based line number, its bytes without the line end, whether it had a
    line end). A UTF-8 byte-order mark before line 1 is dropped (editors on Windows write one). Bytes,
    so that one bad byte cannot abort the whole file."""
    p = require_file(path)
    with p.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if line_no == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            terminated = raw.endswith(b"\n")
            yield line_no, raw.rstrip(b"\r\n"), terminated


def decode_line(path: str | os.PathLike, line_no: int, raw: bytes) -> str:
    """The line's text, or an :class:`UndecodableLine` (which :func:`parse_line` raises as an error
    located at this line and column) when it is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        col = len(raw[:exc.start].decode("utf-8", errors="replace")) + 1
        bad = UndecodableLine(raw.decode("utf-8", errors="backslashreplace"))
        bad.error = RecordError(path, line_no, "<encoding>", f"not UTF-8: byte 0x{raw[exc.start]:02x} at column {col}")
        return bad


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a UTF-8 text file as (1-based line number, text without the line end).

    A BOM before line 1 is dropped. A line that is not UTF-8 comes as an :class:`UndecodableLine`, so a
    reader reports it at its own line and, when skipping, goes on with the next one.
    """
    for line_no, raw, _ in iter_raw_lines(path):
        text = decode_line(path, line_no, raw)
        if isinstance(text, UndecodableLine) or text.strip():
            yield line_no, text


_BOM = b"\xef\xbb\xbf"


def parse_line(file: str | os.PathLike, line_no: int, text: str, model: type[T]) -> T:
    """Parse one JSONL line into ``model``; raises RecordError (the first failing field)."""
    if isinstance(text, UndecodableLine):
        raise text.error
    text = text.rstrip("\r\n")  # a line end would move JSON's error position to a second line
    try:  # fast path: pydantic parses and validates in one pass without Python objects in between
        return model.model_validate_json(text)
    except ValidationError:
        pass  # the two-step path below words the error (JSON column, record type, first field)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.pos counts characters from the start of the line: its 1-based column
        raise RecordError(file, line_no, "<json>", f"invalid JSON at column {exc.pos + 1}: {exc.msg}") from None
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
    ``require_records`` ends the iteration with :class:`NoRecordsError` when no line gave a record.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        model: type[T],
        *,
        on_error: OnError = "raise",
        rejects: str | os.PathLike | None = None,
        require_records: bool = False,
    ):
        self.path, self.model, self.on_error = Path(path), model, on_error
        self.require_records = require_records
        self.rejects_path = Path(rejects) if rejects else None
        self.n_ok = 0
        self.n_bad = 0
        self.n_torn = 0
        self.errors: list[RecordError] = []
        self._rejects_fh = None
        self.lines: list[int] = []  # the line number of each record yielded, in order

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
        try:
            for line_no, raw, terminated in iter_raw_lines(self.path):
                text = decode_line(self.path, line_no, raw)
                if not isinstance(text, UndecodableLine) and not text.strip():
                    continue
                try:
                    record = parse_line(self.path, line_no, text, self.model)
                except RecordError as err:
                    why = None if terminated else torn_reason(raw)
                    if why is not None:
                        self.n_torn += 1
                        self._set_aside(RecordError(self.path, line_no, TORN,
                                                    f"torn last line: no newline at the end of the file and {why} "
                                                    "(an interrupted write); set aside"),
                                        raw.decode("utf-8", errors="replace"))
                        continue
                    if self.on_error == "raise":
                        raise
                    self._set_aside(err, str(text))
                    continue
                self.n_ok += 1
                self.lines.append(line_no)
                yield record
            if self.require_records and self.n_ok == 0:
                # raised inside the consumer's loop: write_jsonl then drops its half-made output
                raise NoRecordsError(self.path, self.n_bad, self.rejects_path)
        finally:
            if self._rejects_fh is not None:
                self._rejects_fh.close()
                self._rejects_fh = None

    @property
    def nothing_read(self) -> bool:
        """No record could be read (an empty file, or every line rejected)."""
        return self.n_ok == 0

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
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600; an output is as open as any new file
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


def current_umask() -> int:
    """The process umask, read without changing it (os.umask sets it, a race with other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


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
