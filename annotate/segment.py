"""@-segmentation: a drug's 药物相互作用 section -> one CH-DDI statement per interaction.

The paper's step (2): ``<布美他尼片><药物相互作用><1.与多巴胺合用,利尿作用加强。2.…>`` becomes
``布美他尼片@与多巴胺合用,利尿作用加强``, ``布美他尼片@…``. The rules (documented in docs/annotate.md):

* **Normalisation** (:func:`normalize`): full-width ASCII forms (U+FF01–FF5E: ``，；：（）０-９Ａ-Ｚ～``)
  and the ideographic space become ASCII, so ``，`` and ``,`` read the same; ``。`` and ``、`` have no
  ASCII twin and stay. Whitespace runs become one space, kept only between two ASCII letters/digits.
* **Numbered items** (``1.`` ``1、`` ``(1)`` ``（1）`` ``①`` ``一、``): each item is one statement, kept whole
  even when it has several clauses or sentences. Markers nest (``1.`` containing ``(1)``…); a lead-in
  sentence that ends with a colon (``与下列药物合用可增强本品的降压作用:``), in an item or in the text
  before the first marker, is carried into each of the items under it
  (``…降压作用:利尿药``, ``…降压作用:β受体阻滞剂``); sentences before it stay statements of their own.
  A marker counts at the start, after ``。;:!?``, after whitespace or after another marker; elsewhere it
  counts only when it continues its level's sequence (``…加强2.肾上腺…``), and never before a digit
  (``2.5mg``). Numbers may skip (``1. 2. 4.``).
* **Un-numbered text** is split into sentences at ``。`` and ``;``; commas never split.
* Leading/trailing ``。;,.、`` and spaces are removed from each statement (the paper drops the final ``。``).
* **Boilerplate** (``尚不明确``, ``尚无本品与其他药物相互作用的资料``, ``目前尚无相关研究资料``,
  ``如与其他药物同时使用可能会发生药物相互作用，详情请咨询医师或药师`` …) is
  written with ``meta.boilerplate = true`` so the extract stage can skip it; inside a numbered item a
  boilerplate sentence is split off from the item.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from ddikg.contracts import ChddiMeta, ChddiRecord, RawDrugRecord
from ddikg.jsonl import JsonlReader, OnError, write_jsonl

# --------------------------------------------------------------------------- normalisation

_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_SPACE_RUN = re.compile(r"\s+")
_INNER_SPACE = re.compile(r"(?<![A-Za-z0-9]) | (?![A-Za-z0-9])")
_EDGE = "。;,.、:!? "


def _widths(text: str) -> str:
    # Width only, whitespace runs collapsed but kept: list markers after a line break still count.
    return _SPACE_RUN.sub(" ", text.translate(_WIDTH))


def normalize(text: str) -> str:
    """Width and whitespace normalisation shared by segmentation, annotation and the sample corpus."""
    return _INNER_SPACE.sub("", _widths(text)).strip()


def _clean(statement: str) -> str:
    return normalize(statement).strip(_EDGE)


# --------------------------------------------------------------------------- boilerplate

_BOILERPLATE = [
    re.compile(p)
    for p in (
        r"^(本品)?(与其他药物的相互作用)?尚(不明确|不清楚|未明确|无相关资料)$",
        # 尚无本品与其他药物相互作用的资料, 目前尚无相关研究资料, 尚未进行该项研究, 暂无相关数据 ...
        r"^(目前)?[尚暂]?(无|未见|未有|未进行|未开展)(本品)?(与其他药物)?(相关|的)?(药物)?(相互作用)?的?"
        r"(相关)?(研究)?(资料|研究|报道|数据|文献)$",
        r"^未进行该项(实验|试验)且无可靠参考文献$",
        r"^无$",
        r"如与其他药物同时使用可能会?发生药物相互作用",
        r"^(详情)?请(咨询|遵)医师或药师",
    )
]
_NON_WORD = re.compile(r"[\s。;,.、:!?()\"'“”]")


def is_boilerplate(statement: str) -> bool:
    """True for statements that carry no interaction (``尚不明确``, the consult-your-pharmacist line…)."""
    bare = _NON_WORD.sub("", normalize(statement))
    return any(p.search(bare) for p in _BOILERPLATE)


# --------------------------------------------------------------------------- numbered items

_CN_DIGITS = {c: i for i, c in enumerate("一二三四五六七八九", start=1)}


def _cn_number(numeral: str) -> int:
    """一 -> 1, 十 -> 10, 十二 -> 12, 二十三 -> 23."""
    tens, ten, ones = numeral.partition("十")
    if not ten:
        return _CN_DIGITS.get(numeral, 0)
    return (_CN_DIGITS.get(tens, 0) if tens else 1) * 10 + _CN_DIGITS.get(ones, 0)


_MARKER = re.compile(
    r"(?P<num>(?<![0-9A-Za-z.])(?P<n>\d{1,2})[.、](?![0-9]))"
    r"|(?P<paren>\((?P<pn>\d{1,2})\))"
    r"|(?P<circ>[\u2460-\u2473])"
    r"|(?P<cn>(?P<cnn>[一二三四五六七八九十]{1,3})、)"
)
_BOUNDARY_BEFORE = set("。;:!?")


@dataclass
class _Item:
    depth: int
    start: int  # where the item's text starts (after its marker)
    end: int = -1
    children: list[_Item] = field(default_factory=list)


def _marker_value(m: re.Match) -> tuple[str, int]:
    if m.group("num"):
        return "num", int(m.group("n"))
    if m.group("paren"):
        return "paren", int(m.group("pn"))
    if m.group("circ"):
        return "circ", ord(m.group("circ")) - 0x2460 + 1
    return "cn", _cn_number(m.group("cnn"))


def _markers(text: str) -> list[tuple[int, int, int]]:
    """Accepted list markers as (depth, marker start, marker end), in text order."""
    out: list[tuple[int, int, int]] = []
    stack: list[list] = []  # [kind, last number] per nesting level
    last_end = -1
    for m in _MARKER.finditer(text):
        kind, n = _marker_value(m)
        before = text[: m.start()].rstrip()
        boundary = (
            not before
            or before[-1] in _BOUNDARY_BEFORE
            or m.start() > 0 and text[m.start() - 1].isspace()
            or m.start() == last_end
        )
        kinds = [k for k, _ in stack]
        if kind in kinds:
            level = kinds.index(kind)
            if not boundary and kind != "circ" and n != stack[level][1] + 1:
                continue
            del stack[level + 1 :]
            stack[level][1] = n
        else:
            if not boundary and not (n == 1 and kind in ("paren", "circ")):
                continue
            if kind == "cn" and not boundary:
                continue
            stack.append([kind, n])
            level = len(stack) - 1
        out.append((level, m.start(), m.end()))
        last_end = m.end()
    return out


def _sentences(text: str) -> list[str]:
    return [s for s in (_clean(p) for p in re.split(r"[。;]", text)) if s]


def _split_item(text: str) -> list[str]:
    """A numbered item stays whole, except that boilerplate sentences inside it are split off."""
    parts = [p for p in re.split(r"(?<=[。;])", text) if _clean(p)]
    out: list[str] = []
    body = ""
    for part in parts:
        if is_boilerplate(part):
            if _clean(body):
                out.append(_clean(body))
            body = ""
            out.append(_clean(part))
        else:
            body += part
    if _clean(body):
        out.append(_clean(body))
    return out


def _lead(text: str) -> tuple[list[str], str]:
    """``text``'s sentences and, when it ends in a colon, its last sentence as a lead-in (colon kept)."""
    sentences = _sentences(text)
    if sentences and text.rstrip().endswith(":") and not is_boilerplate(sentences[-1]):
        *before, last = sentences
        return before, last + ":"
    return sentences, ""


