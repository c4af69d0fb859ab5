"""The Prefect flows: ``build-kg`` (crawl -> segment what changed -> extract -> refresh the graph) and
one small flow per stage.

``build-kg`` is incremental: a drug is re-segmented, re-extracted and its edges refreshed only when
its page content or the current model differs from what the graph holds for it (see
:mod:`ddikg.flows.ledger`). With ``retrain`` (or when no model exists yet) it first trains a model on the
annotated corpus and promotes it only if its dev relation micro F1 is not worse than the current one's.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from ddikg.config import Settings, load_settings
from ddikg.contracts import ChddiRecord, RawDrugRecord
from ddikg.flows import artifacts
from ddikg.flows.fingerprint import file_sha256, model_key, raw_fingerprint
from ddikg.flows.ledger import commit, graph_target, pending, read_ledger
from ddikg.flows.model_registry import current_model, promote
from ddikg.flows.shards import join_files, split_corpus
from ddikg.flows.summary import BuildSummary, ModelReport
from ddikg.flows.tasks import (
    cached_files,
    crawl_task,
    evaluate_task,
    extract_paths,
    extract_task,
    load_task,
    segment_task,
    shard_dir,
    task_runner,
    train_task,
)
from ddikg.jsonl import JsonlReader, default_rejects_path, write_jsonl


def _settings(home: str | None, overrides: dict[str, Any] | None) -> Settings:
    kwargs: dict[str, Any] = dict(overrides or {})
    if home:
        kwargs["home"] = Path(home)
    return load_settings(**kwargs)


def _run_id() -> tuple[str, str | None]:
    from prefect.runtime import flow_run

    fid = flow_run.id
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return (f"{stamp}-{fid[:8]}" if fid else stamp), fid


def _re_f1(ev: dict[str, Any] | None) -> float:
    return float(((ev or {}).get("re") or {}).get("micro", {}).get("f1", 0.0))


def corpus_files(settings: Settings) -> tuple[Path, Path]:
    """The corpus models are trained on and the validation corpus that selects their epoch and decides
    promotion (default: the repository's CH-DDI train and dev splits; its test split is never used here)."""
    from ddikg.annotate.chddi import CHDDI_DEV, CHDDI_TRAIN

    return Path(str(settings.flows.train_data or CHDDI_TRAIN)), Path(str(settings.flows.dev_data or CHDDI_DEV))


def promotion(candidate_f1: float, current_f1: float | None) -> tuple[bool, str]:
    """Promote a new model when there is no current one or its dev RE micro F1 is not worse."""
    if current_f1 is None:
        return True, "no current model"
    if candidate_f1 >= current_f1:
        return True, f"dev RE micro F1 {candidate_f1:.4f} >= current {current_f1:.4f}"
    return False, f"dev RE micro F1 {candidate_f1:.4f} < current {current_f1:.4f}"


def ensure_model(settings: Settings, retrain: bool, progress: bool = True) -> ModelReport:
    """The model to extract with: the current one, or a newly trained one when asked or when none exists."""
    log = get_run_logger()
    current = current_model(settings)
    if current is not None and not retrain:
        return ModelReport(model_dir=str(current), model_key=model_key(current), reason="current model reused")
    train_path, dev_path = corpus_files(settings)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    out_dir = settings.models_dir / f"iser-{stamp}"
    result = train_task(settings, train_path, dev_path, out_dir, settings.flows.train_config, progress)
    candidate = Path(result.get("model_dir") or out_dir)
    cand_eval = evaluate_task(candidate, dev_path, settings.model.device)
    cur_eval = evaluate_task(current, dev_path, settings.model.device) if current is not None else None
    report = ModelReport(model_dir=str(candidate), model_key=model_key(candidate), trained=True,
                         candidate_f1=_re_f1(cand_eval), current_f1=_re_f1(cur_eval) if cur_eval else None)
    report.promoted, report.reason = promotion(report.candidate_f1, report.current_f1)
    log.info("model %s: %s (%s)", report.model_key, "promoted" if report.promoted else "not promoted", report.reason)
    artifacts.publish("model-evaluation", artifacts.evaluation_markdown(report, cand_eval, cur_eval),
                      "Dev-set evaluation of the newly trained model against the current one")
    if report.promoted:
        report.model_dir = str(promote(settings, candidate))
    else:
        report.model_dir, report.model_key = str(current), model_key(current)
    return report


def check_graph(settings: Settings) -> None:
    """Raise the loader's GraphUnavailable (it says how to start the server) when the graph is down."""
    from ddikg.kg_loader.api import open_graph
    from ddikg.kg_loader.backends import GraphUnavailable

    with open_graph(settings) as graph:
        try:
            graph.run("RETURN 1 AS ok", read_only=True)
        except GraphUnavailable:
            raise
        except Exception:  # noqa: BLE001 - it answered (e.g. FalkorDB: "empty key" for a graph not yet written)
            pass


def run_build(settings: Settings, *, base_url: str | None = None, retrain: bool = False, full: bool = False,
              drug_ids: list[str] | None = None, progress: bool = False) -> BuildSummary:
    """The body of ``build-kg`` (call it inside a flow run: it calls tasks)."""
    log = get_run_logger()
    run_id, flow_run_id = _run_id()
    run_dir = settings.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    summary = BuildSummary(run_id=run_id, flow_run_id=flow_run_id, home=str(settings.home),
                           graph=graph_target(settings))
    clock = time.perf_counter
    check_graph(settings)  # fail in a second, not after a crawl and an extraction

    t0 = clock()
    summary.model = ensure_model(settings, retrain, progress)
    summary.seconds["model"] = clock() - t0
    model_dir, mkey = Path(summary.model.model_dir), summary.model.model_key

    t0 = clock()
    raw_path = run_dir / "raw.jsonl"
    crawl = crawl_task.with_options(retries=settings.flows.retries,
                                    retry_delay_seconds=settings.flows.retry_delay_s)(
        settings, raw_path, base_url=base_url, drug_ids=drug_ids, progress=progress)
    summary.crawl = crawl
    summary.seconds["crawl"] = clock() - t0
    artifacts.publish("crawl-summary", artifacts.crawl_markdown(crawl, base_url), "Pages and drugs crawled")

    # What the graph does not hold yet at this content and model; bad lines are set aside and counted.
    reader = JsonlReader(raw_path, RawDrugRecord, on_error="skip", rejects=default_rejects_path(raw_path))
    by_id: dict[str, RawDrugRecord] = {}
    for rec in reader:
        by_id[rec.drug_id] = rec  # a drug reached from two categories: the last fetch wins
    summary.drugs_crawled, summary.drugs_rejected = len(by_id), reader.n_bad
    todo = sorted(pending(by_id.values(), read_ledger(settings), mkey, full=full), key=lambda r: r.drug_id)
    summary.drugs_processed = [r.name for r in todo]
    log.info("%d of %d drugs to (re)process", len(todo), len(by_id))
    if not todo:
        summary.load = {"added": 0, "updated": 0, "removed": 0, "unchanged": 0, "rejected": 0}
        return _finish(summary, run_dir)

    pending_path = run_dir / "pending.jsonl"
    write_jsonl(pending_path, todo)

    t0 = clock()
    seg = cached_files(segment_task, ("corpus",), settings, pending_path, raw_fingerprint(todo))
    summary.seconds["segment"] = clock() - t0
    corpus = Path(seg["corpus"])
    per_drug: Counter[str] = Counter()
    for rec in JsonlReader(corpus, ChddiRecord):
        if rec.meta and rec.meta.boilerplate:
            summary.boilerplate += 1
        else:
            summary.statements += 1
            per_drug[(rec.meta.source_drug if rec.meta else None) or rec.prompt or "?"] += 1
    artifacts.publish("corpus-stats", artifacts.corpus_markdown(per_drug, summary.statements, summary.boilerplate,
                                                                reader.n_bad),
                      "CH-DDI statements segmented from the changed drugs")

    t0 = clock()
    ext = extract_stage(settings, model_dir, mkey, corpus, run_id, progress)
    summary.seconds["extract"] = clock() - t0
    summary.extract = {k: v for k, v in ext.items() if k not in ("records", "triples")}
    triples_path = Path(ext["triples"])
    summary.triples = sum(1 for line in triples_path.open(encoding="utf-8") if line.strip())

    t0 = clock()
    load = load_task.with_options(retries=settings.flows.retries, retry_delay_seconds=settings.flows.retry_delay_s)(
        settings, pending_path, triples_path, run_id, [r.name for r in todo])
    summary.load = load
    summary.seconds["load"] = clock() - t0
    artifacts.publish("load-summary", artifacts.load_markdown(load, len(todo)), "Edges added, updated, removed")

    # Only now does the graph hold these drugs at this content and model.
    commit(settings, todo, mkey, run_id)
    _record_throughput(summary, seg, ext, load)
    return _finish(summary, run_dir)


def extract_stage(settings: Settings, model_dir: Path, mkey: str, corpus: Path, run_id: str,
                  progress: bool = False) -> dict[str, Any]:
    """Extract ``corpus`` shard by shard (:mod:`ddikg.flows.shards`) on the task runner of
    ``settings.runner``, then join the shards' records and triples into the corpus's own files, which
    the single refresh load reads. A shard whose content and model were extracted before is a cache hit.
    """
    log = get_run_logger()
    t0 = time.perf_counter()
    shards = split_corpus(corpus, settings.corpus_dir / "shards", settings.runner.shard_statements)
    runner = task_runner(settings)
    r = settings.runner
    where = "in process" if runner is None else f"on Dask at {r.dask_address}" if r.dask_address else \
        f"on a local Dask cluster of {r.workers} worker process(es)"
    log.info("extracting %s as %d shard(s) with %s, %s", corpus.name, len(shards), mkey, where)
    if runner is None:
        parts = [_shard_outcome(lambda refresh, shard=shard: extract_task.with_options(refresh_cache=refresh)(
            settings, model_dir, mkey, shard, run_id, progress, shard_dir(settings), return_state=True))
            for shard in shards]
    else:
        parts = extract_shards.with_options(task_runner=runner)(settings, model_dir, mkey, shards, run_id)
    records, triples = extract_paths(settings, file_sha256(corpus), mkey)
    join_files([Path(p["records"]) for p in parts], records)
    join_files([Path(p["triples"]) for p in parts], triples)
    out: dict[str, Any] = {k: sum(int(p.get(k) or 0) for p in parts)
                           for k in ("statements", "skipped_boilerplate", "rejected_lines", "truncated")}
    out.update(records=str(records), triples=str(triples), shards=len(parts),
               shards_cached=sum(bool(p["cached"]) for p in parts), runner=settings.runner.kind,
               processes=len({p.get("pid") for p in parts if not p["cached"]}),
               model_loads=sum(bool(p.get("model_loaded")) for p in parts if not p["cached"]),
               # the shards' own extraction time (model load included): over the wall time, the parallelism
               busy_seconds=round(sum(float(p.get("seconds") or 0) for p in parts if not p["cached"]), 3),
               cpu_seconds=round(sum(float(p.get("cpu_seconds") or 0) for p in parts if not p["cached"]), 3),
               seconds=round(time.perf_counter() - t0, 3))
    log.info("extract: %d statements in %d shard(s) (%d cached) -> %s in %.1f s", out["statements"], len(parts),
             out["shards_cached"], triples, out["seconds"])
    return out


def _shard_outcome(run) -> dict[str, Any]:
    """The result of one shard task, run as ``run(refresh_cache)`` returning its final state: rerun for
    real when a cache hit names output files that are gone (as :func:`cached_files` does)."""
    state = run(False)
    if state.is_completed() and state.name == "Cached":
        result = state.result()
        if all(Path(result[k]).exists() for k in ("records", "triples")):
            return {**result, "cached": True}
        state = run(True)
    return {**state.result(), "cached": False}  # a failed shard raises its error here


@flow(name="extract-shards", validate_parameters=False)
def extract_shards(settings: Settings, model_dir: Path, mkey: str, shards: list[Path], run_id: str
                   ) -> list[dict[str, Any]]:
    """Submit one extract task per shard to this flow's task runner (Dask); their results in shard order."""
    def submit(shard: Path, refresh: bool):
        return extract_task.with_options(refresh_cache=refresh).submit(
            settings, model_dir, mkey, shard, run_id, False, shard_dir(settings))

    futures = [submit(shard, False) for shard in shards]  # all in flight before the first is awaited

    def final(i: int, refresh: bool):
        future = futures[i] if not refresh else submit(shards[i], True)
        future.wait()
        return future.state

    return [_shard_outcome(lambda refresh, i=i: final(i, refresh)) for i in range(len(shards))]


def _record_throughput(s: BuildSummary, seg: dict, ext: dict, load: dict) -> None:
    def rate(n: float, sec: float | None) -> float | None:
        return round(n / sec, 2) if sec and n else None

    pages = s.crawl.get("pages_fetched") or s.drugs_crawled
    s.throughput = {k: v for k, v in {
        "crawl_pages_per_s": rate(pages, s.crawl.get("seconds")),
        "segment_statements_per_s": rate(s.statements + s.boilerplate, seg.get("seconds")),
        "extract_sentences_per_s": rate(ext.get("statements", 0), ext.get("seconds")),
        "load_rows_per_s": rate(s.triples, load.get("seconds")),
    }.items() if v is not None}


def _finish(summary: BuildSummary, run_dir: Path) -> BuildSummary:
    summary.finished_at = datetime.now(timezone.utc)
    summary.write(run_dir / "summary.json")
    artifacts.publish("build-kg-summary", artifacts.run_markdown(summary), "What this build-kg run did")
    get_run_logger().info("build-kg %s: %s", summary.run_id, summary.headline())
    return summary


# --------------------------------------------------------------------------- flows


@flow(name="build-kg", log_prints=True)
def build_kg(base_url: str | None = None, retrain: bool | None = None, full: bool = False,
             drug_ids: list[str] | None = None, home: str | None = None,
             overrides: dict[str, Any] | None = None, progress: bool = False, workers: int | None = None,
             dask_address: str | None = None) -> BuildSummary:
    """Crawl, segment what changed, extract with the current model and refresh those drugs' edges.

    ``retrain`` (default ``settings.flows.retrain``) first trains on the annotated corpus; ``full``
    reprocesses every drug; ``overrides`` are settings fields (e.g. ``{"crawl": {"download_delay": 0}}``).
    ``workers`` (a local Dask cluster of that many processes) and ``dask_address`` (an existing Dask
    scheduler) say where the extract shards run (default ``settings.runner``: in this process).
    """
    runner = {k: v for k, v in {"workers": workers, "dask_address": dask_address}.items() if v is not None}
    if runner:
        overrides = {**(overrides or {}), "runner": {**(overrides or {}).get("runner", {}), **runner}}
    settings = _settings(home, overrides)
    return run_build(settings, base_url=base_url or settings.flows.base_url,
                     retrain=settings.flows.retrain if retrain is None else retrain, full=full,
                     drug_ids=drug_ids, progress=progress)


@flow(name="crawl")
def crawl_flow(out: str, base_url: str | None = None, drug_ids: list[str] | None = None,
               home: str | None = None) -> dict[str, Any]:
    return crawl_task(_settings(home, None), Path(out), base_url=base_url, drug_ids=drug_ids)


@flow(name="segment")
def segment_flow(raw: str, home: str | None = None) -> dict[str, Any]:
    records = list(JsonlReader(Path(raw), RawDrugRecord))
    return cached_files(segment_task, ("corpus",), _settings(home, None), Path(raw), raw_fingerprint(records))


@flow(name="train")
def train_flow(home: str | None = None, promote_if_better: bool = True) -> ModelReport:
    settings = _settings(home, None)
    return ensure_model(settings, retrain=True) if promote_if_better else ModelReport(
        model_dir="", model_key="", reason="promote_if_better=False: nothing to do")


@flow(name="extract")
def extract_flow(corpus: str, home: str | None = None) -> dict[str, Any]:
    settings = _settings(home, None)
    model = current_model(settings)
    if model is None:
        raise FileNotFoundError(f"no model at {settings.model_dir}; run the train flow or build-kg first")
    run_id, _ = _run_id()
    return extract_stage(settings, model, model_key(model), Path(corpus), run_id)


@flow(name="load")
def load_flow(raw: str, triples: str, home: str | None = None) -> dict[str, Any]:
    settings = _settings(home, None)
    drugs = list(JsonlReader(Path(raw), RawDrugRecord))
    run_id, _ = _run_id()
    return load_task(settings, Path(raw), Path(triples), run_id, [d.name for d in drugs])
