"""Generate the measured tables of ``docs/results.md`` and ``docs/ablations.png`` from the JSON results.

    python -m benchmarks.make_results

Only the blocks between ``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->`` are
rewritten; prose around them (and sections other engineers own) survives. A missing block is added
at the end of its section (or of the file, under a new heading).
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
UNTRAINED = ("Heads are untrained: they call most spans entities, so the relation stage runs at its cap of about "
             "1,000 candidate pairs per sentence (`max_pairs`) - a worst case for that stage; a trained checkpoint "
             "(`--model DIR`) is faster there.")
SECTIONS = {  # block name -> heading of the section that holds it
    "speed": "ISER speed",
    "conll04": "Paper reproduction: CoNLL04",
    "cmeie": "Paper reproduction: CMeIE",
}
TEMPLATE = """# Results

Every figure here comes from a run recorded as JSON under `benchmarks/results/`; the tables between the
`GENERATED` markers are rewritten by `python -m benchmarks.make_results` (edit the prose around them,
not the tables). How the benchmarks work and how to run them: [benchmarks.md](benchmarks.md).

## ISER speed

<!-- BEGIN GENERATED: speed -->
<!-- END GENERATED: speed -->

## Paper reproduction: CoNLL04

<!-- BEGIN GENERATED: conll04 -->
<!-- END GENERATED: conll04 -->

## Paper reproduction: CMeIE

<!-- BEGIN GENERATED: cmeie -->
<!-- END GENERATED: cmeie -->

![Ablations](ablations.png)

## Rule baseline (annotate)

Not measured yet (owned by the annotate stage).

## Graph loading

