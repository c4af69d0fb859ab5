"""Small synthetic CH-DDI statements with known spans (for learning and end-to-end tests)."""

from __future__ import annotations

import random

DRUGS = ["阿司匹林", "华法林", "地高辛", "多巴胺", "氨茶碱", "布美他尼", "西咪替丁", "苯妥英钠", "利福平",
         "胺碘酮", "卡托普利", "二甲双胍", "胰岛素", "普萘洛尔", "硝苯地平", "氯吡格雷"]
TEMPLATES = [
    ("与{b}合用，作用加强", "协同"),
    ("与{b}合用，疗效降低", "拮抗"),
    ("禁止与{b}同时使用", "禁忌"),
    ("{b}可抑制本药的代谢", "抑制"),
    ("{b}能促进本药的吸收", "促进"),
]


def statements(n: int, seed: int = 0) -> list[dict]:
    """``n`` CH-DDI records ``prompt@statement``: the prompt drug is the object, the other drug the subject."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.sample(DRUGS, 2)
        template, rel = TEMPLATES[i % len(TEMPLATES)]
        body = template.format(b=b)
        text = f"{a}@{body}"
        start = len(a) + 1 + body.index(b)
        out.append({"text": text, "spo_list": [{
            "predicate": rel, "subject": b, "subject_type": "药物", "object": {"@value": a},
            "object_type": {"@value": "药物"}, "subject_span": [start, start + len(b)], "object_span": [0, len(a)]}],
            "meta": {"source_drug": a, "source_url": f"https://example.org/drug/{i}", "index": i}})
    return out
