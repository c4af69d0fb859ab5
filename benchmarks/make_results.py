"""Generate ``docs/results.md`` (its tables) and ``docs/ablations.png`` from the JSON results.

    python -m benchmarks.make_results

Only the blocks between ``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->`` are
rewritten; prose around them (and the sections filled by hand) survives. A missing block is added at the
end of its section (or of the file, under a new heading). Every table names the JSON it came from
(``tests/benchmarks/test_results_doc.py`` checks that each one exists).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from benchmarks.common import REPO, RESULTS, device_label, read_json
from benchmarks.paper import NOTES, PUBLISHED, TABLE_VARIANTS, VARIANTS, shown, table_order
from benchmarks.reproduce import aggregate, load_records, table_config

NOT_MEASURED = "not yet measured (needs GPU time)"
SECTIONS = {  # block name -> heading of the section that holds it
    "speed": "Speed against the anchor",
    "conll04": "The paper's tables beside ours: CoNLL04",
    "cmeie": "The paper's tables beside ours: CMeIE",
    "slice": "Model fidelity (CPU slice)",
}
FRAGMENTS = "<!-- fragments (docs/_fragments/*.md) for this section go below this line -->"
TEMPLATE = f"""# Results

Every figure comes from a JSON file under `benchmarks/results/`, named beside its table with the
command that wrote it. Tables between `GENERATED` markers are rewritten by
`python -m benchmarks.make_results`. How the benchmarks run: [benchmarks.md](benchmarks.md).

## {SECTIONS['speed']}

<!-- BEGIN GENERATED: speed -->
<!-- END GENERATED: speed -->

## {SECTIONS['conll04']}

<!-- BEGIN GENERATED: conll04 -->
<!-- END GENERATED: conll04 -->

## {SECTIONS['cmeie']}

<!-- BEGIN GENERATED: cmeie -->
<!-- END GENERATED: cmeie -->

![Ablations](ablations.png)

## Chinese path

{FRAGMENTS}

## Graph loading

{FRAGMENTS}

## {SECTIONS['slice']}

<!-- BEGIN GENERATED: slice -->
<!-- END GENERATED: slice -->

{FRAGMENTS}

## Scale-out

