"""Builder of the CH-DDI corpus and of the fixture site's drug pages, from the hand-written source.

``python -m ddikg.annotate.corpus`` reads ``annotate/data/chddi/source/*.txt`` and writes

* ``crawler/fixture_site/content/drugs.jsonl`` — the fixture site's drug instructions (the crawler
  renders them to HTML) and ``crawler/fixture_site/profile.toml``, whose disease seeds follow them, and
* ``annotate/data/chddi/{train,dev,test}.jsonl`` — the gold corpus, split by drug (:data:`DEV_DRUGS`,
  :data:`TEST_DRUGS`; every other drug is train).

``--check`` builds everything in memory and exits 1 when a written file differs from the build.

Source format (one UTF-8 file per therapeutic class, see ``annotate/data/chddi/README.md``)::

    @class H23 利尿药                 category code and name of every drug in the file
    @disease 高血压                   disease listing(s) the drugs are filed under (comma-separated)
    @适应症 …                         default page sections (适应症 不良反应 禁忌 注意事项 用法用量)

    == 10001 布美他尼片 | 布美他尼    drug id, page name, 成份
    @用法用量 …                       per-drug section or @disease override
    1.与[多巴胺|协同]合用,利尿作用加强。
    3.与下列药物合用可增强本品的降压作用：
      （1）[利尿药|协同]；
      （2）[β受体阻滞剂|协同]。
    !如与其他药物同时使用可能会发生药物相互作用，详情请咨询医师或药师。

The interaction section is the drug's lines, markup removed, joined as written. ``[多巴胺|协同]`` marks a
subject drug and the relation it has with the page's drug (the object). Each line is one authored
statement (its list marker and end punctuation are not part of it); an indented line is an item under the
lead-in line above it, which ends in a colon, and its statement is the lead-in followed by the item;
``!`` marks a boilerplate line. The build segments every page with :func:`ddikg.annotate.segment.segment_record`
and asserts it gives back exactly the authored statements and boilerplate flags, so crawl -> segment ->
model lines up by construction.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ddikg.contracts import ChddiMeta, ChddiRecord, RawDrugRecord, Spo, TypedValue

ANNOTATE = Path(__file__).resolve().parent
SOURCE_DIR = ANNOTATE / "data" / "chddi" / "source"
CORPUS_DIR = ANNOTATE / "data" / "chddi"
FIXTURE = ANNOTATE.parent / "crawler" / "fixture_site" / "content" / "drugs.jsonl"
FIXTURE_PROFILE = ANNOTATE.parent / "crawler" / "fixture_site" / "profile.toml"  # disease seeds follow the pages
FIXTURE_URL = "http://127.0.0.1/drugref/html/{drug_id}.shtml"  # crawler profile's drug_page on loopback

# Split by drug. Test: 20 % of the drugs with statements, at least one per class, chosen so that their
# masked wordings do not occur in train (`ddikg annotate stats --overlap`); dev: 10 %, carved from the
# remaining (training) drugs, for epoch selection and model promotion only.
TEST_DRUGS: frozenset[str] = frozenset({
    "10005", "10011", "10022", "10025", "10031", "10046", "10053", "10054", "10061", "10064", "10077",
    "10081", "10087", "10091", "10098", "10101", "10111", "10124", "10126", "10131", "10141", "10151",
    "10161", "10171", "10181",
})
DEV_DRUGS: frozenset[str] = frozenset({
    "10003", "10013", "10024", "10044", "10052", "10063", "10074", "10084", "10095", "10113", "10123",
    "10133", "10176", "10183",
})

SECTION_ORDER = ["药品名称", "成份", "适应症", "用法用量", "不良反应", "禁忌", "注意事项", "药物相互作用", "贮藏"]
DEFAULT_FIELDS = {"适应症", "不良反应", "禁忌", "注意事项", "用法用量"}
STORAGE = "遮光，密封保存。"

_MARKUP = re.compile(r"\[([^\[\]|]+)\|([^\[\]|]+)\]")
_LIST_MARKER = re.compile(r"^\s*(\d{1,2}[.、]|[（(]\d{1,2}[)）]|[\u2460-\u2473]|[一二三四五六七八九十]{1,3}、)\s*")
_EDGE = "。;,.、:!? "


# --------------------------------------------------------------------------- source records


@dataclass
class SourceLine:
    text: str  # as on the page, with markup
    boilerplate: bool = False
    children: list[str] = field(default_factory=list)  # indented items under a lead-in


@dataclass
class DrugSource:
    drug_id: str
    name: str
    ingredient: str
    category: tuple[str, str]
    diseases: list[str]
    sections: dict[str, str]
    lines: list[SourceLine]
    origin: str  # file:line, for messages


class SourceError(ValueError):
    pass


def strip_markup(marked: str) -> tuple[str, list[tuple[int, int, str, str]]]:
    """``与[多巴胺|协同]合用`` -> (``与多巴胺合用``, [(1, 4, '多巴胺', '协同')])."""
    out, ents, pos, n = [], [], 0, 0
    for m in _MARKUP.finditer(marked):
        out.append(marked[pos:m.start()])
        n += m.start() - pos
        ents.append((n, n + len(m.group(1)), m.group(1), m.group(2)))
        out.append(m.group(1))
        n += len(m.group(1))
        pos = m.end()
    out.append(marked[pos:])
    return "".join(out), ents


def parse_source(path: Path) -> list[DrugSource]:
    """The drugs of one class file."""
    header: dict[str, str] = {}
    drugs: list[DrugSource] = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"{path.name}:{lineno}"
        if not raw.strip() or raw.startswith("#"):
            continue
        if raw.startswith("== "):
            m = re.match(r"^== (\d+) (\S+) \| (.+)$", raw)
            if not m or "class" not in header:
                raise SourceError(f"{where}: expected '== ID NAME | 成份' after an @class header")
            code, _, cname = header["class"].partition(" ")
            drugs.append(DrugSource(
                drug_id=m.group(1), name=m.group(2), ingredient=m.group(3).strip(), category=(code, cname),
                diseases=_diseases(header["disease"]),
                sections={k: v for k, v in header.items() if k in DEFAULT_FIELDS}, lines=[], origin=where))
            continue
        if raw.startswith("@"):
            key, _, value = raw[1:].partition(" ")
            if drugs and key == "disease":
                drugs[-1].diseases = _diseases(value)
            elif drugs:
                drugs[-1].sections[key] = value.strip()
            else:
                header[key] = value.strip()
            continue
        if not drugs:
            raise SourceError(f"{where}: statement before the first drug")
        lines = drugs[-1].lines
        if raw[0].isspace():
            if not lines or not normalize_text(lines[-1].text).endswith(":"):
                raise SourceError(f"{where}: indented item without a lead-in ending in a colon above it")
            lines[-1].children.append(raw.strip())
        elif raw.startswith("!"):
            lines.append(SourceLine(raw[1:].strip(), boilerplate=True))
        else:
            lines.append(SourceLine(raw.strip()))
    return drugs


def _diseases(value: str) -> list[str]:
    return [d.strip() for d in re.split(r"[,，]", value) if d.strip()]


def load_sources(source_dir: Path = SOURCE_DIR) -> list[DrugSource]:
    drugs = [d for path in sorted(source_dir.glob("*.txt")) for d in parse_source(path)]
    seen: dict[str, str] = {}
    for d in drugs:
        for key in (d.drug_id, d.name):
            if key in seen:
                raise SourceError(f"{d.origin}: {key} already used at {seen[key]}")
            seen[key] = d.origin
        for line in d.lines:
            for text in (line.text, *line.children):
                _, ents = strip_markup(text)
                bad = [rel for *_, rel in ents if rel not in _labels()]
                if bad:
                    raise SourceError(f"{d.origin}: unknown relation type {bad} in {text!r}")
    return drugs


def _labels() -> set[str]:
    from ddikg.labels import RELATION_LABELS

    return set(RELATION_LABELS)


# --------------------------------------------------------------------------- pages


def normalize_text(text: str) -> str:
    from ddikg.annotate.segment import normalize

    return normalize(text)


def interaction_section(drug: DrugSource) -> str | None:
    """The page's 药物相互作用 text: the lines without markup and without the ``!`` flag, joined."""
    if not drug.lines:
        return None
    parts = [strip_markup(x)[0] for line in drug.lines for x in (line.text, *line.children)]
    return "".join(parts)


