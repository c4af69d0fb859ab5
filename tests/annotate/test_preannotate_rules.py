"""Lexicon, jieba pre-annotation and cue rules (scoring and the baseline command: test_baseline_scoring)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ddikg.annotate.lexicon import Lexicon, generic_names
from ddikg.annotate.preannotate import preannotate
from ddikg.annotate.rules import cue_label, prelabel, rule_spos
from ddikg.cli import app
from ddikg.contracts import ChddiMeta, ChddiRecord, RawDrugRecord


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


def test_generic_names():
    assert generic_names("苯磺酸氨氯地平片") == ["苯磺酸氨氯地平", "氨氯地平"]
    assert generic_names("氯沙坦钾片") == ["氯沙坦钾", "氯沙坦"]
    assert generic_names("硝苯地平控释片") == ["硝苯地平"]
    assert generic_names("注射用环磷腺苷葡胺") == ["环磷腺苷葡胺"]


def test_curated_lexicon_has_drugs_and_classes(lexicon):
    assert lexicon.kind("华法林") == "drug"
    assert lexicon.kind("拟交感神经药物") == "dclass"
    assert len(lexicon) > 250


def test_bad_lexicon_line_is_located(tmp_path):
    p = tmp_path / "lex.txt"
    p.write_text("# c\n华法林 drug\n阿司匹林 foo\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"lex.txt:3: tag"):
        Lexicon.load(p)


def test_lexicon_from_crawled_records_uses_a_private_jieba():
    import jieba

    rec = RawDrugRecord(drug_id="9", name="注射用环磷腺苷葡胺", url="http://x/9",
                        sections={"药品名称": "注射用环磷腺苷葡胺", "成份": "本品主要成份为环磷腺苷葡胺。"})
    lex = Lexicon.from_records([rec], curated=False)
    assert "环磷腺苷葡胺" in lex and "注射用环磷腺苷葡胺" in lex
    words = [w for w, _, _ in lex.tokenizer().tokenize("禁与环磷腺苷葡胺合用", HMM=False)]
    assert "环磷腺苷葡胺" in words
    assert "环磷腺苷葡胺" not in jieba.dt.FREQ  # the global dictionary is untouched


def test_candidates_with_offsets_anaphors_and_classes(lexicon):
    text = "布美他尼片@与拟交感神经药物及抗惊厥药物合用,本药的利尿作用减弱"
    cands = preannotate(text, lexicon)
    got = [(c.text, c.kind, c.start, c.end) for c in cands]
    assert got[0] == ("布美他尼片", "prompt", 0, 5)
    assert ("拟交感神经药物", "dclass", 7, 14) in got
    assert ("抗惊厥药物", "dclass", 15, 20) in got
    anaphor = [c for c in cands if c.kind == "anaphor"]
    assert [(a.text, a.refers_to) for a in anaphor] == [("本药", "布美他尼片")]
    for c in cands:
        assert text[c.start:c.end] == c.text


def test_prompt_generic_name_is_an_anaphor_and_non_jieba_words_are_found(lexicon):
    text = "阿卡波糖片@α-葡萄糖苷酶抑制剂与阿卡波糖的作用可累加"
    got = {(c.text, c.kind) for c in preannotate(text, lexicon)}
    assert ("α-葡萄糖苷酶抑制剂", "dclass") in got
    assert ("阿卡波糖", "anaphor") in got


@pytest.mark.parametrize(("sentence", "label"), [
    ("与多巴胺合用,利尿作用加强", "协同"),
    ("禁与甲氨蝶呤合用", "禁忌"),
    ("雌激素能降低本药的利尿作用", "拮抗"),
    ("考来烯胺可减少本品的吸收", "抑制"),
    ("西咪替丁可抑制本品的代谢,使其血药浓度增加", "促进"),
    ("与奥美拉唑合用未见明显的药物相互作用", "无关"),
    ("与利尿药合用,降压作用相加", "相加"),
    ("本品经肝脏代谢", None),
])
def test_cue_labels(sentence, label):
    assert cue_label(sentence) == label


def test_rules_label_each_sentence_separately(lexicon):
    text = "某药片@与华法林合用,抗凝作用加强;与利福平合用,本品的血药浓度降低"
    spos = rule_spos(text, preannotate(text, lexicon))
    assert [(s.subject, s.predicate, s.object_text, s.object_span) for s in spos] == [
        ("华法林", "协同", "某药片", (0, 3)), ("利福平", "抑制", "某药片", (0, 3))]
    assert text[slice(*spos[1].subject_span)] == "利福平"


def test_prelabel_skips_boilerplate(lexicon):
    rec = ChddiRecord(text="某药片@如与其他药物同时使用可能会发生药物相互作用", meta=ChddiMeta(boilerplate=True))
    assert prelabel(rec, lexicon).spo_list == []


def test_lexicon_command_writes_a_jieba_user_dictionary(tmp_path):
    import jieba

    from ddikg.jsonl import write_jsonl

    raw = tmp_path / "raw.jsonl"
    write_jsonl(raw, [RawDrugRecord(drug_id="9", name="注射用环磷腺苷葡胺", url="http://x/9", sections={})])
    out = tmp_path / "userdict.txt"
    res = CliRunner().invoke(app, ["annotate", "lexicon", "--raw", str(raw), "--out", str(out)])
    assert res.exit_code == 0, res.output
    tok = jieba.Tokenizer()
    tok.load_userdict(str(out))
    assert "环磷腺苷葡胺" in [w for w, _, _ in tok.tokenize("禁与环磷腺苷葡胺合用", HMM=False)]
    assert Lexicon.load(out).kind("拟交感神经药物") == "dclass"