Not measured yet (owned by the graph stage: `python benchmarks/load_bench.py`).
"""

SETTINGS = {
    "conll04": (
        "CoNLL04 paper split (train 922 -> dev 231, `../shared/data/conll04`). Encoder: MiniLM-L6-H384-uncased "
        "(`../shared/models/minilm-l6-h384-uncased`; the paper used bert-base-cased, and no other pretrained "
        "weights can be obtained here). Paper hyper-parameters (§4.2): AdamW, peak lr 2e-5, linear warm-up (10 %) "
        "and decay, batch 2, 70 epochs, dropout 0.1, 100 negative entities and relations per sentence, relation "
        "threshold 0.4, max span width 10, width embedding 25, 4 SEA heads. The checkpoint reported is the epoch "
        "with the best dev RE micro F1; as in the paper's split there is no separate validation set, so the "
        "selection and the report use the same 231 sentences.",
        "python -m benchmarks.reproduce --table conll04 --seeds 3 && python -m benchmarks.make_results"),
    "cmeie": (
        "CMeIE (`../shared/data/cmeie`, train 3085 -> dev 500, character level, the text before `@` is the prompt "
        "entity; spo that cannot be aligned to a span are counted in `rejected_spo`). Encoder: a randomly "
        "initialised BERT (4 layers, hidden 256, 4 heads, FFN 1024) over the bert-base-chinese tokenizer "
        "(`../shared/models/bert-base-chinese-tokenizer`), because no Chinese pretrained weights exist here. "
        "Deviations from the paper's CH-DDI settings: lr 3e-4 (random encoder) instead of 2e-5, dropout 0.1 "
        "instead of 0.75; kept: batch 2, 70 epochs, 50 negatives, threshold 0.4, max span width 10 "
        "(96.4 % of CMeIE argument strings are at most 10 characters). The paper reports no CMeIE figures; its "
        "CH-DDI figures (Bio-BERT) are shown as the nearest Chinese reference, not as a target.",
        "python -m benchmarks.reproduce --table cmeie --seeds 3 && python -m benchmarks.make_results"),
}


# ---------------------------------------------------------------------------------------------- helpers


def pct(x: float | None, nd: int = 2) -> str:
    return "-" if x is None else f"{100 * x:.{nd}f}"


def pm(stat: dict | None) -> str:
    """'mean ± std' in percent (std omitted for one seed)."""
    if not stat or stat.get("mean") is None:
        return "-"
    if stat.get("n", 1) > 1:
        return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"
    return f"{100 * stat['mean']:.2f}"


def num(x, nd: int = 1) -> str:
    return "-" if x is None else f"{x:,.{nd}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


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


def speed_results(results: Path, include_quick: bool) -> dict[tuple[str, str], dict]:
    """Newest result per (device kind, section) across every ``iser_speed*.json`` (training rows: see
    :func:`training_rows`)."""
    best: dict[tuple[str, str], dict] = {}
    for path in sorted(results.glob("iser_speed*.json")):
        data = read_json(path)
        if data.get("quick") and not include_quick:
            continue
        kind = "cuda" if data["machine"]["device"].startswith("cuda") else "cpu"
        if data.get("inference", {}).get("trained_model"):  # a trained checkpoint: its own section
            data = data | {"inference_trained": data.pop("inference")}
        for section in ("inference", "inference_trained", "cpu_inference", "growth", "variants"):
            if section in data:
                cur = best.get((kind, section))
                if cur is None or data["machine"]["time_utc"] > cur["machine"]["time_utc"]:
                    best[(kind, section)] = data | {"_file": path.name}
    return best


def training_rows(results: Path, kind: str, include_quick: bool) -> list[tuple[dict, dict]]:
    """(row, its file's payload) per (batch size, precision, compiled), the newest measurement of each
    across every ``iser_speed*.json`` of this device kind: a run that times one setting adds its row
    instead of hiding the others. GPU rows are kept per commit as well: each GPU session is another lent
    machine, and a host-bound step's speed follows the host (the same code has taken 11.6 and 19 s per
    epoch on two H200 machines), so a later run sits beside the earlier one instead of replacing it."""
    newest: dict[tuple, tuple[dict, dict]] = {}
    for path in sorted(results.glob("iser_speed*.json")):
        data = read_json(path)
        if (data.get("quick") and not include_quick) or "training" not in data:
            continue
        if ("cuda" if data["machine"]["device"].startswith("cuda") else "cpu") != kind:
            continue
        for r in data["training"]:
            key = (r["batch_size"], _precision(data, r), bool(r.get("compiled")),
                   (data["machine"].get("commit") or "") if kind == "cuda" else "")
            if key not in newest or data["machine"]["time_utc"] > newest[key][1]["machine"]["time_utc"]:
                newest[key] = (r, data | {"_file": path.name})
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
        out.append(f"\n**A/B on one machine** ({s['device']}, {s['time_utc']}, `{path.parent.name}/`, "
                   f"`python -m benchmarks.ab`): both versions run in turn on the same lent machine, so the "
                   "host's speed, which differs between machines, is the same for both.\n")
        out.append(table(["setting", "side", "commit", "runs, in order", "median", "current / baseline"], rows))
        if s.get("failed"):
            out.append("\nRuns that wrote no result: " + "; ".join(
                f"run {f['run']} ({f['side']}, {f['commit']}): exit {f['exit']}" for f in s["failed"]) + ".")
    return out


def _setting(d: dict, row: dict) -> str:
    return _precision(d, row) + (", compiled" if row.get("compiled") else "")


def _src(d: dict) -> str:
    m = d["machine"]
    end = f" (load {m['load_average_end'][0]} at the end)" if m.get("load_average_end") and not m.get("gpu") else ""
    host = f", host {m['host_op_us']} µs per small CPU operator" if m.get("host_op_us") else ""
    return f"{device_label(m)}{end}{host}, {m['time_utc']}, commit {m.get('commit') or '?'}, `{d['_file']}`"


def _precision(d: dict, row: dict) -> str:
    """A training row's precision; rows from before --train-precision ran the config's bf16 (CUDA only)."""
    return row.get("precision") or ("bf16" if d["machine"]["device"].startswith("cuda") else "fp32")


def speed_block(results: Path, include_quick: bool) -> str:
    from benchmarks.iser_speed import ANCHOR, SEA_COMPLEXITY, TARGETS

    res = speed_results(results, include_quick)
    out = []
    train = {kind: training_rows(results, kind, include_quick) for kind in ("cuda", "cpu")}
    gpu_inf = res.get(("cuda", "inference"))
    gpu_trained = res.get(("cuda", "inference_trained"))

    def fastest(rows):  # (row, payload) with the most sentences/s
        return max(rows, key=lambda rd: rd[0]["sentences_per_second"] or 0)

    def train_row(kind, bs):  # the fastest setting measured at this batch size: (row, payload) or None
        rows = [(r, d) for r, d in train[kind] if r["batch_size"] == bs]
        return fastest(rows) if rows else None

    def newest_note(kind, bs, best):  # the newest run's fastest setting, where it is not the fastest overall
        rows = [(r, d) for r, d in train[kind] if r["batch_size"] == bs]
        last = max(d["machine"]["time_utc"] for _, d in rows)
        r, d = fastest([(r, d) for r, d in rows if d["machine"]["time_utc"] == last])
        if last == best[1]["machine"]["time_utc"]:
            return ""
        what = f"{num(r['seconds_per_epoch'])} s" if bs == 2 else num(r["sentences_per_second"])
        return f"; newest run: {what}, {_setting(d, r)}, commit {d['machine'].get('commit') or '?'}"

    def best_inf(d, section="inference"):
        if not d:
            return None
        return max(d[section]["curve"], key=lambda r: r["sentences_per_second"] or 0)

    (g2, g2d), (g32, g32d) = train_row("cuda", 2) or (None, None), train_row("cuda", 32) or (None, None)
    (c2, c2d), (c32, c32d) = train_row("cpu", 2) or (None, None), train_row("cpu", 32) or (None, None)
    gi, gt = best_inf(gpu_inf), best_inf(gpu_trained, "inference_trained")
    out.append("### Targets of issue #4 beside the anchor\n")
    out.append(table(
        ["figure", "target (H100)", "anchor: SpERT public code (H100)", "ISER measured (GPU)", "ISER measured (CPU)"],
        [["training, batch 2: s/epoch (sentences/s)",
          f"≤ {TARGETS['train_b2_seconds_per_epoch']:.0f} (≥ {TARGETS['train_b2_sentences_per_second']:.0f})",
          f"{ANCHOR['seconds_per_epoch']:.0f} (~{ANCHOR['sentences_per_second']:.0f})",
          f"{num(g2['seconds_per_epoch'])} ({num(g2['sentences_per_second'])}), {_setting(g2d, g2)}, commit "
          f"{g2d['machine'].get('commit') or '?'}{newest_note('cuda', 2, (g2, g2d))}" if g2 else NOT_MEASURED,
          f"{num(c2['seconds_per_epoch'])} ({num(c2['sentences_per_second'], 2)}), {_setting(c2d, c2)}, extrapolated"
          if c2 else "-"],
         ["training, batch 32: sentences/s", f"≥ {TARGETS['train_b32_sentences_per_second']:.0f}", "-",
          f"{num(g32['sentences_per_second'])}, {_setting(g32d, g32)}, commit {g32d['machine'].get('commit') or '?'}"
          f"{newest_note('cuda', 32, (g32, g32d))}" if g32 else NOT_MEASURED,
          f"{num(c32['sentences_per_second'], 2)}, {_setting(c32d, c32)}, extrapolated" if c32 else "-"],
         ["inference, all spans ≤ 10, bf16, best batch: sentences/s (trained checkpoint)",
          f"≥ {TARGETS['infer_sentences_per_second']:.0f}", "-",
          f"{num(gt['sentences_per_second'])} (batch {gt['batch_size']})" if gt else NOT_MEASURED, "see below"],
         ["the same with untrained heads (worst case: ~1,000 candidate pairs per sentence)",
          "-", "-", f"{num(gi['sentences_per_second'])} (batch {gi['batch_size']})" if gi else NOT_MEASURED,
          "see below"]]))
    gpu_runs = [d for _, d in train["cuda"]] + [d for d in (gpu_inf, gpu_trained) if d]
    if gpu_runs:
        gpus = {d["machine"].get("gpu") for d in gpu_runs}
        out.append(f"\nGPU figures were measured on: {', '.join(sorted(g for g in gpus if g))} (the targets are "
                   "stated for an H100; an H200 has the same compute and faster memory).")
    out.append("\nCPU training figures are extrapolated from a few timed steps (see the tables); they show the "
               "cost on this 2-core machine, not a target.\n")

    out.append("### Training throughput (CoNLL04 train, 100 negative entities and relations per sentence)\n")
    rows, sources = [], {}
    for kind in ("cuda", "cpu"):
        if not train[kind] and kind == "cuda":
            rows += [[NOT_MEASURED, "-", "minilm", bs, "-", "-", "-", "-", "-", "-", "-"] for bs in (2, 32)]
        for r, d in train[kind]:
            sources.setdefault(d["_file"], (kind, d))
            warm = f"{num(r['warmup_seconds'])} s" if r.get("compiled") and "warmup_seconds" in r else "-"
            rows.append([device_label(d["machine"]), d["machine"].get("commit") or "?", d["encoder"], r["batch_size"],
                         _setting(d, r),
                         num(r["seconds_per_epoch"]), num(r["sentences_per_second"], 2),
                         f"{r['steps_timed']} of {r['steps_per_epoch']}" + (" (extrapolated)" if r["extrapolated"]
                                                                            else ""),
                         warm, num(r["peak_memory_mib"], 0) if r["peak_memory_mib"] is not None else "-",
                         num(r.get("process_peak_rss_mib"), 0)])
    out.append(table(["device", "commit", "encoder", "batch", "precision", "s/epoch", "sentences/s", "steps timed",
                      "compile (first step)", "GPU peak MiB", "process peak RSS MiB"], rows))
    for kind, d in sources.values():
        out.append(f"\n{'GPU' if kind == 'cuda' else 'CPU'} source: {_src(d)}.")
    out += ab_blocks(results)

    out.append("\n### Inference over all candidate spans up to width 10 (CoNLL04 dev)\n")
    for d, section in ((gpu_trained, "inference_trained"), (gpu_inf, "inference")):
        if not d:
            continue
        inf = d[section]
        out.append(table(["batch", "sentences/s", "ms/sentence", "GPU peak MiB", "entities/sentence",
                          "relations/sentence"],
                         [[r["batch_size"], num(r["sentences_per_second"]), num(r["ms_per_sentence"], 2),
                           num(r["peak_memory_mib"], 0), r["entities_per_sentence"], r["relations_per_sentence"]]
                          for r in inf["curve"]]))
        out.append(f"\n{d['precision']}, {inf['curve'][0]['sentences']} sentences, "
                   f"{'trained checkpoint `' + inf['trained_model'] + '`.' if inf.get('trained_model') else UNTRAINED} "
                   f"Source: {_src(d)}.\n")
    if not (gpu_inf or gpu_trained):
        out.append(table(["batch", "sentences/s", "GPU peak MiB"], [[b, NOT_MEASURED, "-"] for b in (1, 8, 32, 128)]))

    out.append("\n### CPU inference (this machine)\n")
    cpu_inf = res.get(("cpu", "cpu_inference"))
    if cpu_inf:
        rows = [[r["encoder"], f"{r['parameters'] / 1e6:.2f} M", r["batch_size"], num(r["sentences_per_second"], 2),
                 num(r["ms_per_sentence"], 1), r["spans_per_sentence"], r["entities_per_sentence"],
                 r["relations_per_sentence"]] for r in cpu_inf["cpu_inference"]["rows"]]
        out.append(table(["encoder", "parameters", "batch", "sentences/s", "ms/sentence", "spans/sentence",
                          "entities/sentence (untrained)", "relations/sentence"], rows))
        out.append(f"\n{cpu_inf['data']['dev_sentences_timed']} CoNLL04 dev sentences, fp32, "
                   f"{cpu_inf['cpu_inference']['threads']} torch threads; `minilm` = MiniLM-L6 (pretrained), "
                   "`scratch` = a 2-layer hidden-128 BERT over the same WordPiece vocabulary (random). "
                   f"{UNTRAINED} Best of {cpu_inf.get('inference_passes', 1)} passes. Source: {_src(cpu_inf)}.")
    else:
        out.append("Not measured yet.")

    out.append("\n### How the cost grows\n")
    for kind in ("cuda", "cpu"):
        d = res.get((kind, "growth"))
        if not d:
            if kind == "cuda":
                out.append(f"GPU: {NOT_MEASURED}.\n")
            continue
        g = d["growth"]
        out.append(f"**{device_label(d['machine'])}**, encoder {d['encoder']}, batch {g['batch_size']}, "
                   f"{d['precision']}, untrained heads (worst case, as above), best of "
                   f"{d.get('inference_passes', 1)} passes. Source: `{d['_file']}`.\n")
        out.append(table(["sentence length (words)", "sentences", "mean words", "mean subwords", "spans/sentence",
                          "ms/sentence"],
                         [[r["bucket"], r["sentences"], r["mean_words"], r["mean_subwords"], r["spans_per_sentence"],
                           num(r["ms_per_sentence"], 1)] for r in g["by_length"]]))
        out.append("")
        out.append(table(["max span width k", "sentences", "spans/sentence", "ms/sentence"],
                         [[r["k"], r["sentences"], r["spans_per_sentence"], num(r["ms_per_sentence"], 1)]
                          for r in g["by_width"]]))
        out.append("")
    out.append("### Where the time goes: inference with each ablation switched\n")
    shown = False
    for kind in ("cuda", "cpu"):
        d = res.get((kind, "variants"))
        if not d:
            continue
        shown = True
        v = d["variants"]
        base = next((r for r in v["rows"] if r["variant"] == "iser"), None)
        out.append(f"**{device_label(d['machine'])}**, encoder {d['encoder']}, batch {v['batch_size']}, "
                   f"{d['precision']}, {v['rows'][0]['sentences']} CoNLL04 dev sentences, untrained heads, best of "
                   f"{d.get('inference_passes', 1)} passes. Source: {_src(d)}.\n")
        out.append(table(["variant", "ms/sentence", "relative to ISER", "relations/sentence"],
                         [[r["label"], num(r["ms_per_sentence"], 1),
                           f"{r['ms_per_sentence'] / base['ms_per_sentence']:.2f}" if base else "-",
                           r["relations_per_sentence"]] for r in v["rows"]]))
        out.append("")
    if not shown:
        out.append("Not measured yet (`--sections variants`).\n")
    out.append(f"**SEA as implemented.** {SEA_COMPLEXITY}\n")
    out.append("Rerun: `python -m benchmarks.iser_speed --device cuda` (GPU: all sections), "
               "`python -m benchmarks.iser_speed --device cpu --threads 2` (CPU), then "
               "`python -m benchmarks.make_results`.")
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
        out[proto_dir.name] = {"rows": aggregate(records, variants), "records": records}
    return out


def _prf(stats: dict, task: str) -> str:
    return " / ".join(pm(stats.get(f"{task}_micro_{m}")) for m in ("p", "r", "f1"))


def _paper(fig: dict | None, task: str) -> str:
    if not fig or task not in fig:
        return "-"
    return " / ".join(f"{x:.2f}" for x in fig[task])


def _devices(records: list[dict]) -> str:
    """The devices of a table's runs, with the range of 1-minute load averages on CPU (shared cores)."""
    text = ", ".join(sorted({device_label(r["machine"], load=False) for r in records}))
    loads = [r["machine"]["load_average"][0] for r in records if not r["machine"].get("gpu")]
    return text + (f", load {min(loads)}-{max(loads)} at run start" if loads else "")


