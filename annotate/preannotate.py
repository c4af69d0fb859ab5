"""Drug entity candidates of a CH-DDI statement, from the lexicon through jieba.

The prompt before ``@`` is always an entity (the object of the statement's relations, see the guide);
``本品``/``本药``/``本剂`` and the prompt's own generic names inside the statement are *anaphors*: they refer
to the prompt drug and are not separate entities. Every other lexicon word jieba finds is a candidate
``drug`` or ``dclass`` entity with its character offsets ``[start, end)`` in the full text.
"""

from __future__ import annotations

from pydantic import BaseModel

from ddikg.annotate.lexicon import ANAPHORS, Lexicon, generic_names


class Candidate(BaseModel):
    text: str
    start: int
    end: int  # exclusive, in the full ``药名@statement`` text
    kind: str  # prompt | drug | dclass | anaphor
    refers_to: str | None = None  # for anaphors: the prompt drug


def preannotate(text: str, lexicon: Lexicon) -> list[Candidate]:
    """Entity candidates of ``text`` (``药名@statement``) in text order."""
    head, sep, body = text.partition("@")
    prompt = head if sep else None
    base = len(head) + 1 if sep else 0
    if not sep:
        body = text
    out: list[Candidate] = []
    if prompt:
        out.append(Candidate(text=prompt, start=0, end=len(prompt), kind="prompt"))
    prompt_aliases = {prompt, *generic_names(prompt)} if prompt else set()

    taken = [False] * len(body)
    found: list[tuple[int, int, str]] = []
    # Words jieba cannot form (、 α β Ⅱ …) first, longest first, so they are not cut up by shorter hits.
    for word in lexicon.non_jieba_words():
        start = body.find(word)
        while start != -1:
            end = start + len(word)
            if not any(taken[start:end]):
                taken[start:end] = [True] * len(word)
                found.append((start, end, word))
            start = body.find(word, end)
    for word, start, end in lexicon.tokenizer().tokenize(body, HMM=False):
        if any(taken[start:end]):
            continue
        if word in ANAPHORS or word in lexicon:
            found.append((start, end, word))
    for start, end, word in sorted(found):
        if word in ANAPHORS or word in prompt_aliases:
            if prompt:
                out.append(Candidate(text=word, start=base + start, end=base + end, kind="anaphor",
                                     refers_to=prompt))
            continue
        out.append(Candidate(text=word, start=base + start, end=base + end, kind=lexicon.kind(word) or "drug"))
    return out