def page(drug: DrugSource) -> dict:
    """One fixture-site record (the fields of ``crawler/fixture_site/content/drugs.jsonl``)."""
    sections = {"药品名称": drug.name, "成份": f"本品主要成份为{drug.ingredient}。"} | drug.sections
    section = interaction_section(drug)
    if section is not None:
        sections["药物相互作用"] = section
    sections["贮藏"] = STORAGE
    ordered = {k: sections[k] for k in SECTION_ORDER if k in sections}
    return {"drug_id": drug.drug_id, "name": drug.name,
            "categories": [{"code": drug.category[0], "name": drug.category[1]}],
            "diseases": drug.diseases, "sections": ordered | sections}


def raw_record(p: dict) -> RawDrugRecord:
    """The RawDrugRecord the crawler emits for a fixture page (category names, sections as given)."""
    return RawDrugRecord(drug_id=p["drug_id"], name=p["name"], url=FIXTURE_URL.format(drug_id=p["drug_id"]),
                         categories=[c["name"] for c in p["categories"]], diseases=p["diseases"],
                         sections=p["sections"])


# --------------------------------------------------------------------------- statements


def _statement(text: str) -> str:
    return normalize_text(_LIST_MARKER.sub("", text, count=1)).strip(_EDGE)


def authored(drug: DrugSource) -> list[tuple[str, bool]]:
    """The (marked statement, boilerplate) pairs the author wrote for ``drug``, in page order."""
    out: list[tuple[str, bool]] = []
    for line in drug.lines:
        if not line.children:
            out.append((_statement(line.text), line.boilerplate))
            continue
        lead = normalize_text(_LIST_MARKER.sub("", line.text, count=1)).strip()
        out.extend((normalize_text(lead + _LIST_MARKER.sub("", c, count=1)).strip(_EDGE), False)
                   for c in line.children)
    return out