def reproduction_block(results: Path, name: str, include_quick: bool) -> str:
    published, published_macro, source = PUBLISHED[name]
    text, command = SETTINGS[name]
    found = summaries(results, name, include_quick)
    out = [text, "", f"Rerun: `{command}` (resumable: finished (variant, seed) runs are skipped). "
           f"Paper column: {source}.", ""]
    header = ["variant", "seeds", "NER P / R / F1 (ours)", "NER P / R / F1 (paper)", "RE P / R / F1 (ours)",
              "RE P / R / F1 (paper)", "NER macro F1", "RE macro F1", "RE w/o types F1", "s/epoch"]
    paper = found.get("paper")
    by_var = {r["variant"]: r for r in paper["rows"]} if paper else {}
    rows = []
    for v in shown(name, set(by_var)):
        r = by_var.get(v)
        if r is None:
            rows.append([VARIANTS[v][0], 0, NOT_MEASURED, _paper(published.get(v), "ner"), NOT_MEASURED,
                         _paper(published.get(v), "re"), "-", "-", "-", "-"])
            continue
        rows.append([r["label"], len(r["seeds"]), _prf(r, "ner"), _paper(published.get(v), "ner"), _prf(r, "re"),
                     _paper(published.get(v), "re"), pm(r["ner_macro_f1"]), pm(r["re_macro_f1"]),
                     pm(r["re_no_nec_micro_f1"]), num(r["seconds_per_epoch"])])
    out.append("**Paper protocol** (full split, paper hyper-parameters), micro figures in %, mean ± std over seeds:\n")
    out.append(table(header, rows))
    for v, fig in published_macro.items():
        out.append(f"\nPaper, {VARIANTS[v][0]} macro: NER {_paper(fig, 'ner')}, RE {_paper(fig, 're')} (P / R / F1).")
    if paper:
        out.append(f"\nDevice: {_devices(paper['records'])}.")
    for note in NOTES:
        if ("CoNLL04" in note) == (name == "conll04"):
            out.append(f"\nNote: {note}")
    others = {p: s for p, s in found.items() if p != "paper"}
    for proto, s in others.items():
        recs = s["records"]
        d = recs[0]["data"]
        ep = recs[0]["config"]["epochs"]
        out.append(f"\n**Shortened run `{proto}` — NOT the paper protocol**: {ep} epoch(s), "
                   f"{'first ' + str(d['train_limit']) if d.get('train_limit') else 'all'} training and "
                   f"{'first ' + str(d['dev_limit']) if d.get('dev_limit') else 'all'} dev sentences; "
                   f"device {_devices(recs)}. A check that the harness runs end to end and of relative cost, "
                   "not a reproduction.\n")
        out.append(table(["variant", "seeds", "NER P / R / F1", "RE P / R / F1", "NER macro F1", "RE macro F1",
                          "s/epoch"],
                         [[r["label"], len(r["seeds"]), _prf(r, "ner"), _prf(r, "re"), pm(r["ner_macro_f1"]),
                           pm(r["re_macro_f1"]), num(r["seconds_per_epoch"])] for r in s["rows"]]))
        cfg = recs[0]["config"]
        notes = []
        if not cfg.get("fusion_residual", False):
            notes.append("the paper's literal fusion (`fusion_residual=false`, the default before commit cc0db39)")
        if cfg.get("head_lr"):
            notes.append(f"encoder lr {cfg['lr']:g}, head lr {cfg['head_lr']:g}")
        elif "-lr" in proto:
            notes.append(f"peak lr {cfg['lr']:g} (the table's: {table_config(name).lr:g})")
        if "-b" in proto:
            notes.append(f"batch {cfg['batch_size']} (the paper: 2)")
        limits = sorted({r["config"].get("max_seconds") for r in recs if r["config"].get("max_seconds")})
        if limits:
            notes.append(f"training stopped after {' or '.join(format(x, 'g') for x in limits)} s"
                         + (" (by run)" if len(limits) > 1 else ""))
        shared = _concurrent(recs)
        if shared:
            where = "one GPU" if any(r.get("machine", {}).get("device") == "cuda" for r in recs) else "the machine"
            notes.append(f"runs that shared {where} with others at the same time (their s/epoch is not each "
                         "variant's own cost): " + ", ".join(_shared_note(label, by_seed)
                                                             for label, by_seed in shared.items()))
        for r in recs:
            bad = [e["epoch"] for e in r["epochs"] if not (isinstance(e.get("loss"), float) and e["loss"] == e["loss"])]
            if bad:
                notes.append(f"{r['label']} seed {r['seed']}: loss NaN in epoch {', '.join(map(str, bad))} "
                             f"(the best epoch, {r['best_epoch']}, is reported)")
            part = [f"{e['epoch']} ({100 * e['partial_epoch']:.0f} % of it run)" for e in r["epochs"]
                    if e.get("partial_epoch") is not None]
            if part:
                notes.append(f"{r['label']} seed {r['seed']}: epoch {', '.join(part)} cut short by the time limit")
        if notes:
            out.append("\nSettings and events: " + "; ".join(notes) + ".")
        cmd = f"python -m benchmarks.reproduce --table {name}{' --quick' if proto == 'quick' else ''} --seed-list " \
              f"{','.join(str(x) for x in sorted({r['seed'] for r in recs}))}" \
              f"{' --epochs ' + str(ep) if 'e' + str(ep) in proto else ''}" \
              f"{' --lr ' + format(cfg['lr'], 'g') if '-lr' in proto else ''}" \
              f"{' --head-lr ' + format(cfg['head_lr'], 'g') if 'hlr' in proto else ''}" \
              f"{' --batch-size ' + str(cfg['batch_size']) if '-b' in proto else ''}" \
              f"{' --max-seconds ' + format(cfg['max_seconds'], 'g') if cfg.get('max_seconds') else ''}" \
              f"{' --train-limit ' + str(d['train_limit']) if d.get('train_limit') else ''}" \
              f"{' --dev-limit ' + str(d['dev_limit']) if d.get('dev_limit') else ''}"
        out.append(f"\nRerun: `{cmd}`")
    return "\n".join(out)


