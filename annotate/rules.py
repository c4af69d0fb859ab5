"""Rule-based relation pre-labels for the 7 DDI types, precision first.

A statement is cut into sentences at ``。`` and ``;`` (commas do not cut: ``与多巴胺合用,利尿作用加强`` is one
unit). In each sentence the first cue group that matches, in the order below, gives the label, and every
candidate drug of that sentence gets it as the subject with the prompt drug (offset 0) as the object.
A sentence without a candidate or without a cue yields nothing. The order encodes the guide's priorities:
an explicit prohibition wins over everything, an explicit "no interaction" next, then "additive", then the
pharmacokinetic cues (blood level / absorption down = 抑制, up = 促进) before the pharmacodynamic ones
(effect weakened = 拮抗, strengthened = 协同): ``可抑制本品的代谢,使其血药浓度增加`` is 促进, not 抑制.
"""

from __future__ import annotations

import re

from ddikg.annotate.lexicon import Lexicon
from ddikg.annotate.preannotate import Candidate, preannotate
from ddikg.contracts import ChddiRecord, Spo, TypedValue

_LEVEL = r"(血药浓度|血浆浓度|血浓度|吸收|生物利用度|暴露量|AUC)"
CUES: list[tuple[str, re.Pattern]] = [
    ("禁忌", re.compile(r"禁止|禁与|禁忌|禁用|不得|不可与|严禁|避免(合用|同用|联用|同时使用|与)|不宜(合用|同用|与)|不应(合用|与)")),
    ("无关", re.compile(r"(无|未见)(明显|具有临床意义)?的?(药物)?相互作用|无明显影响|不影响|无需调整|无须调整|不需调整")),
    ("相加", re.compile(r"相加|叠加|累加")),
    ("抑制", re.compile(rf"(降低|减少|下降|减低).{{0,6}}{_LEVEL}|{_LEVEL}(降低|减少|下降|减低)|(加速|诱导|加快).{{0,6}}代谢")),
    ("促进", re.compile(rf"(升高|增加|提高|增高).{{0,6}}{_LEVEL}|{_LEVEL}(升高|增加|增高|提高)"
                      r"|(抑制|减慢|减少|延缓).{0,6}(代谢|排泄|清除)")),
    ("拮抗", re.compile(r"减弱|拮抗|对抗|(降低|减低|削弱|减少).{0,8}(作用|疗效|效果|效应)|(作用|疗效|效果)(降低|下降|减低)")),
    ("协同", re.compile(r"加强|增强|协同|(增加|提高|加剧).{0,6}(作用|疗效|效果|风险|毒性)|风险增加|(作用|疗效)(增加|提高)")),
]
_SENTENCE = re.compile(r"[^。;]+")


def cue_label(sentence: str) -> str | None:
    """The relation type a sentence's wording signals, or None."""
    for label, pattern in CUES:
        if pattern.search(sentence):
            return label
    return None


def rule_spos(text: str, candidates: list[Candidate]) -> list[Spo]:
    """Relations the cue rules find in ``text`` given its entity candidates (one label per pair)."""
    prompt = next((c for c in candidates if c.kind == "prompt"), None)
    if prompt is None:
        return []
    base = prompt.end + 1
    body = text[base:]
    spos: list[Spo] = []
    seen: set[tuple[int, int]] = set()
    for m in _SENTENCE.finditer(body):
        start, end = base + m.start(), base + m.end()
        subjects = [c for c in candidates if c.kind in ("drug", "dclass") and start <= c.start and c.end <= end]
        if not subjects:
            continue
        label = cue_label(m.group())
        if label is None:
            continue
        for c in subjects:
            if (c.start, c.end) in seen:
                continue
            seen.add((c.start, c.end))
            spos.append(Spo(predicate=label, subject=c.text, object=TypedValue.of(prompt.text),
                            subject_span=(c.start, c.end), object_span=(prompt.start, prompt.end)))
    return spos


def prelabel(record: ChddiRecord, lexicon: Lexicon) -> ChddiRecord:
    """A copy of ``record`` whose ``spo_list`` is what the rules find (boilerplate gets none)."""
    if record.meta is not None and record.meta.boilerplate:
        return record.model_copy(update={"spo_list": []})
    spos = rule_spos(record.text, preannotate(record.text, lexicon))
    return record.model_copy(update={"spo_list": spos})
