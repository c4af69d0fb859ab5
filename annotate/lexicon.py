"""The drug lexicon: a curated list shipped with ddikg plus the names of crawled drugs, as a jieba dictionary.

The curated list (``annotate/data/drug_lexicon.txt``) is in jieba's user-dictionary form (``WORD TAG``)
with two tags: ``drug`` (a generic name) and ``dclass`` (a drug class, an entity by the annotation guide).
Crawled drugs add their page name, their 药品名称, the generic name left after removing the dosage form
and salt (``苯磺酸氨氯地平片`` -> ``苯磺酸氨氯地平``, ``氨氯地平``) and the 成份 name.

jieba is used through a private :class:`jieba.Tokenizer`, so loading the lexicon never changes the global
``jieba`` dictionary other code may rely on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ddikg.contracts import RawDrugRecord

if TYPE_CHECKING:
    import jieba

Kind = Literal["drug", "dclass"]
CURATED = resources.files("ddikg.annotate") / "data" / "drug_lexicon.txt"

# Longest first, so 肠溶片 is removed before 片.
_FORMS = sorted([
    "片", "胶囊", "软胶囊", "缓释片", "控释片", "肠溶片", "分散片", "泡腾片", "咀嚼片", "缓释胶囊", "肠溶胶囊",
    "注射液", "颗粒", "口服溶液", "滴丸", "气雾剂", "吸入气雾剂", "粉雾剂", "吸入粉雾剂", "鼻喷剂", "喷雾剂",
    "干混悬剂", "混悬液", "糖浆", "丸", "散", "贴剂", "乳膏", "栓",
], key=len, reverse=True)
_SALTS = sorted(["盐酸", "硫酸", "硫酸氢", "马来酸", "苯磺酸", "甲磺酸", "酒石酸", "琥珀酸", "富马酸", "磷酸",
                 "枸橼酸", "氢溴酸"], key=len, reverse=True)
_SALT_SUFFIX = ("钾", "钠", "钙", "镁")
# jieba's tokenizer only forms words from these characters; entries with others (、 α β Ⅱ 䓬 …) are
# matched by plain string search instead.
_JIEBA_WORD = re.compile(r"^[\u4E00-\u9FD5a-zA-Z0-9+#&._%\-]+$")
# 本品/本药/本剂: anaphors for the prompt drug.
ANAPHORS = ("本品", "本药", "本剂")


def generic_names(name: str) -> list[str]:
    """Names a product goes by in running text: without dosage form, and without the salt as well."""
    out = []
    base = name.removeprefix("注射用")
    for form in _FORMS:
        if base.endswith(form) and len(base) > len(form) + 1:
            base = base[: -len(form)]
            break
    if base != name:
        out.append(base)
    for salt in _SALTS:
        if base.startswith(salt) and len(base) > len(salt) + 1:
            out.append(base[len(salt):])
            break
    last = out[-1] if out else base
    if last.endswith(_SALT_SUFFIX) and len(last) > 3:
        out.append(last[:-1])
    return [n for n in dict.fromkeys(out) if n and n != name]


_INGREDIENT = re.compile(r"主要成[份分]为([^。，,；;（(]+)")


@dataclass
class Lexicon:
    """Drug names and classes; ``entries`` maps a word to its kind."""

    entries: dict[str, Kind] = field(default_factory=dict)
    _tokenizer: jieba.Tokenizer | None = field(default=None, repr=False, compare=False)

    def add(self, word: str, kind: Kind = "drug") -> None:
        word = word.strip()
        if len(word) < 2 or " " in word:
            return
        if self.entries.get(word) != "dclass":  # a curated class stays a class
            self.entries[word] = kind
        self._tokenizer = None

    def __contains__(self, word: str) -> bool:
        return word in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def kind(self, word: str) -> Kind | None:
        return self.entries.get(word)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Lexicon:
        """Read a lexicon file (``WORD TAG`` lines, ``#`` comments); the curated one by default."""
        text = CURATED.read_text(encoding="utf-8") if path is None else Path(path).read_text(encoding="utf-8")
        lex = cls()
        for line_no, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            tag = parts[-1] if len(parts) > 1 else "drug"
            if tag not in ("drug", "dclass"):
                raise ValueError(f"{path or CURATED}:{line_no}: tag must be 'drug' or 'dclass', not {tag!r}")
            lex.add(parts[0], tag)  # type: ignore[arg-type]
        return lex

    @classmethod
    def from_records(cls, records: Iterable[RawDrugRecord], *, curated: bool = True) -> Lexicon:
        """The curated lexicon (unless ``curated=False``) plus the names found in crawled records."""
        lex = cls.load() if curated else cls()
        for rec in records:
            lex.add_drug_names(rec.name, rec.sections)
        return lex

    def add_drug_names(self, name: str, sections: dict[str, str] | None = None) -> None:
        sections = sections or {}
        names = [name, sections.get("药品名称", "")]
        m = _INGREDIENT.search(sections.get("成份", ""))
        if m:
            names.extend(re.split(r"[、和及]", m.group(1)))
        for n in [n for n in names if n]:
            self.add(n)
            for g in generic_names(n):
                self.add(g)

    def write_userdict(self, path: str | Path) -> None:
        """Write the lexicon as a jieba user dictionary (``jieba.load_userdict`` reads it)."""
        lines = [f"{w} {k}" for w, k in sorted(self.entries.items())]
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    def tokenizer(self) -> jieba.Tokenizer:
        """A private jieba tokenizer with every entry as a user word (built once per lexicon state)."""
        if self._tokenizer is None:
            import logging

            import jieba

            jieba.setLogLevel(logging.WARNING)
            tok = jieba.Tokenizer()
            # A high frequency makes jieba keep a lexicon word whole even where its dictionary would split it.
            for word, kind in self.entries.items():
                if _JIEBA_WORD.match(word):
                    tok.add_word(word, freq=200_000, tag=kind)
            for word in ANAPHORS:
                tok.add_word(word, freq=200_000, tag="r")
            self._tokenizer = tok
        return self._tokenizer

    def non_jieba_words(self) -> list[str]:
        """Entries jieba cannot form as one token (they hold characters outside its word pattern)."""
        return sorted((w for w in self.entries if not _JIEBA_WORD.match(w)), key=len, reverse=True)