def _shared_note(label: str, by_seed: dict[int, int]) -> str:
    if len(by_seed) == 1:
        n = next(iter(by_seed.values()))
        return f"{label} ({n} other{'s' if n > 1 else ''})"
    return f"{label} ({', '.join(f'seed {s}: {n}' for s, n in sorted(by_seed.items()))} others)"


def _concurrent(recs: list[dict]) -> dict[str, dict[int, int]]:
    """label -> {seed: how many other runs overlapped it in time on the same host}, for runs that overlapped."""
    from datetime import datetime, timedelta

    spans = []
    for r in recs:
        m = r.get("machine", {})
        try:
            t0 = datetime.fromisoformat(m["time_utc"])
        except (KeyError, ValueError):
            continue
        spans.append((r["label"], r.get("seed"), m.get("host"), t0,
                      t0 + timedelta(seconds=float(r.get("wall_seconds") or 0))))
    out: dict[str, dict[int, int]] = {}
    for label, seed, host, a, b in spans:
        # start times are kept to the second: runs one after the other in one process may seem to touch
        n = sum(1 for lab2, _, h2, a2, b2 in spans
                if (lab2, a2) != (label, a) and h2 == host and min(b, b2) - max(a, a2) > timedelta(seconds=2))
        if n:
            out.setdefault(label, {})[seed] = n
    return out


