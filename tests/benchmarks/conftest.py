"""Synthetic data and one shared quick run of each benchmark (they are the expensive part of these tests)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

PEOPLE = ["Smith", "Jones", "Tanaka", "Garcia", "Novak"]
PLACES = ["Paris", "Osaka", "Lima", "Oslo", "Quito"]
FILLER = ["the", "said", "on", "Monday", "that", "a", "report", "was", "filed", "late", "in", "office"]


def spert_docs(n: int, seed: int) -> list[dict]:
    """Sentences "<person> ... lives in <place> ..." with Peop/Loc entities and a Live_In relation."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        pre = rng.sample(FILLER, rng.randint(1, 4 + i % 5))
        mid = rng.sample(FILLER, rng.randint(1, 3))
        tokens = pre + [rng.choice(PEOPLE)] + mid + ["lives", "in", rng.choice(PLACES)] + rng.sample(FILLER, 2)
        p, loc = len(pre), len(pre) + 1 + len(mid) + 2
        docs.append({"tokens": tokens, "orig_id": i,
                     "entities": [{"type": "Peop", "start": p, "end": p + 1}, {"type": "Loc", "start": loc,
                                                                                "end": loc + 1}],
                     "relations": [{"type": "Live_In", "head": 0, "tail": 1}]})
    return docs


def cmeie_records(n: int, seed: int) -> list[dict]:
    """CMeIE-layout records (character level, prompt before '@'); the last spo of each is unalignable."""
    rng = random.Random(seed)
    drugs = ["阿司匹林", "华法林", "布洛芬", "二甲双胍"]
    rows = []
    for _ in range(n):
        dis, drug = rng.choice(["高血压", "糖尿病", "冠心病"]), rng.choice(drugs)
        text = f"{dis}@常用{drug}治疗，注意复查。"
        rows.append({"text": text, "spo_list": [
            {"Combined": False, "predicate": "药物治疗", "subject": dis, "subject_type": "疾病",
             "object": {"@value": drug}, "object_type": {"@value": "药物"}},
            {"Combined": False, "predicate": "药物治疗", "subject": dis, "subject_type": "疾病",
             "object": {"@value": "不存在的药"}, "object_type": {"@value": "药物"}}]})
    return rows


@pytest.fixture(scope="session")
def conll_like(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("conll_like")
    (d / "syn_types.json").write_text(json.dumps({
        "entities": {"Loc": {"short": "Loc", "verbose": "Location"}, "Peop": {"short": "Peop", "verbose": "People"}},
        "relations": {"Live_In": {"short": "Live", "verbose": "Live in", "symmetric": False}}}), encoding="utf-8")
    train, dev = d / "syn_train.json", d / "syn_dev.json"
    train.write_text(json.dumps(spert_docs(10, 1)), encoding="utf-8")
    dev.write_text(json.dumps(spert_docs(6, 2)), encoding="utf-8")
    return train, dev


@pytest.fixture(scope="session")
def cmeie_like(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("cmeie_like")
    (d / "syn_schema.jsonl").write_text(json.dumps({"subject_type": "疾病", "predicate": "药物治疗",
                                                    "object_type": "药物"}, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    train, dev = d / "syn_train.jsonl", d / "syn_dev.jsonl"
    for path, n, seed in ((train, 8, 3), (dev, 4, 4)):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in cmeie_records(n, seed)),
                        encoding="utf-8")
    return train, dev


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # the CI machine has 2 cores shared by every stage's tests
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def speed_run(conll_like, tmp_path_factory) -> tuple[dict, Path]:
    from benchmarks import iser_speed

    out = tmp_path_factory.mktemp("speed") / "iser_speed-quick-cpu.json"
    train, dev = conll_like
    payload = iser_speed.main(["--quick", "--device", "cpu", "--sections", "train,infer,cpu,growth,variants",
                               "--train", str(train), "--dev", str(dev), "--out", str(out)])
    return payload, out


@pytest.fixture(scope="session")
def repro_results(conll_like, cmeie_like, tmp_path_factory) -> Path:
    """Quick runs of both tables (every variant, one seed) in one results directory."""
    from benchmarks import reproduce

    results = tmp_path_factory.mktemp("results")
    for table, (train, dev) in (("conll04", conll_like), ("cmeie", cmeie_like)):
        reproduce.main(["--table", table, "--quick", "--seeds", "1", "--device", "cpu", "--train", str(train),
                        "--dev", str(dev), "--results", str(results / "reproduce")])
    return results
