"""Authoring script of the fixture site's drug pages and of the gold sample corpus.

Run ``python -m ddikg.annotate.sample_source`` to regenerate

* ``crawler/fixture_site/content/drugs.jsonl`` — the fixture site's drug instructions (source of truth
  once committed; the crawler renders it to HTML), and
* ``annotate/data/sample/{train,test}.jsonl`` — the gold CH-DDI sample corpus.

Every interaction statement is written here once, with its annotation inline: ``[多巴胺|协同]`` marks a
subject drug and the relation it has with the page's drug (the object). The page text is the statements
with the markup removed, numbered in one of several package-insert styles; the corpus is what
:func:`ddikg.annotate.segment.segment_record` makes of the page, with the inline annotations turned into spans.
Building the corpus asserts that segmentation gives back exactly the authored statements, so
crawl -> segment -> model lines up by construction and any segmentation change that breaks it fails loudly.

All text was written for this project (templates + curated drug lists below); it is a small sample, not
the paper's CH-DDI.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "crawler" / "fixture_site" / "content" / "drugs.jsonl"
SAMPLE_DIR = Path(__file__).resolve().parent / "data" / "sample"
FIXTURE_URL = "http://127.0.0.1/drugref/html/{drug_id}.shtml"  # crawler profile's drug_page on loopback

# Table 2 of the paper (training split): the relation mix the sample follows.
TYPE_WEIGHTS = {"拮抗": 252, "抑制": 120, "协同": 319, "禁忌": 279, "无关": 187, "促进": 95, "相加": 24}
# Sampling weights per statement slot: multi-drug templates and small pools skew the result, so these are
# tuned until the written corpus is close to TYPE_WEIGHTS (see `ddikg annotate stats`).
_SLOT_WEIGHTS = {"拮抗": 200, "抑制": 120, "协同": 345, "禁忌": 330, "无关": 190, "促进": 75, "相加": 30}

# --------------------------------------------------------------------------- categories


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    effect: str  # the drug's main action, as it reads in "本品的{effect}"
    indication: str
    adverse: str
    contraindication: str
    caution: str
    partners: dict[str, list[str]]  # relation type -> interacting drugs/classes typical for this class


C = Category
CATEGORIES = {c.code: c for c in [
    C("H23", "利尿药", "利尿作用",
      "用于各种原因引起的水肿，也可用于高血压的辅助治疗。",
      "常见水、电解质紊乱，如低钾血症、低钠血症；偶见皮疹、高尿酸血症。",
      "对本品及磺胺类药物过敏者禁用；无尿患者禁用。",
      "用药期间应定期检查血电解质；老年患者应从小剂量开始。",
      {"协同": ["多巴胺", "卡托普利", "血管紧张素转换酶抑制剂"],
       "拮抗": ["肾上腺皮质激素", "雌激素", "拟交感神经药物", "抗惊厥药物", "非甾体抗炎药", "吲哚美辛", "布洛芬"],
       "禁忌": ["氨基糖苷类抗生素", "依他尼酸", "顺铂"],
       "促进": ["丙磺舒"],
       "促进/受": ["碳酸锂"],
       "相加": ["其他降压药物", "血管扩张药"]}),
    C("H11", "钙通道阻滞剂", "降压作用",
      "用于原发性高血压，也可用于慢性稳定型心绞痛。",
      "常见头痛、面部潮红、踝部水肿；少见心悸、头晕。",
      "对二氢吡啶类药物过敏者禁用；心源性休克患者禁用。",
      "肝功能不全者慎用；停药时应逐渐减量。",
      {"协同": ["β受体阻滞剂", "利尿药", "血管紧张素转换酶抑制剂", "硝酸酯类药物"],
       "拮抗": ["非甾体抗炎药", "拟交感神经药物", "甘草制剂"],
       "禁忌": ["利福平", "丹曲林", "强效CYP3A4诱导剂"],
       "促进": ["西咪替丁", "地尔硫䓬", "伊曲康唑"],
       "抑制": ["卡马西平", "苯妥英钠", "苯巴比妥"],
       "相加": ["其他降压药物", "三环类抗抑郁药"]}),
    C("H12", "血管紧张素转换酶抑制剂", "降压作用",
      "用于高血压，也可用于充血性心力衰竭的辅助治疗。",
      "常见干咳、头晕；偶见血管神经性水肿、高钾血症。",
      "有血管神经性水肿病史者禁用；妊娠期妇女禁用。",
      "用药期间应监测血钾和肾功能；肾动脉狭窄患者慎用。",
      {"协同": ["利尿药", "氢氯噻嗪", "钙通道阻滞剂", "β受体阻滞剂"],
       "拮抗": ["吲哚美辛", "非甾体抗炎药", "拟交感神经药物"],
       "禁忌": ["阿利吉仑", "沙库巴曲缬沙坦", "保钾利尿药"],
       "促进/受": ["碳酸锂", "地高辛"],
       "抑制": ["抗酸药"],
       "相加": ["其他降压药物", "血管扩张药"]}),
    C("H13", "血管紧张素Ⅱ受体拮抗剂", "降压作用",
      "用于原发性高血压。",
      "常见头晕；偶见高钾血症、血肌酐升高。",
      "妊娠期妇女禁用；对本品过敏者禁用。",
      "血容量不足的患者应先纠正后再用药；用药期间应监测血钾。",
      {"协同": ["利尿药", "氢氯噻嗪", "氨氯地平", "钙通道阻滞剂"],
       "拮抗": ["非甾体抗炎药", "吲哚美辛", "选择性COX-2抑制剂"],
       "禁忌": ["阿利吉仑", "补钾剂", "血管紧张素转换酶抑制剂"],
       "促进": ["氟康唑"],
       "促进/受": ["碳酸锂"],
       "相加": ["其他降压药物"]}),
    C("H14", "β受体阻滞剂", "降压作用",
      "用于高血压、心绞痛及心肌梗死后的二级预防。",
      "常见疲乏、心动过缓、肢端发冷；少见支气管痉挛。",
      "二度及以上房室传导阻滞、严重心动过缓及支气管哮喘患者禁用。",
      "不可突然停药；糖尿病患者用药时应注意低血糖症状可能被掩盖。",
      {"协同": ["利尿药", "钙通道阻滞剂", "硝酸酯类药物"],
       "拮抗": ["非甾体抗炎药", "拟交感神经药物", "肾上腺素"],
       "禁忌": ["维拉帕米", "单胺氧化酶抑制剂", "地尔硫䓬"],
       "促进": ["西咪替丁", "帕罗西汀", "氟西汀", "普罗帕酮"],
       "抑制": ["巴比妥类药物"],
       "相加": ["其他降压药物", "可乐定", "利血平"]}),
    C("C01", "抗血小板药", "抗血小板作用",
      "用于急性冠脉综合征及冠心病患者血栓事件的预防。",
      "常见出血、消化不良、腹痛；偶见血小板减少。",
      "活动性出血及严重肝功能损害患者禁用。",
      "手术前应考虑停药；用药期间注意观察出血征象。",
      {"协同": ["华法林", "肝素", "双嘧达莫", "低分子肝素"],
       "拮抗": ["萘普生", "糖皮质激素"],
       "禁忌": ["甲氨蝶呤", "强效CYP3A4抑制剂", "奥美拉唑"],
       "促进/受": ["丙戊酸", "甲苯磺丁脲"],
       "抑制": ["抗酸药"],
       "相加": ["抗凝药", "溶栓药", "其他抗血小板药"]}),
    C("C02", "硝酸酯类药", "抗心绞痛作用",
      "用于冠心病心绞痛的治疗及预防。",
      "常见头痛、面部潮红；偶见体位性低血压。",
      "严重低血压、闭角型青光眼及颅内压增高患者禁用。",
      "应使用能有效缓解症状的最小剂量；长期使用可能产生耐药性。",
      {"协同": ["β受体阻滞剂", "钙通道阻滞剂"],
       "拮抗": ["麦角胺", "乙酰胆碱"],
       "禁忌": ["西地那非", "他达拉非", "伐地那非", "磷酸二酯酶5抑制剂", "利奥西呱"],
       "促进": ["阿司匹林"],
       "相加": ["降压药物", "三环类抗抑郁药", "血管扩张药"]}),
    C("C03", "调脂药", "调脂作用",
      "用于高胆固醇血症，以及冠心病患者心血管事件风险的降低。",
      "常见肌痛、便秘、转氨酶升高；罕见横纹肌溶解。",
      "活动性肝病患者禁用；妊娠期及哺乳期妇女禁用。",
      "用药前及用药期间应检查肝功能；出现不明原因肌痛时应检查肌酸激酶。",
      {"协同": ["依折麦布", "考来维仑"],
       "拮抗": ["口服避孕药"],
       "禁忌": ["吉非罗齐", "环孢素", "泊沙康唑", "HIV蛋白酶抑制剂"],
       "促进": ["克拉霉素", "红霉素", "地尔硫䓬", "胺碘酮", "维拉帕米", "夫西地酸"],
       "抑制": ["利福平", "考来替泊", "依非韦伦"],
       "相加": ["非诺贝特", "烟酸"]}),
    C("D11", "双胍类降糖药", "降糖作用",
      "用于单纯饮食控制及体育锻炼治疗无效的2型糖尿病。",
      "常见恶心、腹泻、食欲减退；长期服用可致维生素B12吸收减少。",
      "严重肾功能不全、代谢性酸中毒患者禁用。",
      "用药期间应定期检查肾功能；接受外科手术前应暂停用药。",
      {"协同": ["胰岛素", "磺酰脲类药物", "格列本脲"],
       "拮抗": ["噻嗪类利尿药", "糖皮质激素", "甲状腺激素", "烟酸", "拟交感神经药物"],
       "禁忌": ["碘化造影剂", "含碘造影剂"],
       "促进": ["西咪替丁", "多替拉韦", "呋塞米"],
       "相加": ["其他降糖药物", "胰岛素促泌剂"]}),
    C("D12", "磺酰脲类降糖药", "降糖作用",
      "用于饮食控制及运动治疗血糖控制不佳的2型糖尿病。",
      "常见低血糖；偶见胃肠道不适、皮疹。",
      "1型糖尿病、糖尿病酮症酸中毒及严重肝肾功能不全患者禁用。",
      "用药期间应监测血糖，注意低血糖反应；老年患者应从小剂量开始。",
      {"协同": ["胰岛素", "二甲双胍", "阿卡波糖", "水杨酸类药物", "磺胺类药物"],
       "拮抗": ["糖皮质激素", "噻嗪类利尿药", "甲状腺激素", "肾上腺素", "口服避孕药"],
       "禁忌": ["咪康唑"],
       "促进": ["氟康唑", "保泰松"],
       "抑制": ["巴比妥类药物"],
       "相加": ["其他降糖药物"]}),
    C("D13", "α-葡萄糖苷酶抑制剂", "降糖作用",
      "配合饮食控制，用于2型糖尿病，降低餐后血糖。",
      "常见腹胀、排气增多、腹泻。",
      "有明显消化和吸收障碍的慢性胃肠功能紊乱患者禁用。",
      "与其他降糖药合用出现低血糖时，应使用葡萄糖而不是蔗糖纠正。",
      {"协同": ["磺酰脲类药物", "胰岛素", "二甲双胍"],
       "拮抗": ["肠道吸附剂", "消化酶制剂", "淀粉酶"],
       "禁忌": ["新霉素"],
       "抑制": ["地高辛"],
       "相加": ["其他降糖药物"]}),
    C("D14", "二肽基肽酶-4抑制剂", "降糖作用",
      "配合饮食和运动，用于改善2型糖尿病患者的血糖控制。",
      "常见鼻咽炎、头痛；罕见胰腺炎。",
      "对本品过敏者禁用；1型糖尿病患者禁用。",
      "与磺酰脲类药物合用时应考虑减少后者剂量；出现持续剧烈腹痛时应停药。",
      {"协同": ["二甲双胍", "磺酰脲类药物", "胰岛素", "吡格列酮"],
       "拮抗": ["糖皮质激素", "噻嗪类利尿药"],
       "禁忌": ["强效CYP3A4诱导剂"],
       "促进": ["酮康唑", "地尔硫䓬"],
       "相加": ["其他降糖药物"]}),
    C("R01", "平喘药", "平喘作用",
      "用于慢性阻塞性肺疾病及支气管哮喘的维持治疗，缓解喘息症状。",
      "常见心悸、手指震颤、口干；偶见恶心、头痛。",
      "对本品过敏者禁用；急性心肌梗死伴血压显著降低者禁用。",
      "甲状腺功能亢进、严重心脏病患者慎用；不可超过推荐剂量使用。",
      {"协同": ["β2受体激动剂", "沙丁胺醇", "吸入性糖皮质激素", "抗胆碱药"],
       "拮抗": ["β受体阻滞剂", "普萘洛尔"],
       "禁忌": ["其他黄嘌呤类药物", "非选择性β受体阻滞剂"],
       "促进": ["环丙沙星", "依诺沙星", "氟伏沙明", "别嘌醇"],
       "相加": ["咖啡因", "其他抗胆碱药"]}),
    C("R02", "祛痰药", "祛痰作用",
      "用于慢性阻塞性肺疾病、慢性支气管炎等痰液黏稠不易咳出者。",
      "偶见胃部不适、恶心、皮疹。",
      "对本品过敏者禁用；消化性溃疡活动期患者慎用。",
      "用药期间应多饮水；避免与强力镇咳药同时使用。",
      {"协同": ["茶碱", "β2受体激动剂"],
       "拮抗": ["抗胆碱药", "阿托品"],
       "禁忌": ["可待因", "中枢性镇咳药", "右美沙芬"],
       "促进/受": ["阿莫西林", "头孢呋辛", "多西环素"],
       "抑制": ["活性炭"],
       "相加": ["其他祛痰药"]}),
    C("O01", "双膦酸盐类", "抗骨吸收作用",
      "用于绝经后妇女骨质疏松症及男性骨质疏松症，以降低骨折风险。",
      "常见腹痛、消化不良、食管炎；罕见颌骨坏死。",
      "食管排空延迟、不能站立或坐直至少30分钟者及低钙血症患者禁用。",
      "应于清晨空腹用一满杯白开水送服，服药后至少30分钟内避免躺卧。",
      {"协同": ["维生素D", "雌激素"],
       "拮抗": ["糖皮质激素", "质子泵抑制剂"],
       "禁忌": ["氨基糖苷类抗生素", "其他双膦酸盐类药物"],
       "促进": ["雷尼替丁"],
       "抑制": ["钙剂", "含铝镁制剂", "铁剂", "碳酸钙"],
       "相加": ["非甾体抗炎药", "阿司匹林"]}),
    C("O02", "钙和维生素D类", "疗效",
      "用于绝经后及老年性骨质疏松症的辅助治疗，也用于钙和维生素D的补充。",
      "偶见便秘、嗳气；大剂量可致高钙血症。",
      "高钙血症、高尿钙症及维生素D中毒患者禁用。",
      "用药期间应定期监测血钙和尿钙。",
      {"协同": ["噻嗪类利尿药", "双膦酸盐"],
       "拮抗": ["糖皮质激素", "苯妥英钠"],
       "禁忌": ["其他维生素D衍生物", "洋地黄类药物"],
       "抑制": ["四环素类抗生素", "喹诺酮类抗生素", "矿物油"],
       "相加": ["含镁制剂"]}),
]}

# Interacting drugs that fit any class when a class has too few of its own.
SHARED_PARTNERS = {
    "无关": ["对乙酰氨基酚", "奥美拉唑", "兰索拉唑", "雷尼替丁", "氯雷他定", "头孢氨苄", "地高辛", "华法林",
             "口服避孕药", "阿莫西林", "甲硝唑", "泮托拉唑"],
    "促进": ["西咪替丁", "酮康唑", "克拉霉素", "红霉素", "胺碘酮", "丙磺舒"],
    "促进/受": ["地高辛", "碳酸锂", "环孢素", "他克莫司"],
    "抑制": ["考来烯胺", "考来替泊", "利福平", "卡马西平", "苯妥英钠", "苯巴比妥", "抗酸药", "硫糖铝"],
    # No shared 拮抗/协同/禁忌/相加: those depend on the drug class, so a class without enough of its own
    # simply has fewer such statements.
}

# --------------------------------------------------------------------------- drugs

# (drug_id, name, 成份 name, category, diseases, 用法用量)
DRUGS: list[tuple[str, str, str, str, list[str], str]] = [
    ("10001", "布美他尼片", "布美他尼", "H23", ["高血压"], ""),  # seed: the paper's example, text kept as is
    ("10004", "氢氯噻嗪片", "氢氯噻嗪", "H23", ["高血压"], "口服。成人每次25～50mg，每日1～2次。"),
    ("10005", "吲达帕胺片", "吲达帕胺", "H23", ["高血压"], "口服。成人每次2.5mg，每日1次，早晨服用。"),
    ("10006", "螺内酯片", "螺内酯", "H23", ["高血压"], "口服。成人每日40～80mg，分2～4次服用。"),
    ("10007", "苯磺酸氨氯地平片", "苯磺酸氨氯地平", "H11", ["高血压", "冠心病"], "口服。起始剂量每次5mg，每日1次，最大剂量10mg。"),
    ("10008", "硝苯地平控释片", "硝苯地平", "H11", ["高血压", "冠心病"], "口服。每次30mg，每日1次，整片吞服。"),
    ("10009", "非洛地平缓释片", "非洛地平", "H11", ["高血压"], "口服。起始剂量每次5mg，每日1次。"),
    ("10010", "卡托普利片", "卡托普利", "H12", ["高血压"], "口服。成人每次12.5mg，每日2～3次，餐前1小时服用。"),
    ("10011", "马来酸依那普利片", "马来酸依那普利", "H12", ["高血压"], "口服。起始剂量每日5～10mg，分1～2次服用。"),
    ("10012", "盐酸贝那普利片", "盐酸贝那普利", "H12", ["高血压"], "口服。每次10mg，每日1次。"),
    ("10013", "氯沙坦钾片", "氯沙坦钾", "H13", ["高血压"], "口服。通常起始和维持剂量为每日1次50mg。"),
    ("10014", "缬沙坦胶囊", "缬沙坦", "H13", ["高血压"], "口服。推荐剂量为每次80mg，每日1次。"),
    ("10015", "厄贝沙坦片", "厄贝沙坦", "H13", ["高血压"], "口服。推荐起始剂量为每日150mg。"),
    ("10016", "酒石酸美托洛尔片", "酒石酸美托洛尔", "H14", ["高血压", "冠心病"], "口服。每次25～50mg，每日2次。"),
    ("10017", "富马酸比索洛尔片", "富马酸比索洛尔", "H14", ["高血压", "冠心病"], "口服。每次5mg，每日1次。"),
    ("10018", "阿替洛尔片", "阿替洛尔", "H14", ["高血压"], "口服。成人起始剂量每次6.25～12.5mg，每日2次。"),
    ("10002", "阿司匹林肠溶片", "阿司匹林", "C01", ["冠心病"], ""),  # seed
    ("10019", "硫酸氢氯吡格雷片", "硫酸氢氯吡格雷", "C01", ["冠心病"], "口服。每次75mg，每日1次。"),
    ("10020", "替格瑞洛片", "替格瑞洛", "C01", ["冠心病"], "口服。起始剂量为单次负荷量180mg，此后每次90mg，每日2次。"),
    ("10021", "硝酸甘油片", "硝酸甘油", "C02", ["冠心病"], "舌下含服。每次0.25～0.5mg，每5分钟可重复1次。"),
    ("10022", "单硝酸异山梨酯缓释片", "单硝酸异山梨酯", "C02", ["冠心病"], "口服。每次40～60mg，每日1次，清晨服用。"),
    ("10023", "硝酸异山梨酯片", "硝酸异山梨酯", "C02", ["冠心病"], "口服。每次5～10mg，每日2～3次。"),
    ("10024", "阿托伐他汀钙片", "阿托伐他汀钙", "C03", ["冠心病"], "口服。起始剂量每次10mg，每日1次。"),
    ("10025", "瑞舒伐他汀钙片", "瑞舒伐他汀钙", "C03", ["冠心病"], "口服。起始剂量每次5mg，每日1次。"),
    ("10026", "辛伐他汀片", "辛伐他汀", "C03", ["冠心病"], "口服。每次20～40mg，每日1次，晚间服用。"),
    ("10003", "二甲双胍片", "盐酸二甲双胍", "D11", ["糖尿病"], ""),  # seed: 尚不明确 only
    ("10027", "盐酸二甲双胍缓释片", "盐酸二甲双胍", "D11", ["糖尿病"], "口服。起始剂量每次500mg，每日1次，晚餐时服用。"),
    ("10028", "盐酸二甲双胍肠溶片", "盐酸二甲双胍", "D11", ["糖尿病"], "口服。每次0.5g，每日2～3次，餐前服用。"),
    ("10029", "格列美脲片", "格列美脲", "D12", ["糖尿病"], "口服。起始剂量每次1mg，每日1次，早餐前服用。"),
    ("10030", "格列齐特缓释片", "格列齐特", "D12", ["糖尿病"], "口服。每次30～120mg，每日1次，早餐时服用。"),
    ("10031", "格列吡嗪片", "格列吡嗪", "D12", ["糖尿病"], "口服。每次2.5～5mg，每日1～3次，餐前30分钟服用。"),
    ("10032", "阿卡波糖片", "阿卡波糖", "D13", ["糖尿病"], "口服。每次50mg，每日3次，用餐前即刻整片吞服或与前几口食物一起咀嚼服用。"),
    ("10033", "伏格列波糖片", "伏格列波糖", "D13", ["糖尿病"], "口服。每次0.2mg，每日3次，餐前服用。"),
    ("10034", "米格列醇片", "米格列醇", "D13", ["糖尿病"], "口服。每次50mg，每日3次，随第一口饭服用。"),
    ("10035", "磷酸西格列汀片", "磷酸西格列汀", "D14", ["糖尿病"], "口服。每次100mg，每日1次。"),
    ("10036", "沙格列汀片", "沙格列汀", "D14", ["糖尿病"], "口服。每次5mg，每日1次。"),
    ("10037", "利格列汀片", "利格列汀", "D14", ["糖尿病"], "口服。每次5mg，每日1次。"),
    ("10038", "茶碱缓释片", "茶碱", "R01", ["慢阻肺"], "口服。每次0.1～0.2g，每日2次，早晚用温开水送服。"),
    ("10039", "多索茶碱片", "多索茶碱", "R01", ["慢阻肺"], "口服。每次0.2～0.4g，每日2次。"),
    ("10040", "硫酸沙丁胺醇吸入气雾剂", "硫酸沙丁胺醇", "R01", ["慢阻肺"], "吸入。每次100～200μg，必要时可每4小时重复1次。"),
    ("10041", "噻托溴铵粉雾剂", "噻托溴铵", "R01", ["慢阻肺"], "吸入。每次18μg，每日1次。"),
    ("10042", "盐酸氨溴索片", "盐酸氨溴索", "R02", ["慢阻肺"], "口服。成人每次30～60mg，每日3次，餐后服用。"),
    ("10043", "乙酰半胱氨酸泡腾片", "乙酰半胱氨酸", "R02", ["慢阻肺"], "溶于温开水后口服。每次0.6g，每日1～2次。"),
    ("10044", "羧甲司坦片", "羧甲司坦", "R02", ["慢阻肺"], "口服。成人每次0.5g，每日3次。"),
    ("10045", "阿仑膦酸钠片", "阿仑膦酸钠", "O01", ["骨质疏松"], "口服。每周1次，每次70mg，早餐前至少30分钟空腹服用。"),
    ("10046", "利塞膦酸钠片", "利塞膦酸钠", "O01", ["骨质疏松"], "口服。每次5mg，每日1次，早餐前至少30分钟服用。"),
    ("10047", "伊班膦酸钠片", "伊班膦酸钠", "O01", ["骨质疏松"], "口服。每月1次，每次150mg。"),
    ("10048", "碳酸钙D3片", "碳酸钙、维生素D3", "O02", ["骨质疏松"], "口服。每次1片，每日1～2次。"),
    ("10049", "骨化三醇软胶囊", "骨化三醇", "O02", ["骨质疏松"], "口服。每次0.25μg，每日2次。"),
    ("10050", "阿法骨化醇片", "阿法骨化醇", "O02", ["骨质疏松"], "口服。成人每次0.5μg，每日1次。"),
    ("10051", "格列本脲片", "格列本脲", "D12", ["糖尿病"], "口服。起始剂量每次2.5mg，早餐前或早餐及午餐前各1次。"),
    ("10052", "吲哚布芬片", "吲哚布芬", "C01", ["冠心病"], "口服。每次100～200mg，每日2次，餐后服用。"),
    ("10053", "硝酸异山梨酯缓释胶囊", "硝酸异山梨酯", "C02", ["冠心病"], "口服。每次40mg，每日1～2次。"),
]
NO_SECTION = {"10023"}  # a page without an interaction section (counted by segment_file, not an error)

# The three seed pages, kept as they were (10002's interaction section is extended below).
SEED_PAGES = {
    "10001": {"药品名称": "布美他尼片", "成份": "本品主要成份为布美他尼。",
              "适应症": "用于各种顽固性水肿及急性肺水肿，也可用于高血压的辅助治疗。",
              "用法用量": "口服。成人起始剂量每日0.5～2mg，必要时每隔4～5小时重复。",
              "不良反应": "常见水、电解质紊乱，如低钾血症、低氯血症。", "禁忌": "对本品及磺胺类药物过敏者禁用。"},
    "10002": {"药品名称": "阿司匹林肠溶片", "适应症": "用于降低急性心肌梗死疑似患者的发病风险，预防心肌梗死复发。",
              "不良反应": "较常见的有恶心、呕吐、上腹部不适或疼痛等胃肠道反应。"},
    "10003": {"药品名称": "盐酸二甲双胍片", "适应症": "用于单纯饮食控制及体育锻炼治疗无效的2型糖尿病。"},
}
SEED_STATEMENTS = {
    "10001": [
        "与[多巴胺|协同]合用,利尿作用加强",
        "[肾上腺糖、盐皮质激素|拮抗],[促肾上腺皮质激素|拮抗]及[雌激素|拮抗]能降低本药的利尿作用",
        "与[拟交感神经药物|拮抗]及[抗惊厥药物|拮抗]合用,利尿作用减弱",
    ],
    "10002": [
        "与[布洛芬|拮抗]合用,可降低本品的抗血小板作用",
        "与[华法林|协同]合用,出血风险增加",
        "禁与[甲氨蝶呤|禁忌](每周15mg或以上)合用",
    ],
}
SEED_SECTIONS = {
    "10001": "1.与多巴胺合用,利尿作用加强。2.肾上腺糖、盐皮质激素,促肾上腺皮质激素及雌激素能降低本药的利尿作用。"
             "3.与拟交感神经药物及抗惊厥药物合用,利尿作用减弱。",
    "10003": "尚不明确。",
}

# --------------------------------------------------------------------------- statement templates
# <1>/<2>: interacting drugs; {b}: 本品/本药; {e}: the class's effect; {c}: the page's comma.
# (relation of <1>, relation of <2> or None, template, compound: has ;/。 inside so needs a numbered item)

TEMPLATES: dict[str, list[tuple[str, str | None, str, bool]]] = {
    "协同": [
        ("协同", None, "与<1>合用{c}{e}加强", False),
        ("协同", None, "<1>可增强{b}的{e}", False),
        ("协同", None, "与<1>合用时{c}{e}增强{c}应适当减少剂量", False),
        ("协同", None, "{b}与<1>联合应用可产生协同作用", False),
        ("协同", None, "与<1>同时服用{c}可使{e}明显增强", False),
        ("协同", "协同", "<1>、<2>等可增强{b}的{e}", False),
        ("协同", "拮抗", "与<1>合用{c}{e}加强；与<2>合用{c}{e}减弱", True),
    ],
    "拮抗": [
        ("拮抗", None, "与<1>合用{c}{e}减弱", False),
        ("拮抗", None, "<1>能降低{b}的{e}", False),
        ("拮抗", None, "<1>可拮抗{b}的{e}", False),
        ("拮抗", None, "与<1>同用时{c}{b}的{e}减弱{c}需调整剂量", False),
        ("拮抗", None, "<1>可使{b}的{e}降低", False),
        ("拮抗", "拮抗", "<1>及<2>能降低{b}的{e}", False),
        ("拮抗", "拮抗", "与<1>、<2>合用{c}{e}减弱", False),
    ],
    "抑制": [
        ("抑制/吸收", None, "<1>可减少{b}的吸收", False),
        ("抑制", None, "与<1>合用{c}{b}的血药浓度降低", False),
        ("抑制/代谢", None, "<1>可加速{b}的代谢{c}使其血药浓度下降", False),
        ("抑制/代谢", None, "<1>为肝药酶诱导剂{c}合用可降低{b}的血药浓度", False),
        ("抑制/吸收", None, "与<1>同服可降低{b}的生物利用度{c}两者应间隔2小时以上服用", False),
        ("抑制/吸收", None, "<1>可减少{b}的吸收；如需合用{c}两药应间隔2小时以上服用", True),
    ],
    "促进": [
        ("促进", None, "<1>可使{b}的血药浓度升高", False),
        ("促进", None, "与<1>合用{c}可减慢{b}的代谢{c}使血药浓度升高", False),
        ("促进", None, "<1>可抑制{b}的代谢{c}使其血药浓度增加", False),
        ("促进/受", None, "{b}可使<1>的血药浓度升高{c}合用时应注意监测", False),
        ("促进/受", None, "合用时{b}可减少<1>的排泄{c}使后者血药浓度升高", False),
        ("促进", None, "<1>可升高{b}的血药浓度。合用时应监测血药浓度并调整剂量", True),
    ],
    "禁忌": [
        ("禁忌", None, "禁与<1>合用", False),
        ("禁忌", None, "禁止与<1>合用", False),
        ("禁忌", None, "{b}不得与<1>同时使用", False),
        ("禁忌", None, "与<1>合用可能导致严重不良反应{c}应避免合用", False),
        ("禁忌", None, "正在使用<1>的患者禁用{b}", False),
        ("禁忌", "禁忌", "禁止与<1>、<2>合用", False),
        ("禁忌", "无关", "禁止与<1>合用；与<2>合用时无需调整剂量", True),
    ],
    "无关": [
        ("无关", None, "与<1>合用未见明显的药物相互作用", False),
        ("无关", None, "<1>对{b}的药代动力学无明显影响", False),
        ("无关", None, "与<1>合用时无需调整剂量", False),
        ("无关", None, "{b}与<1>之间无具有临床意义的相互作用", False),
        ("无关", None, "同时服用<1>不影响{b}的疗效", False),
    ],
    "相加": [
        ("相加", None, "与<1>合用{c}{e}相加", False),
        ("相加", None, "{b}与<1>的作用可相互叠加", False),
        ("相加", None, "与<1>合用时两者作用可累加{c}应注意监测", False),
    ],
}
# Drugs that speed up the metabolism of others (the rest of the 抑制 pools reduce absorption).
INDUCERS = {"利福平", "卡马西平", "苯妥英钠", "苯巴比妥", "巴比妥类药物", "依非韦伦"}
NO_RELATION = ["服用本品期间应避免饮酒", "合用其他药物时应注意观察患者的反应"]
CONSULT = "如与其他药物同时使用可能会发生药物相互作用，详情请咨询医师或药师"

# Free-form statements, written after the cue rules were frozen and not in the templates' words, so that
# the rule baseline is measured on phrasing it was not written for. Keyed by disease area; "*" fits any.
FREE: dict[str, list[str]] = {
    "*": [
        "[酮康唑|促进]、[伊曲康唑|促进]等强效CYP3A4抑制剂可使{b}的暴露量增加约2倍",
        "[卡马西平|抑制]可使{b}的AUC下降约50%{c}合用时应考虑增加剂量",
        "与[利福平|拮抗]合用时{c}{b}的疗效可能不足",
        "[丙磺舒|促进]可延缓{b}经肾排泄",
        "[华法林|无关]的凝血酶原时间不受{b}影响",
        "[考来烯胺|抑制]可与{b}结合而影响其吸收",
        "[胺碘酮|促进]可使{b}的血药浓度成倍升高",
        "[西咪替丁|无关]不改变{b}的药代动力学参数",
        "与[阿莫西林|无关]、[对乙酰氨基酚|无关]同服时两者的药代动力学均未发生改变",
        "[苯巴比妥|抑制]等肝药酶诱导剂可加快{b}的代谢",
        "正在服用[单胺氧化酶抑制剂|禁忌]的患者在停药14天内不应使用{b}",
        "{b}与[布洛芬|无关]合用未观察到有临床意义的药代动力学改变",
        "[利福平|抑制]可使{b}血药浓度明显下降{c}疗效减弱",
        "与[甲氨蝶呤|协同]合用可增加后者的毒性",
    ],
    "cardio": [
        "与[非甾体抗炎药|协同]合用可加重胃肠道出血的风险",
        "与[氯化钾|禁忌]同服可引起严重高钾血症{c}故不宜合用",
        "{b}可增强[华法林|协同]的抗凝作用{c}合用时应监测国际标准化比值",
        "与[依那普利|相加]合用时降压效果叠加{c}应防止血压过低",
        "[双嘧达莫|协同]与{b}合用可使出血倾向增加",
        "[肝素|禁忌]与{b}合用须谨慎{c}一般不推荐",
        "{b}可降低[口服避孕药|拮抗]的避孕效果",
    ],
    "diabetes": [
        "{b}与[胰岛素|协同]合用时易发生低血糖{c}应减少胰岛素剂量",
        "[左甲状腺素|拮抗]可升高血糖{c}减弱{b}的降糖效果",
        "[格列喹酮|协同]与{b}联用时低血糖发生率增加",
        "[瑞格列奈|相加]与{b}的降糖作用可累加",
    ],
    "copd": [
        "[普萘洛尔|拮抗]可阻断{b}的支气管扩张作用",
        "与[吸入性糖皮质激素|协同]联用可更好地控制症状",
    ],
    "bone": [
        "[碳酸钙|抑制]与{b}同服时可形成不溶性络合物",
        "[噻嗪类利尿药|协同]可减少尿钙排泄{c}与{b}合用有引起高钙血症的危险",
        "本品不宜与[含铝镁制剂|禁忌]同时服用",
    ],
}
AREA = {"H": "cardio", "C": "cardio", "D": "diabetes", "R": "copd", "O": "bone"}

# Nested groups: a lead-in ending in a colon and 2-3 bare drug names as (1)(2)(3) items.
GROUPS = [("协同", "与下列药物合用可增强{b}的{e}："), ("拮抗", "下列药物可减弱{b}的{e}："),
          ("促进", "下列药物可使{b}的血药浓度升高：")]

STYLES = ["dot", "dun", "paren", "circled", "sentences", "semicolons", "nested", "run-on", "lines"]
_FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
_MARKUP = re.compile(r"\[([^\[\]|]+)\|([^\[\]|]+)\]")


def strip_markup(marked: str) -> tuple[str, list[tuple[int, int, str, str]]]:
    """``与[多巴胺|协同]合用`` -> (``与多巴胺合用``, [(1, 4, '多巴胺', '协同')])."""
    out, ents, pos = [], [], 0
    n = 0
    for m in _MARKUP.finditer(marked):
        out.append(marked[pos:m.start()])
        n += m.start() - pos
        ents.append((n, n + len(m.group(1)), m.group(1), m.group(2)))
        out.append(m.group(1))
        n += len(m.group(1))
        pos = m.end()
    out.append(marked[pos:])
    return "".join(out), ents


@dataclass
class Unit:
    """One thing on the page: a statement, or a nested group (lead-in + bare drug names)."""

    marked: str = ""  # statement with [drug|type] markup
    compound: bool = False
    lead: str = ""  # for groups
    children: tuple[str, ...] = ()  # marked bare names

    def expected(self) -> list[str]:
        """The marked statements segmentation must produce from this unit."""
        if not self.lead:
            return [self.marked]
        return [self.lead + child for child in self.children]


def _author_units(drug_id: str, cat: Category, rng: random.Random, style: str,
                  exclude: frozenset[str] = frozenset()) -> list[Unit]:
    comma = "," if int(drug_id) % 3 == 0 else "，"
    b = "本药" if int(drug_id) % 4 == 0 else "本品"
    used: set[str] = set(exclude)  # one statement per interacting drug and page
    numbered = style not in ("sentences", "semicolons")

    def partner(tag: str) -> str | None:
        rel, _, kind = tag.partition("/")
        if rel == "抑制":  # absorption binders vs enzyme inducers, so the mechanism in the text fits the drug
            cands = cat.partners.get(rel, []) + SHARED_PARTNERS[rel]
            if kind:
                cands = [p for p in cands if (p in INDUCERS) == (kind == "代谢")]
        else:
            cands = cat.partners.get(tag, []) + SHARED_PARTNERS.get(tag, [])
        pool = [p for p in dict.fromkeys(cands) if p not in used]
        if not pool:
            return None
        p = rng.choice(pool)
        used.add(p)
        return p

    units: list[Unit] = []
    target = rng.choice([8, 9, 9, 10])
    types, weights = list(_SLOT_WEIGHTS), list(_SLOT_WEIGHTS.values())
    if style == "nested":
        rel, lead = rng.choice(GROUPS)
        names = [p for p in (partner(rel) for _ in range(rng.choice([2, 3]))) if p]
        lead = lead.format(b=b, e=cat.effect)
        units.append(Unit(lead=lead, children=tuple(f"[{p}|{rel}]" for p in names)))
    attempts = 0
    while sum(len(u.expected()) for u in units) < target and attempts < 200:
        attempts += 1
        rel = rng.choices(types, weights)[0]
        options = [t for t in TEMPLATES[rel] if numbered or not t[3]]
        if not options:
            continue
        r1, r2, tpl, compound = rng.choice(options)
        p1 = partner(r1)
        p2 = partner(r2) if r2 else None
        if p1 is None or (r2 and p2 is None):
            used.discard(p1 or "")
            used.discard(p2 or "")
            continue
        label1, label2 = r1.split("/")[0], (r2 or "").split("/")[0]
        text = tpl.replace("<1>", f"[{p1}|{label1}]").replace("<2>", f"[{p2}|{label2}]" if p2 else "")
        units.append(Unit(marked=text.format(b=b, e=cat.effect, c=comma), compound=compound))
    # One or two free-form statements per page, replacing template statements.
    free = [f for f in FREE[AREA[cat.code[0]]] + FREE["*"]
            if not any(e[2] in used for e in strip_markup(f)[1])]
    for f in rng.sample(free, k=min(len(free), rng.choice([1, 2, 2]))):
        marked = f.format(b=b, c=comma)
        if units and not units[-1].lead:
            units.pop()
        units.append(Unit(marked=marked))
        used.update(e[2] for e in strip_markup(marked)[1])
    if int(drug_id) % 7 == 0:
        units.insert(rng.randrange(len(units) + 1), Unit(marked=rng.choice(NO_RELATION)))
    rng.shuffle(units)
    return units


def _render(units: list[Unit], style: str, boiler: bool) -> str:
    """Lay the statements out as one package-insert interaction section."""
    plain = [strip_markup(u.marked)[0] for u in units]
    if style == "sentences":
        body = "".join(p + "。" for p in plain)
        return body + (CONSULT + "。" if boiler else "")
    if style == "semicolons":
        body = "；".join(plain) + "。"
        return body + (CONSULT + "。" if boiler else "")
    parts = []
    number = 0
    for unit, text in zip(units, plain, strict=True):
        number += 1
        if style == "lines" and number == 3:
            number += 1  # a skipped number, as on real pages
        if unit.lead:
            kids = "；".join(f"（{i}）{strip_markup(c)[0]}" for i, c in enumerate(unit.children, start=1))
            parts.append(f"{number}.{unit.lead}{kids}。")
            continue
        if style == "dot":
            parts.append(f"{number}.{text}。")
        elif style == "dun":
            parts.append(f"{number}、{text}。")
        elif style == "paren":
            parts.append(f"（{number}）{text}；".translate(_FULLWIDTH_DIGITS))
        elif style == "circled":
            parts.append(f"{chr(0x2460 + number - 1)}{text}。".translate(_FULLWIDTH_DIGITS))
        elif style == "nested":
            parts.append(f"{number}.{text}。")
        elif style == "run-on":
            # the sentence end is missing before some numbers: "…加强2.与…"
            last = unit is units[-1]
            end = "" if number % 2 and not last and re.search(r"[\u4e00-\u9fff]$", text) else "。"
            parts.append(f"{number}.{text}{end}")
        elif style == "lines":
            parts.append(f"{number}. {text}。\n")
    if boiler:
        number += 1
        if style == "lines":
            parts.append(f"{number}. {CONSULT}。")
        else:
            parts.append(f"{CONSULT}。")
    section = "".join(parts)
    return section[:-1] + "。" if style == "paren" and section.endswith("；") else section


def author() -> tuple[list[dict], dict[str, list[Unit]]]:
    """The fixture pages and, per drug id, the units its interaction section was written from."""
    rng = random.Random(6)
    pages, units_by_drug = [], {}
    for i, (drug_id, name, generic, code, diseases, dose) in enumerate(DRUGS):
        cat = CATEGORIES[code]
        style = STYLES[i % len(STYLES)]
        if drug_id in SEED_PAGES:
            sections = dict(SEED_PAGES[drug_id])
        else:
            sections = {"药品名称": name, "成份": f"本品主要成份为{generic}。", "适应症": cat.indication}
            if dose:
                sections["用法用量"] = dose
            sections |= {"不良反应": cat.adverse, "禁忌": cat.contraindication, "注意事项": cat.caution}
        if drug_id in SEED_SECTIONS:
            units = [Unit(marked=s) for s in SEED_STATEMENTS.get(drug_id, [])]
            sections["药物相互作用"] = SEED_SECTIONS[drug_id]
        elif drug_id not in NO_SECTION:
            seeded = {e[2] for m in SEED_STATEMENTS.get(drug_id, []) for e in strip_markup(m)[1]}
            units = _author_units(drug_id, cat, rng, style, frozenset(seeded))
            if drug_id == "10002":
                style = "dot"
                units = [Unit(marked=s) for s in SEED_STATEMENTS[drug_id]] + [u for u in units if not u.lead]
            sections["药物相互作用"] = _render(units, style, boiler=i % 3 == 1)
        else:
            units = []
        if drug_id not in SEED_PAGES:
            sections["贮藏"] = "遮光，密封保存。"
        pages.append({"drug_id": drug_id, "name": name, "categories": [{"code": cat.code, "name": cat.name}],
                      "diseases": diseases, "sections": sections})
        units_by_drug[drug_id] = units
    return pages, units_by_drug


def raw_records(pages: list[dict]):
    """The RawDrugRecords the crawler emits for the fixture pages (category names, sections as given)."""
    from ddikg.contracts import RawDrugRecord

    return [RawDrugRecord(drug_id=p["drug_id"], name=p["name"], url=FIXTURE_URL.format(drug_id=p["drug_id"]),
                          categories=[c["name"] for c in p["categories"]], diseases=p["diseases"],
                          sections=p["sections"]) for p in pages]


def build_corpus(pages: list[dict], units_by_drug: dict[str, list[Unit]]) -> dict[str, list]:
    """Segment the pages and attach the authored annotations; asserts the texts line up."""
    from ddikg.annotate.segment import normalize, segment_record
    from ddikg.contracts import ChddiMeta, ChddiRecord, Spo, TypedValue

    out: dict[str, list] = {}
    for rec in raw_records(pages):
        statements = [s for s in segment_record(rec) if not s.meta.boilerplate]
        expected = [normalize(m).strip("。;,.、:!? ") for u in units_by_drug[rec.drug_id] for m in u.expected()]
        got = [s.text.split("@", 1)[1] for s in statements]
        plain = [strip_markup(m)[0] for m in expected]
        if got != plain:
            raise AssertionError(f"{rec.drug_id} {rec.name}: segmentation differs from the authored statements:\n"
                                 f"  got      {got}\n  expected {plain}")
        records = []
        for st, marked in zip(statements, expected, strict=True):
            _, ents = strip_markup(marked)
            name = rec.name
            base = len(name) + 1
            spos = [Spo(predicate=rel, subject=ent, object=TypedValue.of(name),
                        subject_span=(base + s, base + e), object_span=(0, len(name)))
                    for s, e, ent, rel in ents]
            meta = ChddiMeta(source_drug=st.meta.source_drug, drug_id=st.meta.drug_id, index=st.meta.index)
            records.append(ChddiRecord(text=st.text, spo_list=spos, meta=meta))
        out[rec.drug_id] = records
    return out


# Split by drug: test drugs' statements never appear in train. One or two drugs per disease area.
TEST_DRUGS = {"10005", "10009", "10014", "10017", "10020", "10025", "10028", "10031", "10036", "10039",
              "10043", "10047"}


def free_form_texts() -> set[str]:
    """Statement texts (after ``@``) that come from FREE rather than from the templates."""
    from ddikg.annotate.segment import normalize

    return {normalize(strip_markup(f.format(b=b, c=c))[0]).strip("。;,.、:!? ")
            for group in FREE.values() for f in group for b in ("本品", "本药") for c in (",", "，")}


def baseline_breakdown() -> str:
    """The rule baseline on each split, on all statements and on the free-form ones only."""
    from ddikg.annotate.lexicon import Lexicon
    from ddikg.annotate.rules import prelabel
    from ddikg.annotate.scoring import score_records
    from ddikg.contracts import ChddiRecord
    from ddikg.jsonl import read_jsonl

    lexicon, free, out = Lexicon.load(), free_form_texts(), []
    for split in ("train", "test"):
        gold = read_jsonl(SAMPLE_DIR / f"{split}.jsonl", ChddiRecord)
        for name, subset in (("all", gold), ("free-form", [g for g in gold if g.text.split("@", 1)[1] in free])):
            pred = [prelabel(g.model_copy(update={"spo_list": []}), lexicon) for g in subset]
            out.append(f"== {split}, {name} statements ({len(subset)})\n{score_records(subset, pred).table()}")
    return "\n".join(out)


def main() -> None:
    import sys

    from ddikg.jsonl import write_jsonl

    if "--baseline" in sys.argv[1:]:
        print(baseline_breakdown())
        return

    pages, units = author()
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pages), encoding="utf-8")
    corpus = build_corpus(pages, units)
    train = [r for d, rs in corpus.items() if d not in TEST_DRUGS for r in rs]
    test = [r for d, rs in corpus.items() if d in TEST_DRUGS for r in rs]
    write_jsonl(SAMPLE_DIR / "train.jsonl", train)
    write_jsonl(SAMPLE_DIR / "test.jsonl", test)
    print(f"{len(pages)} pages -> {FIXTURE}; train {len(train)} / test {len(test)} statements -> {SAMPLE_DIR}")


if __name__ == "__main__":
    main()
