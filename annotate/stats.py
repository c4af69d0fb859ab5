"""Corpus statistics in the paper's Table 1 (sentences, entities, relations) and Table 2 (per type) style."""

from __future__ import annotations

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
