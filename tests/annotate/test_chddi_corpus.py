"""The CH-DDI corpus and the fixture site's pages line up: crawl -> segment -> model."""

from __future__ import annotations

import json
from collections import Counter
from importlib.resources import as_file

import pytest

from ddikg.annotate import corpus
from ddikg.annotate.chddi import CHDDI_DEV, CHDDI_TEST, CHDDI_TRAIN
from ddikg.annotate.segment import segment_file
from ddikg.contracts import ChddiRecord, RawDrugRecord
from ddikg.jsonl import read_jsonl, write_jsonl
from ddikg.labels import CHRONIC_DISEASES, INTERACTION_SECTION, RELATION_LABELS


@pytest.fixture(scope="module")
def pages() -> list[dict]:
    return [json.loads(line) for line in corpus.FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def splits() -> dict[str, list[ChddiRecord]]:
    out = {}
    for name, res in (("train", CHDDI_TRAIN), ("dev", CHDDI_DEV), ("test", CHDDI_TEST)):
        with as_file(res) as p:
            out[name] = read_jsonl(p, ChddiRecord)
    return out


def test_written_files_are_what_the_source_builds():
    assert corpus.main(["--check"]) == 0


def test_fixture_pages_cover_many_classes_and_the_seed_page(pages):
    assert len(pages) >= 85
    classes = Counter(c["name"] for p in pages for c in p["categories"])
    assert len(classes) >= 15 and sum(n >= 3 for n in classes.values()) >= 15
    assert set(CHRONIC_DISEASES) <= {d for p in pages for d in p["diseases"]}
    assert all(p["diseases"] for p in pages)
    seed = next(p for p in pages if p["drug_id"] == "10001")
    assert seed["name"] == "布美他尼片"
    assert seed["sections"][INTERACTION_SECTION].startswith("1.与多巴胺合用,利尿作用加强。2.肾上腺糖、盐皮质激素")
    sections = [p["sections"].get(INTERACTION_SECTION) for p in pages]
    assert None in sections  # a page without an interaction section
    for boiler in ("尚不明确。", "尚无本品与其他药物相互作用的资料。", "目前尚无相关研究资料。"):
        assert boiler in sections
    assert sum("如与其他药物同时使用可能会发生药物相互作用" in (s or "") for s in sections) >= 2


def _crawler_normalisation():
    try:
        from ddikg.crawler.parsing import normalise_text
    except ImportError:  # the crawler stage is built in parallel; "as given" is tested regardless
        pytest.skip("crawler.parsing.normalise_text is not available")
    return normalise_text


@pytest.mark.parametrize("normalise", ["as given", "crawler"])
def test_segmenting_the_fixture_gives_back_the_corpus(pages, splits, tmp_path, normalise):
    # RawDrugRecords as the crawler emits them: category names, sections as given (and as the crawler's
    # page-text normalisation leaves them, which must not change any statement).
    norm = _crawler_normalisation() if normalise == "crawler" else (lambda t: t)
    raw = [RawDrugRecord(drug_id=p["drug_id"], name=p["name"],
                         url=f"http://127.0.0.1:8000/drugref/html/{p['drug_id']}.shtml",
                         categories=[c["name"] for c in p["categories"]], diseases=p["diseases"],
                         sections={k: norm(v) for k, v in p["sections"].items()}) for p in pages]
    write_jsonl(tmp_path / "raw.jsonl", raw)
    summary = segment_file(tmp_path / "raw.jsonl", tmp_path / "chddi.jsonl")
    segmented = read_jsonl(tmp_path / "chddi.jsonl", ChddiRecord)
    statements = [r for r in segmented if not r.meta.boilerplate]
    boilerplate = {r.text.split("@", 1)[1] for r in segmented if r.meta.boilerplate}
    assert summary.boilerplate == len(segmented) - len(statements) >= 6
    assert {"尚不明确", "尚无本品与其他药物相互作用的资料", "目前尚无相关研究资料"} <= boilerplate
    gold = splits["train"] + splits["dev"] + splits["test"]
    assert [r.text for r in statements] == [r.text for r in sorted(gold, key=_page_order(pages))]
    by_key = {(r.meta.drug_id, r.meta.index): r.text for r in statements}
    assert all(by_key[(g.meta.drug_id, g.meta.index)] == g.text for g in gold)
    # Colon lead-ins are carried into their items, in the pages and so in the corpus.
    texts = {r.text for r in gold}
    carried = [f"{d.name}@{corpus.strip_markup(m)[0]}" for d in corpus.load_sources() for line in d.lines
               if line.children for m, _ in corpus.authored(type(d)(**(vars(d) | {"lines": [line]})))]
    assert len(carried) >= 40 and all(":" in t and t in texts for t in carried)
    assert "吲达帕胺片@不宜合用的药物:锂盐" in texts


def _page_order(pages):
    order = {p["drug_id"]: i for i, p in enumerate(pages)}
    return lambda r: (order[r.meta.drug_id], r.meta.index)


def test_corpus_size_split_and_annotations(splits):
    train, dev, test = splits["train"], splits["dev"], splits["test"]
    everything = train + dev + test
    assert len(everything) >= 850
    drugs = {name: {r.meta.drug_id for r in recs} for name, recs in splits.items()}
    assert len(set().union(*drugs.values())) >= 85
    assert not drugs["train"] & drugs["dev"] and not drugs["train"] & drugs["test"] and not drugs["dev"] & drugs["test"]
    assert 0.15 <= len(test) / len(everything) <= 0.25 and 0.07 <= len(dev) / len(everything) <= 0.15
    types = Counter(s.predicate for r in everything for s in r.spo_list)
    assert set(types) == set(RELATION_LABELS) and min(types.values()) >= 45
    for split in (train, dev, test):
        assert set(Counter(s.predicate for r in split for s in r.spo_list)) == set(RELATION_LABELS)
    for r in everything:
        assert r.meta.source_drug and r.meta.drug_id and r.meta.index is not None and not r.meta.boilerplate
        for s in r.spo_list:
            assert r.text[slice(*s.subject_span)] == s.subject
            assert s.object_span == (0, len(r.prompt)) and s.object_text == r.prompt


def test_source_lines_name_their_statements(tmp_path):
    src = tmp_path / "x.txt"
    src.write_text("@class X01 测试类\n@disease 高血压\n\n== 1 甲药片 | 甲药\n"
                   "1.与[乙药|协同]合用，作用加强。\n2.下列药物可升高本品的血药浓度：\n  （1）[丙药|促进]；\n  （2）[丁药|促进]。\n"
                   "!3.如与其他药物同时使用可能会发生药物相互作用，详情请咨询医师或药师。\n", encoding="utf-8")
    (drug,) = corpus.parse_source(src)
    assert corpus.authored(drug) == [("与[乙药|协同]合用,作用加强", False),
                                     ("下列药物可升高本品的血药浓度:[丙药|促进]", False),
                                     ("下列药物可升高本品的血药浓度:[丁药|促进]", False),
                                     ("如与其他药物同时使用可能会发生药物相互作用,详情请咨询医师或药师", True)]
    records = corpus.gold_records(drug, corpus.page(drug))
    assert [(r.text, [(s.subject, s.predicate) for s in r.spo_list]) for r in records] == [
        ("甲药片@与乙药合用,作用加强", [("乙药", "协同")]),
        ("甲药片@下列药物可升高本品的血药浓度:丙药", [("丙药", "促进")]),
        ("甲药片@下列药物可升高本品的血药浓度:丁药", [("丁药", "促进")])]
    # A page the segmenter reads differently from the author stops the build.
    src.write_text(src.read_text(encoding="utf-8").replace("！", "").replace("!3.", "3."), encoding="utf-8")
    (drug,) = corpus.parse_source(src)
    drug.lines[-1].boilerplate = False
    with pytest.raises(AssertionError, match="segmentation differs"):
        corpus.gold_records(drug, corpus.page(drug))


def test_the_curated_lexicon_covers_every_annotated_drug(splits):
    from ddikg.annotate.lexicon import Lexicon

    entries = Lexicon.load().entries
    # The lexicon keeps no one-character words (锂 would match inside 碳酸锂, 锂盐 …).
    names = {s.subject for recs in splits.values() for r in recs for s in r.spo_list if len(s.subject) > 1}
    assert not sorted(names - set(entries))
