"""docs/results.md stays lean and true: every table cites JSON under benchmarks/results/ that exists, the
generated tables match the JSON on record, and the page tells what is measured, not how it was built."""

from __future__ import annotations

import re

from benchmarks import make_results
from benchmarks.common import REPO, RESULTS

DOC = REPO / "docs" / "results.md"
CITE = re.compile(r"benchmarks/results/[^\s`|)]+")
HEADLINES = ["Speed against the anchor", "The paper's tables beside ours: CoNLL04",
             "The paper's tables beside ours: CMeIE", "Chinese path", "Graph loading", "Model fidelity (CPU slice)",
             "Scale-out"]


def tables_and_windows(text: str) -> list[tuple[int, str]]:
    """(line number, the text a table's citation may sit in) per markdown table: from the end of the previous
    table or heading to the start of the next one, the table included."""
    lines = text.splitlines()
    cuts = [i for i, line in enumerate(lines) if line.startswith("#")]
    tables, i = [], 0
    while i < len(lines):
        if lines[i].startswith("|"):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            tables.append((i, j))
            i = j
        else:
            i += 1
    out = []
    for k, (start, end) in enumerate(tables):
        before = max([c for c in cuts if c < start] + ([tables[k - 1][1]] if k else []) + [0])
        after = min([c for c in cuts if c >= end] + ([tables[k + 1][0]] if k + 1 < len(tables) else [])
                    + [len(lines)])
        out.append((start + 1, "\n".join(lines[before:after])))
    return out


def cited(text: str) -> list[str]:
    return CITE.findall(text)


def test_every_table_cites_json_that_exists():
    text = DOC.read_text(encoding="utf-8")
    windows = tables_and_windows(text)
    assert len(windows) >= 6
    for line, window in windows:
        assert cited(window), f"docs/results.md:{line}: table without a benchmarks/results/ JSON beside it"
    for path in cited(text):
        assert path.endswith(".json"), f"docs/results.md cites {path}, not a JSON result"
        assert list(REPO.glob(path)), f"docs/results.md cites {path}, which does not exist"


def test_the_page_is_lean_and_headlines_come_in_order():
    text = DOC.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) <= 15_000
    at = [text.index(f"\n## {h}\n") for h in HEADLINES]
    assert at == sorted(at)
    for word in (r"\bsession", r"\blent\b", r"this machine", r"\bmachine [a-z]\b"):
        assert not re.search(word, text, re.I), f"docs/results.md narrates how it was measured: {word!r}"


def test_generated_tables_match_the_json_on_record():
    """Regenerating from benchmarks/results/ changes no table: the page says what the JSON says."""
    text = DOC.read_text(encoding="utf-8")
    fresh = make_results.replace_block(text, "speed", make_results.speed_block(RESULTS, include_quick=False))
    for name in make_results.TABLE_VARIANTS:
        fresh = make_results.replace_block(fresh, name, make_results.reproduction_block(RESULTS, name, False))
    fresh = make_results.replace_block(fresh, "slice", make_results.slice_block(RESULTS, include_quick=False))
    assert fresh == text, "docs/results.md is stale: run python -m benchmarks.make_results"


def test_the_window_rule_catches_a_table_without_a_source():
    good = "## A\n\n| a |\n|---|\n| 1 |\n\nJSON: `benchmarks/results/load_bench.json`.\n"
    bad = good + "\n## B\n\n| b |\n|---|\n| 2 |\n"
    assert all(cited(w) for _, w in tables_and_windows(good))
    assert [bool(cited(w)) for _, w in tables_and_windows(bad)] == [True, False]