def split_statements(section: str) -> list[str]:
    """The statements of one interaction section, normalised, in order (boilerplate included)."""
    text = _widths(section).strip()
    marks = _markers(text)
    if not marks:
        return _sentences(text)
    # Text before the first marker: sentences, except that a last sentence ending in a colon
    # (``与下列药物合用可增强本品的降压作用:（1）利尿药;（2）…``) is a lead-in carried into every top-level item.
    out, root_prefix = _lead(text[: marks[0][1]])
    # Build the item tree: each marker opens an item that runs to the next marker.
    items = [_Item(depth, end) for depth, _, end in marks]
    for item, nxt in zip(items, marks[1:] + [(0, len(text), len(text))], strict=True):
        item.end = nxt[1]
    roots: list[_Item] = []
    path: list[_Item] = []
    for item in items:
        while path and path[-1].depth >= item.depth:
            path.pop()
        (path[-1].children if path else roots).append(item)
        path.append(item)

    def walk(item: _Item, prefix: str) -> None:
        own = text[item.start : item.end]
        if not item.children:
            for st in _split_item(own):
                out.append(st if is_boilerplate(st) else _clean(prefix + st))
            return
        lead = own.strip()
        if lead.endswith(":"):
            before, carried = _lead(lead)
            out.extend(_clean(prefix + s) for s in before)
            child_prefix = prefix + carried
        else:
            out.extend(_clean(prefix + s) if not is_boilerplate(s) else s for s in _split_item(lead))
            child_prefix = prefix
        for child in item.children:
            walk(child, child_prefix)

    for root in roots:
        walk(root, root_prefix)
    return [s for s in out if s]


