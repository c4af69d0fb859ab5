"""docs/results.md generation: marker blocks rewritten, prose kept, unmeasured rows say so, a PNG drawn."""

from __future__ import annotations

import json
import re
import shutil

from benchmarks import make_results
from benchmarks.common import write_json
from benchmarks.paper import CONLL04, TABLE_VARIANTS, VARIANTS, label
from ddikg.iser_model.presets import PRESET_DEVIATIONS

PROSE = "Hand-written prose that must survive regeneration."


def _doc(tmp_path, repro_results, speed_run):
    results = tmp_path / "results"
    shutil.copytree(repro_results, results)
    shutil.copy(speed_run[1], results / speed_run[1].name)
    doc = tmp_path / "docs" / "results.md"
    doc.parent.mkdir()
    heading = f"## {make_results.SECTIONS['speed']}\n"
    doc.write_text(make_results.TEMPLATE.replace(heading, f"{heading}\n{PROSE}\n"), encoding="utf-8")
    make_results.main(["--results", str(results), "--doc", str(doc), "--include-quick"])
    return doc, doc.read_text(encoding="utf-8")


def test_generated_doc(tmp_path, repro_results, speed_run):
    doc, text = _doc(tmp_path, repro_results, speed_run)
    assert PROSE in text and "## Graph loading" in text and "## Chinese path" in text and "## Scale-out" in text
    assert text.count(make_results.FRAGMENTS) == 4  # where the sections filled from fragments take them
    for name in ("speed", "conll04", "cmeie", "slice"):
        assert text.count(f"<!-- BEGIN GENERATED: {name} -->") == 1
    # no GPU result: the GPU rows say so; the paper-protocol column is unmeasured, with the paper beside it
    assert make_results.NOT_MEASURED in text
    conll = text.split("<!-- BEGIN GENERATED: conll04 -->")[1].split("<!-- END GENERATED: conll04 -->")[0]
    assert "| ours: `quick` (1 epochs) |" in conll
    for v in TABLE_VARIANTS["conll04"]:
        paper = f"{CONLL04[v]['ner'][2]:.2f} / {CONLL04[v]['re'][2]:.2f}"
        ran = label(PRESET_DEVIATIONS | VARIANTS[v][1])  # the quick (tiny preset) model: its cell names it
        named = "" if ran == VARIANTS[v][0] else r" (\*+)"
        m = re.search(
            rf"\| {re.escape(VARIANTS[v][0])} \| {paper} \| {re.escape(make_results.NOT_MEASURED)} \| [\d.]+ / [\d.]+{named} \|",
            conll)
        assert m, v  # the paper's figures, the paper protocol unmeasured, the quick run's F1 and its mark
        if named:  # the mark's legend names the deviations the cell ran with
            extra = ran[len(VARIANTS[v][0]):].strip() if ran.startswith(VARIANTS[v][0]) else ran
            assert f"`{m.group(1)}` ran with: {extra}." in conll, v
    quick = conll.split("- `quick`")[1]
    assert "NOT the paper protocol" in quick and "--quick" in quick and "benchmarks/results/" in quick
    png = doc.with_name("ablations.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    # regenerating over the generated file changes nothing (blocks replaced in place, prose kept once)
    make_results.main(["--results", str(tmp_path / "results"), "--doc", str(doc), "--include-quick"])
    assert doc.read_text(encoding="utf-8") == text


def test_quick_results_hidden_by_default(tmp_path, repro_results):
    doc = tmp_path / "results.md"
    make_results.main(["--results", str(repro_results), "--doc", str(doc)])
    text = doc.read_text(encoding="utf-8")
    assert "NOT the paper protocol" not in text and text.count(make_results.NOT_MEASURED) >= 9 + 3


def test_replace_block_inserts_under_its_heading():
    text = f"# R\n\n## {make_results.SECTIONS['speed']}\n\nintro\n\n## Graph loading\n\ntheirs\n"
    out = make_results.replace_block(text, "speed", "TABLE")
    assert out.index("intro") < out.index("TABLE") < out.index("## Graph loading") and "theirs" in out
    again = make_results.replace_block(out, "speed", "NEW")
    assert "TABLE" not in again and again.count("NEW") == 1 and "intro" in again
    added = make_results.replace_block("# R\n", "cmeie", "X")
    assert f"## {make_results.SECTIONS['cmeie']}" in added and "X" in added


def test_bench_cli_forwards_to_the_scripts(tmp_path, repro_results):
    import typer
    from typer.testing import CliRunner

    from ddikg.iser_model import bench_cli

    app = typer.Typer()
    app.command("noop")(lambda: None)  # a group needs a sibling command to keep "bench" as a subcommand
    bench_cli.register(app)
    runner = CliRunner()
    shown = runner.invoke(app, ["bench", "reproduce", "--help"])
    assert shown.exit_code == 0 and "--table" in shown.output and "--seeds" in shown.output
    doc = tmp_path / "r.md"
    done = runner.invoke(app, ["bench", "results", "--results", str(repro_results), "--doc", str(doc)])
    assert done.exit_code == 0, done.output
    assert f"## {make_results.SECTIONS['conll04']}" in doc.read_text(encoding="utf-8")


def test_shortened_run_names_its_learning_rate(tmp_path, repro_results):
    """A shortened run with only --lr says which peak lr it used and the table's own (in the notes and in
    the rerun command)."""
    results = tmp_path / "results"
    src = repro_results / "reproduce" / "cmeie" / "quick"
    dest = results / "reproduce" / "cmeie" / "sanity-e1-lr0.002"
    for p in src.glob("*/seed1.json"):
        rec = json.loads(p.read_text(encoding="utf-8"))
        rec["protocol"], rec["config"]["lr"] = dest.name, 0.002
        (dest / p.parent.name).mkdir(parents=True)
        (dest / p.parent.name / p.name).write_text(json.dumps(rec, ensure_ascii=False), encoding="utf-8")
    doc = tmp_path / "results.md"
    make_results.main(["--results", str(results), "--doc", str(doc)])
    block = doc.read_text(encoding="utf-8").split("- `sanity-e1-lr0.002`")[1]
    assert "peak lr 0.002 (the table's: 0.0003)" in block and "--lr 0.002" in block


def test_gpu_training_reruns_on_another_machine_sit_beside_the_first(tmp_path, speed_run):
    """A later GPU run of one setting does not hide the earlier one (hosts of one GPU model differ in speed);
    the targets table names the fastest run and the newest one, each with its commit and JSON."""
    payload, _ = speed_run
    results = tmp_path / "results"
    row = dict(payload["training"][0], batch_size=2, precision="fp32", compiled=False, extrapolated=False)
    for name, commit, time_utc, spe in (("iser_speed-cuda-train-aaa.json", "aaa", "2026-01-01T00:00:00+00:00", 11.6),
                                        ("iser_speed-cuda-train.json", "bbb", "2026-01-02T00:00:00+00:00", 19.3)):
        machine = dict(payload["machine"], device="cuda", gpu="NVIDIA H200", commit=commit, time_utc=time_utc,
                       host_op_us=1.5)
        run = dict(payload, quick=False, machine=machine,
                   training=[dict(row, seconds_per_epoch=spe, sentences_per_second=round(922 / spe, 2))])
        write_json(results / name, run)
    rows = make_results.training_rows(results, "cuda", include_quick=False)
    assert [(d["machine"]["commit"], r["seconds_per_epoch"]) for r, d in rows] == [("aaa", 11.6), ("bbb", 19.3)]
    text = make_results.speed_block(results, include_quick=False)
    host = "NVIDIA H200, host 1.5 µs/op"
    assert f"(fastest) | ≤ 15 (≥ 60/s) | 85 (~11/s) | 11.6 s (79.5/s) | fp32 | {host}, commit aaa | " \
           f"`benchmarks/results/iser_speed-cuda-train-aaa.json` |" in text
    assert f"(newest) | ≤ 15 (≥ 60/s) | 85 (~11/s) | 19.3 s (47.8/s) | fp32 | {host}, commit bbb | " \
           f"`benchmarks/results/iser_speed-cuda-train.json` |" in text


def _summary(epochs: int, variants: int, train_limit: int | None = None) -> dict:
    rec = {"config": {"epochs": epochs}, "data": {"train_limit": train_limit, "dev_limit": None}}
    return {"records": [rec], "rows": [{}] * variants}


def test_the_plot_draws_the_widest_and_the_longest_whole_split_runs():
    found = {"sanity-e3": _summary(3, 1), "sanity-e3-lr": _summary(3, 9), "sanity-e9-lr": _summary(9, 3),
             "sanity-e20-t100": _summary(20, 9, train_limit=100)}
    assert make_results._plotted(found) == ["sanity-e3-lr", "sanity-e9-lr"]
    found["sanity-e12-lr"] = _summary(12, 9)  # widest and longest at once: drawn alone
    assert make_results._plotted(found) == ["sanity-e12-lr"]
    assert make_results._plotted({**found, "paper": _summary(70, 9)}) == ["paper"]
    assert make_results._plotted({"sanity-e1-t16": _summary(1, 3, train_limit=16)}) == ["sanity-e1-t16"]
    assert make_results._plotted({}) == []


def test_missing_values_are_drawn_as_missing_not_as_zero():
    """A variant without a figure gets a hatched, empty column marked n/a; a measured zero is labelled 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    make_results._bars(ax, [0, 1, 2], [None, 0.0, 50.0], 0.3, errors=[0, 0, 1], color="blue")
    bars = ax.patches
    assert [b.get_height() for b in bars] == [100, 0.0, 50.0]
    assert bars[0].get_hatch() == "///" and not bars[0].get_fill() and bars[2].get_fill()
    assert [t.get_text() for t in ax.texts] == ["n/a", "0"]
    plt.close(fig)