# ---------------------------------------------------------------------------------------------- plot


PLOT_REFERENCE = {"conll04": "paper, CoNLL04 (bert-base-cased)",
                  "cmeie": "paper, CH-DDI (Bio-BERT; none published for CMeIE)"}


PLOT_BLUES = ("#9cc3e6", "#2f6fb0", "#163d66")


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


def plot(results: Path, png: Path, include_quick: bool) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(TABLE_VARIANTS)
    fig, axes = plt.subplots(2, len(names), figsize=(7 * len(names), 9), squeeze=False,
                             gridspec_kw={"width_ratios": [max(5, len(TABLE_VARIANTS[n])) for n in names]})
    for col, name in enumerate(names):
        published = PUBLISHED[name][0]
        found = summaries(results, name, include_quick)
        protos = _plotted(found) or [None]
        measured = {r["variant"] for p in protos if p for r in found[p]["rows"]}
        variants = shown(name, measured)
        x = range(len(variants))
        width = 0.8 / (1 + len(protos))
        for row, task in enumerate(("ner", "re")):
            ax = axes[row][col]
            ref = [published.get(v, {}).get(task, (0, 0, 0))[2] for v in variants]
            ax.bar([i - 0.4 + width / 2 for i in x], ref, width, label=PLOT_REFERENCE[name], color="#9aa5b1")
            for k, proto in enumerate(protos):
                rows = {r["variant"]: r for r in found[proto]["rows"]} if proto else {}
                f1 = [rows[v][f"{task}_micro_f1"] if v in rows else {} for v in variants]
                ours = [100 * (m.get("mean") or 0.0) for m in f1]
                err = [100 * (m.get("std") or 0.0) for m in f1]
                at = [i - 0.4 + width * (k + 1.5) for i in x]
                label = "ours: not yet measured" if proto is None else f"ours: {proto}" + (
                    "" if proto == "paper" else f" ({_epochs_run(found[proto])})")
                ax.bar(at, ours, width, yerr=err, capsize=2, label=label, color=PLOT_BLUES[k % len(PLOT_BLUES)])
                for i, v in zip(at, variants, strict=True):
                    if v not in rows:
                        ax.text(i, 1, "n/m", ha="center", va="bottom", fontsize=6, rotation=90)
            ax.set_xticks(list(x))
            ax.set_xticklabels([VARIANTS[v][0] for v in variants], rotation=30, ha="right", rotation_mode="anchor",
                               fontsize=8)
            ax.set_ylim(0, 125)  # room above the bars for the legend
            ax.set_yticks(range(0, 101, 20))
            ax.set_ylabel(f"{task.upper()} micro F1 (%)")
            ax.set_title(f"{name}: {task.upper()} micro F1", fontsize=10)
            ax.legend(fontsize=7, loc="upper center", ncol=1, frameon=False)
    fig.suptitle("ISER ablations: published figures vs our runs (n/m = not measured; runs named sanity-* are "
                 "shortened, NOT the paper protocol)", fontsize=12)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)
    plt.close(fig)
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
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(text, encoding="utf-8")
    png = plot(args.results, args.png or args.doc.with_name("ablations.png"), args.include_quick)
    print(f"wrote {args.doc} and {png}")
    return args.doc


if __name__ == "__main__":
    main(sys.argv[1:])
