"""@-segmentation on tricky interaction sections, records and files."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ddikg.annotate.segment import is_boilerplate, normalize, segment_file, segment_record, split_statements
from ddikg.cli import app
from ddikg.contracts import ChddiRecord, RawDrugRecord
from ddikg.jsonl import RecordError, read_jsonl, write_jsonl

PAPER = ("1.与多巴胺合用,利尿作用加强。2.肾上腺糖、盐皮质激素,促肾上腺皮质激素及雌激素能降低本药的利尿作用。"
         "3.与拟交感神经药物及抗惊厥药物合用,利尿作用减弱。")


def test_paper_example():
    assert split_statements(PAPER) == [
        "与多巴胺合用,利尿作用加强",
        "肾上腺糖、盐皮质激素,促肾上腺皮质激素及雌激素能降低本药的利尿作用",
        "与拟交感神经药物及抗惊厥药物合用,利尿作用减弱",
    ]


def test_normalisation_of_width_and_whitespace():
    assert normalize("与华法林合用，出血风险增加；间隔２小时") == "与华法林合用,出血风险增加;间隔2小时"
    assert normalize(" 与 维生素 D  合用\n加强 ") == "与维生素D合用加强"
    assert normalize("vitamin  D 与\u3000本品") == "vitamin D与本品"
    assert normalize("（每周15mg或以上）") == "(每周15mg或以上)"


def test_nested_numbering_carries_a_colon_lead_in():
    text = "1.与下列药物合用可增强本品的降压作用：（1）利尿药；（2）β受体阻滞剂。2.禁与阿利吉仑合用。"
    assert split_statements(text) == [
        "与下列药物合用可增强本品的降压作用:利尿药",
        "与下列药物合用可增强本品的降压作用:β受体阻滞剂",
        "禁与阿利吉仑合用",
    ]


@pytest.mark.parametrize("colon", ["：", ":"])
def test_an_unnumbered_colon_lead_in_is_carried_into_each_item(colon):
    text = f"与下列药物合用可增强本品的降压作用{colon}（1）利尿药；（2）β受体阻滞剂。"
    assert split_statements(text) == ["与下列药物合用可增强本品的降压作用:利尿药",
                                      "与下列药物合用可增强本品的降压作用:β受体阻滞剂"]
    # Sentences before the lead-in stay statements; a lead-in inside an item carries only its own sentence.
    text = "与华法林合用，出血风险增加。下列药物可升高本品的血药浓度：①酮康唑；②克拉霉素。"
    assert split_statements(text) == ["与华法林合用,出血风险增加", "下列药物可升高本品的血药浓度:酮康唑",
                                      "下列药物可升高本品的血药浓度:克拉霉素"]
    text = "1.本品经CYP3A4代谢。下列药物可升高本品的血药浓度：（1）酮康唑；（2）克拉霉素。2.禁与甲氨蝶呤合用。"
    assert split_statements(text) == ["本品经CYP3A4代谢", "下列药物可升高本品的血药浓度:酮康唑",
                                      "下列药物可升高本品的血药浓度:克拉霉素", "禁与甲氨蝶呤合用"]


def test_nested_numbering_without_colon_keeps_the_parent_sentence():
    text = "1.本品经肝脏代谢。①西咪替丁可升高本品的血药浓度；②利福平可降低本品的血药浓度。2.禁与甲氨蝶呤合用"
    assert split_statements(text) == [
        "本品经肝脏代谢",
        "西咪替丁可升高本品的血药浓度",
        "利福平可降低本品的血药浓度",
        "禁与甲氨蝶呤合用",
    ]


def test_missing_numbers_and_missing_sentence_ends():
    # 3 is skipped; before "2." the full stop is missing; "2.5mg" is not a marker.
    text = "1.与多巴胺合用加强2.每日2.5mg与华法林合用，出血风险增加。4.糖尿病患者禁与X合用。"
    assert split_statements(text) == ["与多巴胺合用加强", "每日2.5mg与华法林合用,出血风险增加", "糖尿病患者禁与X合用"]
    # A number directly followed by a digit is never a marker (documented ambiguity: "4.1型" stays in item 3).
    assert split_statements("1.与A合用。3.1型糖尿病患者慎用") == ["与A合用。3.1型糖尿病患者慎用"]


def test_out_of_sequence_number_inside_text_is_not_a_marker():
    assert split_statements("1.与第3代头孢合用时加强。2.与A合用减弱") == ["与第3代头孢合用时加强", "与A合用减弱"]
    assert split_statements("1.合用剂量为每次5、10或20mg。2.B") == ["合用剂量为每次5、10或20mg", "B"]


def test_marker_styles_and_line_breaks():
    assert split_statements("（１）与A合用；（２）与B合用。") == ["与A合用", "与B合用"]
    assert split_statements("①与A合用②与B合用 ③与C合用") == ["与A合用", "与B合用", "与C合用"]
    assert split_statements("一、与A合用。二、与B合用。") == ["与A合用", "与B合用"]
    assert split_statements("1、与A合用\n2、与B合用\n\n3、与C合用") == ["与A合用", "与B合用", "与C合用"]
    assert split_statements("1. 与A合用\n2. 与B 合用") == ["与A合用", "与B合用"]


def test_unnumbered_text_splits_at_sentence_ends_not_commas():
    text = "与A、B合用，作用加强，应减量；C可降低本品的作用。D与本品合用时无需调整剂量"
    assert split_statements(text) == ["与A、B合用,作用加强,应减量", "C可降低本品的作用", "D与本品合用时无需调整剂量"]


def test_a_numbered_item_with_several_sentences_stays_whole():
    text = "1.与A合用，作用加强；与B合用，作用减弱。2.C可升高本品的血药浓度。合用时应监测血药浓度。"
    assert split_statements(text) == ["与A合用,作用加强;与B合用,作用减弱", "C可升高本品的血药浓度。合用时应监测血药浓度"]


@pytest.mark.parametrize("text", ["尚不明确。", "尚不明确", "本品与其他药物的相互作用尚不明确",
                                  "如与其他药物同时使用可能会发生药物相互作用，详情请咨询医师或药师。",
                                  "未进行该项实验且无可靠参考文献。", "尚无本品与其他药物相互作用的资料。",
                                  "目前尚无相关研究资料。", "尚无本品药物相互作用的研究资料", "暂无相关数据",
                                  "尚未进行本品与其他药物相互作用的研究。"])
def test_boilerplate(text):
    assert is_boilerplate(text)


@pytest.mark.parametrize("text", ["与奥美拉唑合用未见明显的药物相互作用", "未见明显相互作用",
                                  "西咪替丁不改变本品的药代动力学参数", "尚无本品与华法林合用的资料，应谨慎"])
def test_no_interaction_statements_are_not_boilerplate(text):
    assert not is_boilerplate(text)


def test_boilerplate_sentence_after_statements_is_flagged():
    rec = RawDrugRecord(drug_id="1", name="某药片", url="http://x/1", sections={
        "药物相互作用": "与A合用，出血风险增加。尚无本品与其他药物相互作用的资料。"})
    assert [(r.text, r.meta.boilerplate) for r in segment_record(rec)] == [
        ("某药片@与A合用,出血风险增加", False), ("某药片@尚无本品与其他药物相互作用的资料", True)]


def test_boilerplate_is_split_from_a_numbered_item_and_flagged():
    rec = RawDrugRecord(drug_id="1", name="某药片", url="http://x/1", sections={
        "药物相互作用": "1.与A合用加强。2.与B合用减弱。如与其他药物同时使用可能会发生药物相互作用，详情请咨询医师或药师。"})
    out = segment_record(rec)
    assert [r.text for r in out] == ["某药片@与A合用加强", "某药片@与B合用减弱",
                                     "某药片@如与其他药物同时使用可能会发生药物相互作用,详情请咨询医师或药师"]
    assert [r.meta.boilerplate for r in out] == [False, False, True]
    assert [r.meta.index for r in out] == [0, 1, 2]
    assert out[0].meta.source_drug == "某药片" and out[0].meta.drug_id == "1" and out[0].meta.source_url == "http://x/1"
    assert not is_boilerplate("与A合用尚不明确是否加强作用")


def _raw(drug_id, section, change="new"):
    sections = {"药品名称": f"药{drug_id}"} | ({"药物相互作用": section} if section is not None else {})
    return RawDrugRecord(drug_id=drug_id, name=f"药{drug_id}片", url=f"http://x/{drug_id}", sections=sections,
                         change=change)


def test_segment_file_counts(tmp_path):
    raw = tmp_path / "raw.jsonl"
    write_jsonl(raw, [_raw("1", PAPER), _raw("2", "尚不明确。"), _raw("3", None), _raw("4", PAPER, "unchanged")])
    out = tmp_path / "corpus.jsonl"
    s = segment_file(raw, out)
    assert (s.drugs, s.statements, s.boilerplate, s.no_interaction_section, s.skipped_unchanged) == (4, 7, 1, 1, 0)
    assert len(read_jsonl(out, ChddiRecord)) == 7
    s = segment_file(raw, out, only_changed=True)
    assert (s.statements, s.skipped_unchanged) == (4, 1)


def test_segment_file_bad_lines(tmp_path):
    raw = tmp_path / "raw.jsonl"
    good = json.loads(_raw("1", PAPER).to_json())
    raw.write_text(json.dumps(good, ensure_ascii=False) + "\n" + json.dumps({"drug_id": "2", "name": "x"}) + "\n",
                   encoding="utf-8")
    with pytest.raises(RecordError, match=r"raw.jsonl:2: url"):
        segment_file(raw, tmp_path / "out.jsonl")
    rejects = tmp_path / "rej.jsonl"
    s = segment_file(raw, tmp_path / "out.jsonl", on_error="skip", rejects=rejects)
    assert (s.drugs, s.statements, s.rejected) == (1, 3, 1)
    assert json.loads(rejects.read_text(encoding="utf-8"))["line"] == 2


def test_segment_cli(tmp_path):
    raw = tmp_path / "raw.jsonl"
    write_jsonl(raw, [_raw("1", PAPER)])
    out = tmp_path / "c.jsonl"
    res = CliRunner().invoke(app, ["segment", str(raw), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "3 statements" in res.output
    assert read_jsonl(out, ChddiRecord)[0].text == "药1片@与多巴胺合用,利尿作用加强"
    raw.write_text("{not json\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["segment", str(raw), "--out", str(out)])
    assert res.exit_code == 1 and "raw.jsonl:1" in res.output