def gold_records(drug: DrugSource, p: dict) -> list[ChddiRecord]:
    """Segment ``drug``'s page, check it against the authored statements, attach the annotations."""
    from ddikg.annotate.segment import segment_record

    segmented = segment_record(raw_record(p))
    expected = authored(drug)
    got = [(s.text.split("@", 1)[1], bool(s.meta and s.meta.boilerplate)) for s in segmented]
    want = [(strip_markup(m)[0], b) for m, b in expected]
    if got != want:
        diff = next((i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w), min(len(got), len(want)))
        raise AssertionError(f"{drug.origin} {drug.name}: segmentation differs from the authored statements at "
                             f"statement {diff}:\n  got      {got[diff:diff + 2]}\n  expected {want[diff:diff + 2]}")
    base = len(drug.name) + 1
    records = []
    for st, (marked, boiler) in zip(segmented, expected, strict=True):
        if boiler:
            continue
        spos = [Spo(predicate=rel, subject=ent, object=TypedValue.of(drug.name),
                    subject_span=(base + s, base + e), object_span=(0, len(drug.name)))
                for s, e, ent, rel in strip_markup(marked)[1]]
        meta = ChddiMeta(source_drug=st.meta.source_drug, drug_id=st.meta.drug_id, index=st.meta.index)
        records.append(ChddiRecord(text=st.text, spo_list=spos, meta=meta))
    return records


@dataclass
class Build:
    pages: list[dict]
    corpus: dict[str, list[ChddiRecord]]  # drug id -> its gold statements

    def split(self, name: str) -> list[ChddiRecord]:
        def part(drug_id: str) -> str:
            return "test" if drug_id in TEST_DRUGS else "dev" if drug_id in DEV_DRUGS else "train"

        return [r for d, rs in self.corpus.items() if part(d) == name for r in rs]


def build(source_dir: Path = SOURCE_DIR) -> Build:
    drugs = load_sources(source_dir)
    pages = [page(d) for d in drugs]
    corpus = {d.drug_id: gold_records(d, p) for d, p in zip(drugs, pages, strict=True)}
    unknown = (TEST_DRUGS | DEV_DRUGS) - set(corpus)
    if unknown or TEST_DRUGS & DEV_DRUGS:
        raise SourceError(f"split names unknown or doubly assigned drug ids: {sorted(unknown | (TEST_DRUGS & DEV_DRUGS))}")
    return Build(pages, corpus)


# --------------------------------------------------------------------------- files


def _jsonl(rows: list) -> str:
    out = []
    for r in rows:
        obj = r if isinstance(r, dict) else r.model_dump(mode="json", by_alias=True, exclude_none=True)
        out.append(json.dumps(obj, ensure_ascii=False) + "\n")
    return "".join(out)


def _fixture_profile(pages: list[dict]) -> str:
    """The fixture site's profile: the Yimaitong layout with the [diseases] seeds of ``pages``."""
    import tempfile

    from ddikg.crawler.fixture_site.content import FixtureDrug
    from ddikg.crawler.fixture_site.server import write_fixture_profile

    with tempfile.TemporaryDirectory() as tmp:
        drugs = [FixtureDrug.model_validate(p) for p in pages]
        return write_fixture_profile(Path(tmp) / "profile.toml", drugs).read_text(encoding="utf-8")


def outputs(b: Build) -> dict[Path, str]:
    files = {FIXTURE: _jsonl(b.pages), FIXTURE_PROFILE: _fixture_profile(b.pages)}
    for name in ("train", "dev", "test"):
        files[CORPUS_DIR / f"{name}.jsonl"] = _jsonl(b.split(name))
    return files


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    b = build()
    files = outputs(b)
    if "--check" in args:
        stale = [p for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        for p in stale:
            print(f"out of date: {p} (run python -m ddikg.annotate.corpus)")
        return 1 if stale else 0
    for p, text in files.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    sizes = ", ".join(f"{n} {len(b.split(n))}" for n in ("train", "dev", "test"))
    print(f"{len(b.pages)} pages -> {FIXTURE}; statements: {sizes} -> {CORPUS_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
