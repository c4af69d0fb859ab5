"""Corpus statistics in the paper's Table 1 (sentences, entities, relations) and Table 2 (per type) style."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

from ddikg.annotate.validate import spo_entities
from ddikg.contracts import ChddiRecord
from ddikg.labels import BY_ZH, RELATION_LABELS


class CorpusStats(BaseModel):
    sentences: int = 0  # statements, boilerplate excluded
    entities: int = 0  # distinct entity mentions used by relations, summed over sentences
    relations: int = 0
    per_type: dict[str, int] = {}
    boilerplate: int = 0
    without_relations: int = 0  # non-boilerplate statements with an empty spo_list


def corpus_stats(records: Iterable[ChddiRecord]) -> CorpusStats:
    s = CorpusStats()
    types: Counter = Counter()
    for rec in records:
        if rec.meta is not None and rec.meta.boilerplate:
            s.boilerplate += 1
            continue
        s.sentences += 1
        s.entities += len(spo_entities(rec))
        s.relations += len(rec.spo_list)
        s.without_relations += not rec.spo_list
        types.update(spo.predicate for spo in rec.spo_list)
    s.per_type = {lb: types[lb] for lb in RELATION_LABELS} | {k: v for k, v in types.items()
                                                                if k not in RELATION_LABELS}
    return s


def stats_tables(stats: dict[str, CorpusStats]) -> list:
    """Table 1 (one row per file) and Table 2 (one column per file) as ``rich.table.Table``: columns are
    measured in terminal cells, so the Chinese relation labels stay aligned."""
    from ddikg.progress import table

    names = list(stats)
    t1 = table(["", "sentence", "entity", "relation", "no-rel", "boiler"],
               [[n, s.sentences, s.entities, s.relations, s.without_relations, s.boilerplate]
                for n, s in stats.items()], title="Table 1", right=range(1, 6))
    labels = list(dict.fromkeys(lb for s in stats.values() for lb in s.per_type))
    t2 = table(["relation", *names],
               [[f"{lb} {BY_ZH[lb].en if lb in BY_ZH else '?'}", *(stats[n].per_type.get(lb, 0) for n in names)]
                for lb in labels], title="Table 2", right=range(1, len(names) + 1))
    return [t1, t2]


def format_tables(stats: dict[str, CorpusStats]) -> str:
    """:func:`stats_tables` as plain text."""
    from io import StringIO

    from rich.console import Console

    buf = StringIO()
    Console(file=buf, width=120, color_system=None).print(*stats_tables(stats))
    return buf.getvalue().rstrip("\n")


def write_chart(stats: dict[str, CorpusStats], png: str | Path) -> Path:
    """A grouped bar chart of relations per type (one bar group per type, one bar per file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(lb for s in stats.values() for lb in s.per_type))
    x_names = [BY_ZH[lb].en if lb in BY_ZH else lb for lb in labels]  # English: no CJK font needed
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(stats), 1)
    for k, (name, s) in enumerate(stats.items()):
        xs = [i + k * width for i in range(len(labels))]
        ax.bar(xs, [s.per_type.get(lb, 0) for lb in labels], width=width, label=name)
    ax.set_xticks([i + width * (len(stats) - 1) / 2 for i in range(len(labels))], x_names, rotation=20)
    ax.set_ylabel("relations")
    ax.set_title("DDI relations per type")
    ax.legend()
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


# --------------------------------------------------------------------------- wording overlap

# Effect nouns that differ only by the prompt drug's class ("本品的降压作用" / "本品的降糖作用"): masked so
# that one wording written for two classes counts as one.
EFFECTS = ("降压", "降血压", "抗高血压", "利尿", "降糖", "降血糖", "抗凝", "抗凝血", "抗血小板", "抗血栓", "抗心绞痛",
           "调脂", "降脂", "平喘", "支气管扩张", "祛痰", "抗骨吸收", "镇静", "抗惊厥", "抗癫痫", "抗利尿", "升压",
           "抗菌", "杀菌", "避孕", "降尿酸", "抗抑郁", "抗炎", "镇痛", "抗心律失常", "强心", "治疗")
_EFFECT = re.compile(rf"({'|'.join(sorted(EFFECTS, key=len, reverse=True))})(作用|效应|效果|活性)|疗效")
_SELF = re.compile(r"本品|本药|本剂|该药")
_NUMBER = re.compile(r"\d+(\.\d+)?")
_COORDINATED = re.compile(r"\0(?:[、,和及与或]\0)+")  # a list of drugs reads as one <D>


def masked_wording(rec: ChddiRecord) -> str:
    """The statement's wording with its particulars masked, for comparing wordings across drugs.

    Masked: every annotated entity span (``<D>``; a coordinated list of them is one ``<D>``), the prompt drug and ``本品/本药/本剂/该药`` (``<P>``),
    effect nouns such as ``降压作用`` (``<E>``, see :data:`EFFECTS`) and numbers (``#``).
    ``与多巴胺合用,利尿作用加强`` and ``与卡托普利合用,降压作用加强`` both read ``与<D>合用,<E>加强``.
    """
    base = len(rec.prompt) + 1
    body = rec.text[base:]
    spans = sorted({(s.subject_span[0] - base, s.subject_span[1] - base) for s in rec.spo_list
                    if s.subject_span is not None and s.subject_span[0] >= base})
    parts, pos = [], 0
    for start, end in spans:
        if start < pos:
            continue
        parts += [body[pos:start], "\0"]
        pos = end
    parts.append(body[pos:])
    text = _COORDINATED.sub("\0", "".join(parts)).replace(rec.prompt, "\1")
    text = _SELF.sub("\1", text)
    text = _EFFECT.sub("\2", text)
    text = _NUMBER.sub("#", text)
    return text.replace("\0", "<D>").replace("\1", "<P>").replace("\2", "<E>")


class WordingOverlap(BaseModel):
    statements: int  # non-boilerplate statements of the compared file
    overlapping: int  # ... whose masked wording occurs in the reference file
    examples: list[str] = []

    @property
    def share(self) -> float:
        return self.overlapping / self.statements if self.statements else 0.0

    def line(self, name: str, reference: str) -> str:
        return (f"wording overlap {name} -> {reference}: {self.overlapping} of {self.statements} statements "
                f"({100 * self.share:.1f} %) have a masked wording that occurs in {reference}")


def wording_overlap(records: Iterable[ChddiRecord], reference: Iterable[ChddiRecord],
                    n_examples: int = 5) -> WordingOverlap:
    """How many of ``records`` reuse a masked wording (:func:`masked_wording`) of ``reference``."""
    seen = {masked_wording(r) for r in reference if not (r.meta and r.meta.boilerplate)}
    own = [masked_wording(r) for r in records if not (r.meta and r.meta.boilerplate)]
    hits = [w for w in own if w in seen]
    return WordingOverlap(statements=len(own), overlapping=len(hits), examples=list(dict.fromkeys(hits))[:n_examples])
