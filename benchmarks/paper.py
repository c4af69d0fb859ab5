"""Published figures of the ISER paper (Tables 3-6 of ../shared/paper/iser-paper.md) and the variants
of its ablation tables as IserConfig switches.

The paper used bert-base-cased (CoNLL04) and Bio-BERT (CH-DDI); our runs use MiniLM-L6 and a scratch
encoder, so the published numbers are a reference column, not a target our encoders must match.
Each figure is (P, R, F1) in percent; micro unless the row says macro.
"""

from __future__ import annotations

from ddikg.iser_model.config import IserConfig

#: variant key -> IserConfig overrides
SWITCHES: dict[str, dict] = {
    "iser": {},
    "no_fusion": {"fusion": False},
    "sea_cls": {"entity_context": "cls"},
    "lc_att": {"relation_context": "lc_att"},
    "lc_bert": {"relation_context": "lc_bert"},
    "lc_cls": {"relation_context": "cls"},
    "gc_bert": {"relation_context": "gc_bert"},
    "gc": {"relation_context": "gc"},
    "iser_gru": {"entity_context": "gru"},
    # SpERT (Eberts & Ulges) in this harness: -interactive fusion, SEA->CLS, LC (the paper's Table 4 row)
    "spert": {"fusion": False, "entity_context": "cls"},
    # deviations of our own, not in the paper (docs/model.md)
    "iser_residual": {"fusion_residual": True},
    "iser_skip": {"fusion_skip": True},
    "iser_scaled": {"init": "scaled"},
}


def label(config: dict | IserConfig) -> str:
    """The row label of a run: its config's :meth:`IserConfig.display_name` (one rule for every table,
    plot and doc). A config saved before the deviation switches existed is named by what it ran."""
    cfg = config if isinstance(config, IserConfig) else IserConfig.model_validate(config)
    return cfg.display_name()


#: variant key -> (label, IserConfig overrides); the label as the variant's switches name it on the paper's form
VARIANTS: dict[str, tuple[str, dict]] = {k: (label(IserConfig(**v)), v) for k, v in SWITCHES.items()}

#: which variants make up each reproduction table (issue #4): the paper's rows, run by default
TABLE_VARIANTS: dict[str, list[str]] = {
    "conll04": ["iser", "no_fusion", "sea_cls", "lc_att", "lc_bert", "lc_cls", "gc_bert", "gc", "iser_gru", "spert"],
    "cmeie": ["iser", "no_fusion", "sea_cls"],
}

#: variants of our own, run only when named (--variants) and shown under the paper's rows once measured
EXTRA_VARIANTS: dict[str, list[str]] = {"conll04": ["iser_residual", "iser_skip", "iser_scaled"],
                                        "cmeie": ["iser_residual", "iser_skip", "iser_scaled"]}


def table_order(table: str) -> list[str]:
    """Every variant a table can show, in the order of its rows."""
    return TABLE_VARIANTS[table] + EXTRA_VARIANTS[table]


def shown(table: str, measured: set[str]) -> list[str]:
    """The rows a table shows: the paper's always, ours once measured."""
    return TABLE_VARIANTS[table] + [v for v in EXTRA_VARIANTS[table] if v in measured]

Prf = tuple[float, float, float]

#: Table 6 (ablations on CoNLL04) plus the ISER_GRU row of Table 4: variant -> {"ner": P/R/F, "re": P/R/F}
CONLL04: dict[str, dict[str, Prf]] = {
    "no_fusion": {"ner": (87.40, 87.01, 87.21), "re": (70.59, 66.47, 68.47)},
    "sea_cls": {"ner": (87.77, 87.75, 87.67), "re": (68.19, 69.39, 68.79)},
    "lc_att": {"ner": (88.55, 88.02, 88.28), "re": (70.78, 69.93, 70.35)},
    "lc_bert": {"ner": (88.46, 87.57, 88.01), "re": (73.62, 65.89, 69.54)},
    "lc_cls": {"ner": (88.98, 87.68, 88.32), "re": (60.44, 71.72, 65.60)},
    "gc_bert": {"ner": (87.90, 86.23, 87.05), "re": (61.52, 66.18, 63.76)},
    "gc": {"ner": (88.94, 86.45, 87.67), "re": (66.28, 66.47, 66.38)},
    "iser": {"ner": (89.54, 87.32, 88.37), "re": (71.64, 71.43, 71.53)},
    "iser_gru": {"ner": (86.99, 87.57, 87.28), "re": (71.47, 66.47, 68.88)},  # Table 4
    "spert": {"ner": (86.69, 86.79, 86.74), "re": (72.31, 64.72, 68.31)},  # Table 4 (the paper's rerun of SpERT)
}
#: Table 4's macro row for ISER on CoNLL04 (printed there as "IESR(macro)")
CONLL04_MACRO: dict[str, dict[str, Prf]] = {"iser": {"ner": (86.66, 82.44, 84.32), "re": (72.92, 73.42, 72.77)}}

#: Table 5 (ablations on CH-DDI, Bio-BERT) plus ISER_GRU from Table 3. The paper has no CMeIE figures;
#: CH-DDI is its Chinese, character-level data set, shown beside our CMeIE runs as the nearest reference.
CHDDI: dict[str, dict[str, Prf]] = {
    "no_fusion": {"ner": (94.03, 98.67, 96.30), "re": (74.88, 79.58, 77.16)},
    "sea_cls": {"ner": (94.11, 96.96, 95.51), "re": (74.62, 77.75, 76.15)},
    "lc_att": {"ner": (94.98, 97.83, 96.38), "re": (76.92, 79.11, 78.00)},
    "lc_bert": {"ner": (94.81, 97.15, 95.97), "re": (76.84, 78.13, 77.48)},
    "lc_cls": {"ner": (94.83, 97.53, 96.16), "re": (75.14, 78.80, 76.93)},
    "gc_bert": {"ner": (94.68, 97.91, 96.27), "re": (76.08, 78.27, 77.16)},
    "gc": {"ner": (95.18, 97.34, 96.25), "re": (77.00, 78.01, 77.50)},
    "iser": {"ner": (95.22, 97.72, 96.73), "re": (76.11, 80.89, 78.43)},
    "iser_gru": {"ner": (94.11, 97.53, 95.79), "re": (74.87, 78.01, 76.41)},  # Table 3
    "spert": {"ner": (92.63, 97.72, 95.11), "re": (75.38, 76.96, 76.17)},  # Table 3
}
CHDDI_MACRO: dict[str, dict[str, Prf]] = {"iser": {"ner": (98.40, 99.43, 98.90), "re": (77.24, 83.09, 79.30)}}

#: the reference column of each reproduction table
PUBLISHED = {"conll04": (CONLL04, CONLL04_MACRO, "Tables 4 and 6 (CoNLL04, bert-base-cased)"),
             "cmeie": (CHDDI, CHDDI_MACRO, "Tables 3 and 5 (CH-DDI, Bio-BERT; the paper reports no CMeIE figures)")}

#: inconsistencies inside the paper worth knowing when comparing
NOTES = [
    "ISER's CoNLL04 NER recall is 87.23 in Table 4 but 87.32 in Table 6 (F1 88.37 in both); Table 6's value is used.",
    "ISER's CH-DDI NER recall is 98.17 in Table 3 but 97.72 in Table 5 (F1 96.73 in both); Table 5's value is used.",
]