# --------------------------------------------------------------------------- records and files


def segment_record(rec: RawDrugRecord) -> list[ChddiRecord]:
    """One CH-DDI record per statement of ``rec``'s interaction section (none when it has none)."""
    section = rec.interactions
    if not section or not section.strip():
        return []
    name = normalize(rec.name)
    records = []
    for i, statement in enumerate(split_statements(section)):
        meta = ChddiMeta(source_drug=name, drug_id=rec.drug_id, source_url=rec.url, index=i,
                         boilerplate=is_boilerplate(statement))
        records.append(ChddiRecord(text=f"{name}@{statement}", meta=meta))
    return records


class SegmentSummary(BaseModel):
    drugs: int = 0
    statements: int = 0  # all statements written, boilerplate included
    boilerplate: int = 0
    skipped_unchanged: int = 0
    no_interaction_section: int = 0
    rejected: int = 0  # bad input lines (with on_error="skip"; written to the rejects file)
    out: Path

    def line(self) -> str:
        return (f"{self.drugs} drugs -> {self.statements} statements ({self.boilerplate} boilerplate) -> {self.out}; "
                f"{self.no_interaction_section} without an interaction section, "
                f"{self.skipped_unchanged} unchanged skipped, {self.rejected} rejected")


def segment_file(
    in_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    only_changed: bool = False,
    on_error: OnError = "raise",
    rejects: str | os.PathLike | None = None,
    progress: bool = False,
    require_records: bool = False,
) -> SegmentSummary:
    """Segment a raw crawl file into a CH-DDI file (written atomically).

    ``only_changed`` skips records the crawler marked ``change == "unchanged"`` (incremental runs).
    ``progress``: a bar over the input's lines on a terminal (:mod:`ddikg.progress`).
    ``require_records``: an input with no valid record raises :class:`ddikg.jsonl.NoRecordsError` and
    writes nothing.
    """
    from ddikg.progress import track, wanted

    summary = SegmentSummary(out=Path(out_path))
    reader = JsonlReader(in_path, RawDrugRecord, on_error=on_error, rejects=rejects,
                         require_records=require_records)
    # the total is the input's line count (blank lines included), read only when a bar is drawn
    total = _count_lines(in_path) if wanted(progress) else None

    def records():
        for rec in track(reader, "segment", total=total, enabled=progress, unit="drugs"):
            summary.drugs += 1
            if only_changed and rec.change == "unchanged":
                summary.skipped_unchanged += 1
                continue
            statements = segment_record(rec)
            if not statements:
                summary.no_interaction_section += 1
            for st in statements:
                summary.statements += 1
                summary.boilerplate += bool(st.meta and st.meta.boilerplate)
                yield st

    write_jsonl(out_path, records())
    summary.rejected = reader.n_bad
    return summary


def _count_lines(path: str | os.PathLike) -> int | None:
    try:
        with open(path, "rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except OSError:
        return None  # the reader reports a missing file with its own message