{FRAGMENTS}
"""

SETTINGS = {
    "conll04": (
        "CoNLL04 paper split: the 231 test sentences (`conll04_dev.json`) are only reported; the epoch is selected "
        "on a validation slice of the 922 training sentences (10 %, seed 0: `IserConfig.val_fraction`, `val_seed`), "
        "trained on the other 90 %. Encoder MiniLM-L6-H384-uncased (the paper: bert-base-cased). The paper's settings "
        "(§4.2): batch 2, 70 epochs, lr 2e-5, dropout 0.1, 100 negatives, threshold 0.4; ours adds span width ≤ 10, "
        "4 SEA heads and SpERT's AdamW schedule (the paper: Adam, decaying lr). Rows are named by each run's config "
        "(`IserConfig.display_name`): \"ISER\" is the paper's equations as written.",
        "python -m benchmarks.reproduce --table conll04 --seeds 3"),
    "cmeie": (
        "CMeIE (train 3085, 10 % of it validation → 500 reported; spo that cannot be placed on a span are set "
        "aside and counted). Encoder: a randomly "
        "initialised BERT (4 layers, hidden 256) over the bert-base-chinese tokenizer; lr 3e-4 and dropout 0.1 "
        "instead of the paper's 2e-5 and 0.75. The paper reports no CMeIE figures: its CH-DDI figures (Bio-BERT) "
        "stand beside ours for orientation.",
        "python -m benchmarks.reproduce --table cmeie --seeds 3"),
}


# ---------------------------------------------------------------------------------------------- helpers


def pct(x: float | None, nd: int = 2) -> str:
    return "-" if x is None else f"{100 * x:.{nd}f}"


def pm(stat: dict | None, nd: int = 2) -> str:
    """'mean ± std' in percent (std omitted for one seed)."""
    if not stat or stat.get("mean") is None:
        return "-"
    if stat.get("n", 1) > 1:
        return f"{100 * stat['mean']:.{nd}f} ± {100 * stat['std']:.{nd}f}"
    return f"{100 * stat['mean']:.{nd}f}"


def num(x, nd: int = 1) -> str:
    return "-" if x is None else f"{x:,.{nd}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def rel(path: Path, results: Path) -> str:
    """How a table cites its JSON: ``benchmarks/results/...`` (the path below the results folder)."""
    return f"`benchmarks/results/{path.relative_to(results).as_posix()}`"


def replace_block(text: str, name: str, body: str) -> str:
    """Put ``body`` between the markers of ``name`` (added under its section heading when missing)."""
    begin, end = f"<!-- BEGIN GENERATED: {name} -->", f"<!-- END GENERATED: {name} -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    heading = f"## {SECTIONS[name]}"
    if heading in text:  # insert at the end of the section: before the next "## " heading
        start = text.index(heading) + len(heading)
        nxt = text.find("\n## ", start)
        cut = len(text) if nxt < 0 else nxt
        return text[:cut].rstrip("\n") + f"\n\n{block}\n" + text[cut:]
    return text.rstrip("\n") + f"\n\n{heading}\n\n{block}\n"


# ---------------------------------------------------------------------------------------------- speed


def _kind(data: dict) -> str:
    return "cuda" if data["machine"]["device"].startswith("cuda") else "cpu"


def speed_results(results: Path, include_quick: bool) -> dict[tuple[str, str], dict]:
    """Newest result per (device kind, section) across every ``iser_speed*.json`` (training rows: see
    :func:`training_rows`)."""
    best: dict[tuple[str, str], dict] = {}
    for path in sorted(results.glob("iser_speed*.json")):
        data = read_json(path)
        if data.get("quick") and not include_quick:
            continue
        if data.get("inference", {}).get("trained_model"):  # a trained checkpoint: its own section
            data = data | {"inference_trained": data.pop("inference")}
        for section in ("inference", "inference_trained", "cpu_inference", "growth", "variants"):
            if section in data:
                cur = best.get((_kind(data), section))
                if cur is None or data["machine"]["time_utc"] > cur["machine"]["time_utc"]:
                    best[(_kind(data), section)] = data | {"_path": path}
    return best


def training_rows(results: Path, kind: str, include_quick: bool) -> list[tuple[dict, dict]]:
    """(row, its file's payload) per (batch size, precision, compiled), the newest measurement of each
    across every ``iser_speed*.json`` of this device kind. GPU rows are kept per commit as well: a
    batch-2 step is bound by the host that issues its operators, and hosts of one GPU model differ, so
    a later run sits beside an earlier one instead of replacing it."""
    newest: dict[tuple, tuple[dict, dict]] = {}
    for path in sorted(results.glob("iser_speed*.json")):
        data = read_json(path)
        if (data.get("quick") and not include_quick) or "training" not in data or _kind(data) != kind:
            continue
        for r in data["training"]:
            key = (r["batch_size"], _precision(data, r), bool(r.get("compiled")),
                   (data["machine"].get("commit") or "") if kind == "cuda" else "")
            if key not in newest or data["machine"]["time_utc"] > newest[key][1]["machine"]["time_utc"]:
                newest[key] = (r, data | {"_path": path})
    return [newest[k] for k in sorted(newest)]


def ab_blocks(results: Path) -> list[str]:
    """One table per ``ab-*/summary.json`` (``benchmarks/ab.py``): two commits timed in alternation on
    one machine, every run's figure and the medians."""
    out = []
    for path in sorted(results.glob("ab-*/summary.json")):
        s = read_json(path)
        rows = []
        for name, setting in s["settings"].items():
            for side, v in sorted(setting["sides"].items()):
                rows.append([name, side, v["commit"], ", ".join(num(x) for x in v["values"]), num(v["median"]),
                             num(setting["current_over_baseline"], 2)
                             if side == "current" and "current_over_baseline" in setting else "-"])
        out.append(f"\n**A/B** (`python -m benchmarks.ab`, {s['device']}, {rel(path, results)}): two commits "
                   "run in turn on one host, so both see the same host speed.\n")
        out.append(table(["setting", "side", "commit", "runs, in order", "median", "current / baseline"], rows))
        if s.get("failed"):
            out.append("\nRuns that wrote no result: " + "; ".join(
                f"run {f['run']} ({f['side']}, {f['commit']}): exit {f['exit']}" for f in s["failed"]) + ".")
    return out


def _setting(d: dict, row: dict) -> str:
    return _precision(d, row) + (", compiled" if row.get("compiled") else "")


def _precision(d: dict, row: dict) -> str:
    """A training row's precision; rows from before --train-precision ran the config's bf16 (CUDA only)."""
    return row.get("precision") or ("bf16" if d["machine"]["device"].startswith("cuda") else "fp32")


def _where(d: dict) -> str:
    """Device and commit of a run; on a CPU the load average (the cores may be shared), on a GPU the
    host's speed per small operator when recorded (a batch-2 step is bound by it)."""
    m = d["machine"]
    host = f", host {m['host_op_us']} µs/op" if m.get("host_op_us") else ""
    return f"{device_label(m)}{host}, commit {m.get('commit') or '?'}"


def speed_block(results: Path, include_quick: bool) -> str:
    from benchmarks.iser_speed import ANCHOR, TARGETS

    res = speed_results(results, include_quick)
    train = {kind: training_rows(results, kind, include_quick) for kind in ("cuda", "cpu")}
    rows = []

    def fastest(pairs):  # (row, payload) with the most sentences/s
        return max(pairs, key=lambda rd: rd[0]["sentences_per_second"] or 0)

    def training(kind, bs, what, target, anchor):
        pairs = [(r, d) for r, d in train[kind] if r["batch_size"] == bs]
        if not pairs:
            if kind == "cuda":
                rows.append([what, target, anchor, NOT_MEASURED, "-", "-", "-"])
            return
        best = fastest(pairs)
        last_time = max(d["machine"]["time_utc"] for _, d in pairs)
        newest = fastest([(r, d) for r, d in pairs if d["machine"]["time_utc"] == last_time])
        same = newest[0] is best[0]
        for label, (r, d) in (("", best),) if same else (("fastest", best), ("newest", newest)):
            value = (f"{num(r['seconds_per_epoch'])} s ({num(r['sentences_per_second'])}/s)" if bs == 2
                     else f"{num(r['sentences_per_second'])}/s")
            note = ", extrapolated" if r.get("extrapolated") else ""
            rows.append([what + (f" ({label})" if label else ""), target, anchor, value, _setting(d, r) + note,
                         _where(d), rel(d["_path"], results)])

    training("cuda", 2, "training, batch 2: s/epoch (sentences/s)",
             f"≤ {TARGETS['train_b2_seconds_per_epoch']:.0f} (≥ {TARGETS['train_b2_sentences_per_second']:.0f}/s)",
             f"{ANCHOR['seconds_per_epoch']:.0f} (~{ANCHOR['sentences_per_second']:.0f}/s)")
    training("cuda", 32, "training, batch 32: sentences/s", f"≥ {TARGETS['train_b32_sentences_per_second']:.0f}/s",
             "-")
    for section, what in (("inference_trained", "inference, spans ≤ 10, trained checkpoint, best batch"),):
        d = res.get(("cuda", section))
        target = f"≥ {TARGETS['infer_sentences_per_second']:.0f}/s" if section == "inference_trained" else "-"
        if not d:
            rows.append([what, target, "-", NOT_MEASURED, "-", "-", "-"])
            continue
        b = max(d[section]["curve"], key=lambda r: r["sentences_per_second"] or 0)
        rows.append([what, target, "-", f"{num(b['sentences_per_second'])}/s (batch {b['batch_size']})",
                     d["precision"], _where(d), rel(d["_path"], results)])
    d = res.get(("cpu", "cpu_inference"))
    if d:
        for enc in dict.fromkeys(r["encoder"] for r in d["cpu_inference"]["rows"]):  # best batch per encoder
            r = max((r for r in d["cpu_inference"]["rows"] if r["encoder"] == enc),
                    key=lambda r: r["sentences_per_second"] or 0)
            rows.append([f"CPU inference, encoder {r['encoder']}, untrained heads", "-", "-",
                         f"{num(r['sentences_per_second'], 2)}/s (batch {r['batch_size']})", "fp32", _where(d),
                         rel(d["_path"], results)])
    out = [f"Targets for an NVIDIA H100; anchor: {ANCHOR['system']} on an H100 ({ANCHOR['encoder']}, batch "
           f"{ANCHOR['batch_size']}). CoNLL04 train (922 sentences, 100 negative entities and relations each) and "
           "dev (231), MiniLM-L6. µs/op: the host's time per small CPU operator (bounds a batch-2 GPU step).\n",
           table(["figure", "target", "anchor", "ISER", "setting", "device, commit", "JSON"], rows)]
    out.append("\nRerun: `bash benchmarks/gpu_session.sh` (GPU) or `python -m benchmarks.iser_speed --device cpu "
               "--threads 2` (CPU), then `python -m benchmarks.make_results`.")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- tables


def summaries(results: Path, table_name: str, include_quick: bool) -> dict[str, dict]:
    """protocol -> summary (recomputed from the per-seed files, so a partial table shows what exists)."""
    out = {}
    base = results / "reproduce" / table_name
    for proto_dir in sorted(p for p in base.glob("*") if p.is_dir()):
        if proto_dir.name == "quick" and not include_quick:
            continue
        records = load_records(proto_dir)
        if not records:
            continue
        variants = [v for v in table_order(table_name) if any(r["variant"] == v for r in records)]
        out[proto_dir.name] = {"rows": aggregate(records, variants), "records": records, "dir": proto_dir}
    return out


def _is_slice(summary: dict) -> bool:
    d = summary["records"][0]["data"]
    return bool(d.get("train_limit") or d.get("dev_limit"))


def _paper(fig: dict | None, task: str) -> str:
    return "-" if not fig or task not in fig else f"{fig[task][2]:.2f}"


def _f1s(row: dict | None, variant: str | None = None, marks: dict[str, str] | None = None) -> str:
    """'NER / RE' micro F1 of one variant's row, in %, mean ± std over its seeds; marked when that is not the
    row's model (e.g. an old run with the residual in the "ISER" row): ``marks`` collects the deviations
    a mark stands for, listed under the table."""
    if row is None:
        return "-"
    name = VARIANTS[variant][0] if variant else None
    ran = ""
    if name is not None and row.get("label") not in (None, name):
        label = row["label"]
        extra = label[len(name):].strip() if label.startswith(name) else label
        if marks is None:
            ran = f" ({label})"
        else:
            ran = " " + marks.setdefault(extra, "*" * (len(marks) + 1))
    return f"{pm(row['ner_micro_f1'], 1)} / {pm(row['re_micro_f1'], 1)}{ran}"


def _devices(records: list[dict]) -> str:
    """The devices of a protocol's runs, with the range of 1-minute load averages on CPU (shared cores)."""
    text = ", ".join(sorted({device_label(r["machine"], load=False) for r in records}))
    loads = [r["machine"]["load_average"][0] for r in records if not r["machine"].get("gpu")]
    return text + (f", load {min(loads)}-{max(loads)} at start" if loads else "")


def _seeds(recs: list[dict]) -> list[int]:
    return sorted({r["seed"] for r in recs})


def _source(s: dict, results: Path) -> str:
    return rel(s["dir"], results).rstrip("`") + "/*/seed*.json`"


def _superseded(s: dict) -> bool:
    """Runs that selected their epoch on the sentences they report (before held-out selection)."""
    return any("selection" not in r for r in s["records"])


def rerun_command(name: str, proto: str, recs: list[dict]) -> str:
    """The ``reproduce`` command that wrote a protocol's runs (its deviations spelt out as options)."""
    cfg, d = recs[0]["config"], recs[0]["data"]
    ep = cfg["epochs"]
    return (f"python -m benchmarks.reproduce --table {name}{' --quick' if proto == 'quick' else ''} --seed-list "
            f"{','.join(str(x) for x in _seeds(recs))}"
            f"{' --epochs ' + str(ep) if 'e' + str(ep) in proto else ''}"
            f"{' --lr ' + format(cfg['lr'], 'g') if '-lr' in proto else ''}"
            f"{' --head-lr ' + format(cfg['head_lr'], 'g') if 'hlr' in proto else ''}"
            f"{' --batch-size ' + str(cfg['batch_size']) if '-b' in proto else ''}"
            f"{' --max-seconds ' + format(cfg['max_seconds'], 'g') if cfg.get('max_seconds') else ''}"
            f"{' --train-limit ' + str(d['train_limit']) if d.get('train_limit') else ''}"
            f"{' --val-fraction ' + format(d['val_fraction'], 'g') if '-v' in proto else ''}"
            f"{' --dev-limit ' + str(d['dev_limit']) if d.get('dev_limit') else ''}")


def _notes(name: str, proto: str, recs: list[dict]) -> list[str]:
    """What a shortened run did differently from the paper protocol, and what happened in it."""
    cfg = recs[0]["config"]
    notes = []
    if any("selection" not in r for r in recs):
        notes.append("epoch selected on the reported sentences (optimistic); top-32, non-overlapping pair decoding")
    if cfg.get("head_lr"):
        notes.append(f"encoder lr {cfg['lr']:g}, head lr {cfg['head_lr']:g}")
    elif "-lr" in proto:
        notes.append(f"peak lr {cfg['lr']:g} (the table's: {table_config(name).lr:g})")
    if "-b" in proto:
        notes.append(f"batch {cfg['batch_size']} (the paper: 2)")
    limits = sorted({r["config"].get("max_seconds") for r in recs if r["config"].get("max_seconds")})
    if limits:
        notes.append(f"training stopped after {' or '.join(format(x, 'g') for x in limits)} s")
    for r in recs:
        bad = [e["epoch"] for e in r["epochs"] if not (isinstance(e.get("loss"), float) and e["loss"] == e["loss"])]
        if bad:
            notes.append(f"{r['label']} seed {r['seed']}: loss NaN in epoch {', '.join(map(str, bad))} "
                         f"(the best epoch, {r['best_epoch']}, is reported)")
        part = [f"{e['epoch']} ({100 * e['partial_epoch']:.0f} % run)" for e in r["epochs"]
                if e.get("partial_epoch") is not None]
        if part:
            notes.append(f"{r['label']} seed {r['seed']}: epoch {', '.join(part)} cut by the time limit")
    return notes


def _describe(name: str, proto: str, s: dict, results: Path) -> str:
    recs = s["records"]
    d = recs[0]["data"]
    size = "whole split" if not _is_slice(s) else (
        f"first {d.get('train_limit') or 'all'} training and {d.get('dev_limit') or 'all'} dev sentences")
    notes = _notes(name, proto, recs)
    return (f"- `{proto}`{'' if _is_slice(s) else ' — NOT the paper protocol'}: {recs[0]['config']['epochs']} epochs, {size}, seeds "
            f"{', '.join(map(str, _seeds(recs)))}, {_devices(recs)}"
            + (f"; {'; '.join(notes)}" if notes else "") + f". JSON: {_source(s, results)}. "
            f"Rerun: `{rerun_command(name, proto, recs)}`")


def reproduction_block(results: Path, name: str, include_quick: bool) -> str:
    published, published_macro, source = PUBLISHED[name]
    text, command = SETTINGS[name]
    found = summaries(results, name, include_quick)
    paper = found.get("paper")
    shortened = [p for p in _plotted({p: s for p, s in found.items() if not _is_slice(s)}) if p != "paper"]
    cols = {p: {r["variant"]: r for r in found[p]["rows"]} for p in (["paper"] if paper else []) + shortened}
    measured = {v for rows in cols.values() for v in rows}
    header = ["variant", f"paper NER / RE F1 ({source.split(' (')[0]})", "ours: paper protocol"]
    header += [f"ours: `{p}` ({_epochs(found[p])} epochs)" for p in shortened]
    rows, marks = [], {}
    for v in shown(name, measured):
        fig = published.get(v)
        row = [VARIANTS[v][0], f"{_paper(fig, 'ner')} / {_paper(fig, 're')}",
               _f1s(cols["paper"].get(v), v, marks) if paper and v in cols["paper"] else NOT_MEASURED]
        rows.append(row + [_f1s(cols[p].get(v), v, marks) for p in shortened])
    out = [f"Micro F1 in % on the reported sentences, ours as mean ± std over seeds; a marked cell ran its row's "
           f"model with the deviations listed under the table. Paper column: {source}.\n", table(header, rows), ""]
    out += [f"`{m}` ran with: {extra}. " for extra, m in marks.items()]
    for v, fig in published_macro.items():
        out.append(f"Paper, {VARIANTS[v][0]} macro F1: NER {fig['ner'][2]:.2f}, RE {fig['re'][2]:.2f}. ")
    out += [f"Note: {n}" for n in NOTES if ("CoNLL04" in n) == (name == "conll04")]
    out.append(f"\nSettings: {text}\n")
    out.append("- paper protocol: "
               + (f"seeds {', '.join(map(str, _seeds(paper['records'])))}, {_devices(paper['records'])}. JSON: "
                  f"{_source(paper, results)}. " if paper else "not run yet. ")
               + f"Rerun: `{command}` (resumable).")
    out += [_describe(name, p, found[p], results) for p in shortened]
    rest = [p for p, s in found.items() if p != "paper" and p not in shortened and not _is_slice(s)]
    if rest:
        out.append("- also recorded on the whole split: "
                   + "; ".join(f"`{p}` ({'; '.join(_notes(name, p, found[p]['records'])) or 'see its JSON'}, "
                               f"{_source(found[p], results)})" for p in rest))
    return "\n".join(out)


def slice_block(results: Path, include_quick: bool) -> str:
    """Shortened runs on slices of a split (CPU-sized): one table of their F1, each run's JSON and command."""
    rows, described, old = [], [], []
    for name in TABLE_VARIANTS:
        for proto, s in summaries(results, name, include_quick).items():
            if not _is_slice(s):
                continue
            if _superseded(s):
                old.append(f"{name} `{proto}`")
                continue
            d = s["records"][0]["data"]
            for r in s["rows"]:
                rows.append([name, f"`{proto}`", r["label"], len(r["seeds"]), pm(r["ner_micro_f1"], 1),
                             pm(r["re_micro_f1"], 1), f"{pm(r.get('last_ner_micro_f1'), 1)} / "
                             f"{pm(r.get('last_re_micro_f1'), 1)}",
                             f"{d.get('train_limit') or 'all'} ({d.get('val_fraction') or '-'} validation) / "
                             f"{d.get('dev_limit') or 'all'}"])
            described.append(_describe(name, proto, s, results))
    if not rows:
        return "No slice runs recorded." + (f" Selected on the reported sentences: {'; '.join(old)}." if old else "")
    return "\n".join(["Shortened runs on the first sentences of a split: checks of the harness and of relative "
                      "behaviour, not reproductions. Micro F1 in % on the reported sentences at the epoch selected on "
                      "the validation slice, and at the last epoch; mean ± std over seeds.\n",
                      table(["table", "run", "model", "seeds", "NER F1", "RE F1", "NER / RE F1, last epoch",
                             "train (validation fraction) / reported sentences"], rows),
                      "", *described]
                     + (["- also recorded, selecting the epoch on the reported sentences (before held-out "
                         "selection; optimistic): " + ", ".join(old)]
                        if old else []))


# ---------------------------------------------------------------------------------------------- plot


PLOT_REFERENCE = {"conll04": "paper, CoNLL04 (bert-base-cased)",
                  "cmeie": "paper, CH-DDI (Bio-BERT; none published for CMeIE)"}
PLOT_BLUES = ("#9cc3e6", "#2f6fb0", "#163d66")
MISSING = {"fill": False, "hatch": "///", "edgecolor": "#b0b0b0", "linewidth": 0}


def _epochs(summary: dict) -> int:
    return summary["records"][0]["config"]["epochs"]


def _epochs_run(summary: dict) -> str:
    planned, ran = _epochs(summary), max(r.get("epochs_run") or 0 for r in summary["records"])
    return f"{planned} epochs" if ran >= planned else f"up to {ran} of {planned} epochs, time-limited"


def _plotted(found: dict) -> list[str]:
    """The protocols drawn beside the paper's bars: the paper protocol once measured; until then the
    shortened runs on the whole split that cover the most variants and that ran the most epochs (one
    run when one does both), else the run with the most records."""
    if "paper" in found:
        return ["paper"]
    full = {p: s for p, s in found.items() if p != "quick" and not s["records"][0]["data"].get("train_limit")
            and not s["records"][0]["data"].get("dev_limit")}
    if not full:
        return [max(found, key=lambda p: (len(found[p]["records"]), p))] if found else []
    widest = max(full, key=lambda p: (len(full[p]["rows"]), _epochs(full[p]), p))
    longest = max(full, key=lambda p: (_epochs(full[p]), len(full[p]["rows"]), p))
    return sorted({widest, longest}, key=lambda p: (_epochs(full[p]), p))


def _bars(ax, at: list[float], values: list[float | None], width: float, errors=None, **style) -> None:
    """Bars where there is a value; where there is none a hatched, empty column marked n/a (never a zero bar)."""
    for i, (x, v) in enumerate(zip(at, values, strict=True)):
        if v is None:
            ax.bar(x, 100, width, **MISSING)
            ax.text(x, 50, "n/a", ha="center", va="center", rotation=90, fontsize=7, color="#505050",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
        else:
            ax.bar(x, v, width, yerr=None if errors is None else errors[i], capsize=2, **style)
            if v < 0.5:  # a measured zero is a result: say so where no bar shows
                ax.text(x, 1, "0", ha="center", va="bottom", fontsize=7)


def plot(results: Path, png: Path, include_quick: bool) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    names = list(TABLE_VARIANTS)
    fig, axes = plt.subplots(2, len(names), figsize=(7 * len(names), 9), squeeze=False,
                             gridspec_kw={"width_ratios": [max(5, len(TABLE_VARIANTS[n])) for n in names]})
    for col, name in enumerate(names):
        published = PUBLISHED[name][0]
        found = summaries(results, name, include_quick)
        protos = _plotted(found)
        measured = {r["variant"] for p in protos for r in found[p]["rows"]}
        variants = shown(name, measured)
        x = range(len(variants))
        width = 0.8 / (1 + max(1, len(protos)))
        for row, task in enumerate(("ner", "re")):
            ax = axes[row][col]
            handles = [Patch(color="#9aa5b1", label=PLOT_REFERENCE[name])]
            ref = [published[v][task][2] if task in published.get(v, {}) else None for v in variants]
            _bars(ax, [i - 0.4 + width / 2 for i in x], ref, width, color="#9aa5b1")
            for k, proto in enumerate(protos or [None]):
                rows = {r["variant"]: r for r in found[proto]["rows"]} if proto else {}
                f1 = [rows[v][f"{task}_micro_f1"] if v in rows else None for v in variants]
                ours = [None if m is None or m.get("mean") is None else 100 * m["mean"] for m in f1]
                err = [0.0 if m is None else 100 * (m.get("std") or 0.0) for m in f1]
                color = PLOT_BLUES[k % len(PLOT_BLUES)]
                _bars(ax, [i - 0.4 + width * (k + 1.5) for i in x], ours, width, errors=err, color=color)
                handles.append(Patch(color=color, label="ours: not yet measured" if proto is None else
                                     f"ours: {proto}" + ("" if proto == "paper" else f" ({_epochs_run(found[proto])})")))
            handles.append(Patch(**MISSING, label="n/a: not measured / not published"))
            ax.set_xticks(list(x))
            ax.set_xticklabels([VARIANTS[v][0] for v in variants], rotation=30, ha="right", rotation_mode="anchor",
                               fontsize=8)
            ax.set_ylim(0, 135)  # room above the bars for the legend
            ax.set_yticks(range(0, 101, 20))
            ax.set_ylabel(f"{task.upper()} micro F1 on dev (%)")
            ax.set_title(f"{name}: {task.upper()} micro F1", fontsize=10)
            ax.legend(handles=handles, fontsize=7, loc="upper center", ncol=2 if len(variants) > 5 else 1,
                      frameon=False)
    fig.suptitle("ISER ablations: published figures vs our runs (runs named sanity-* are shortened, NOT the "
                 "paper protocol)", fontsize=12)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=80, bbox_inches="tight")
    plt.close(fig)
    from PIL import Image  # matplotlib's own dependency

    with Image.open(png) as im:  # a chart has few colours: a palette PNG is a third of the size
        small = im.convert("RGB").quantize(colors=64)
    small.save(png, optimize=True)
    return png


# ---------------------------------------------------------------------------------------------- main


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="make_results", description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--doc", type=Path, default=REPO / "docs" / "results.md")
    ap.add_argument("--png", type=Path, default=None, help="default: ablations.png beside --doc")
    ap.add_argument("--include-quick", action="store_true", help="also show --quick (CI) results")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse(argv)
    text = args.doc.read_text(encoding="utf-8") if args.doc.exists() else TEMPLATE
    text = replace_block(text, "speed", speed_block(args.results, args.include_quick))
    for name in TABLE_VARIANTS:
        text = replace_block(text, name, reproduction_block(args.results, name, args.include_quick))
    text = replace_block(text, "slice", slice_block(args.results, args.include_quick))
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(text, encoding="utf-8")
    png = plot(args.results, args.png or args.doc.with_name("ablations.png"), args.include_quick)
    print(f"wrote {args.doc} and {png}")
    return args.doc


if __name__ == "__main__":
    main(sys.argv[1:])
