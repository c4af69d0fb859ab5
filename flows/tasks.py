"""Prefect tasks wrapping each stage's Python API: crawl, segment, train, evaluate, extract, load.

- Retries only where failures are transient: the crawl (network) and the load (graph server).
  A rate-limited crawl is not a failure: the crawler stops cleanly and says why, and is not retried.
  A crawl that got nothing, found the site unreachable or lost pages after its own retries raises
  ``ddikg.crawler.api.CrawlIncomplete``, so the task fails and its retries fire.
- Segment, extract and evaluate are cached by their inputs' content (file sha256, model key), and
  their outputs are content-addressed files, so a re-run after a crash or with nothing new is cheap.
  A cache key is only offered while the output file still exists.
- Stage packages are imported inside the tasks: a flow module stays importable on its own.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.context import TaskRunContext

from ddikg.config import Settings
from ddikg.contracts import RawDrugRecord
from ddikg.flows.fingerprint import file_sha256, model_key
from ddikg.flows.summary import as_dict
from ddikg.jsonl import JsonlReader, default_rejects_path

# --------------------------------------------------------------------------- content-addressed outputs


def corpus_path(settings: Settings, raw_sha: str) -> Path:
    return settings.corpus_dir / f"segmented-{raw_sha[:16]}.jsonl"


def extract_paths(settings: Settings, corpus_sha: str, mkey: str, out_dir: Path | None = None) -> tuple[Path, Path]:
    """The records and triples of a corpus (or a shard: ``out_dir`` = ``shard_dir``) under a model."""
    stem = f"{corpus_sha[:16]}-{mkey.replace('@', '-').replace('/', '_')}"
    d = out_dir or settings.triples_dir
    return d / f"{stem}.records.jsonl", d / f"{stem}.triples.jsonl"


def shard_dir(settings: Settings) -> Path:
    """Where each shard's extracted records and triples go (their join goes to ``triples_dir``)."""
    return settings.triples_dir / "shards"


def _segment_key(_ctx: TaskRunContext, p: dict[str, Any]) -> str:
    return f"ddikg-segment-{p['settings'].home.resolve()}-{p['fingerprint']}"


def _extract_key(_ctx: TaskRunContext, p: dict[str, Any]) -> str:
    s = p["settings"]
    where = Path(p["out_dir"]).resolve() if p.get("out_dir") else s.home.resolve()
    return f"ddikg-extract-{where}-{file_sha256(Path(p['corpus']))}-{p['mkey']}-{s.model.device}"


def _evaluate_key(_ctx: TaskRunContext, p: dict[str, Any]) -> str:
    return f"ddikg-evaluate-{model_key(Path(p['model_dir']))}-{file_sha256(Path(p['data_path']))}-{p['device']}"


def cached_files(call, outputs: tuple[str, ...], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Call a cached task; if a cache hit names output files that are gone, run it again for real.

    Keys name the inputs (and the home the outputs go to); the files themselves can still be deleted
    by hand, and a summary pointing at nothing must not reach the next stage.
    """
    result = call(*args, **kwargs)
    if all(Path(result[k]).exists() for k in outputs):
        return result
    return call.with_options(refresh_cache=True)(*args, **kwargs)


# --------------------------------------------------------------------------- where shards run


def task_runner(settings: Settings):
    """The Prefect task runner of the extract shards (``settings.runner``), or None: in this process.

    Dask is imported only here, when a run is configured for it."""
    r = settings.runner
    if r.kind == "in-process":
        return None
    from prefect_dask import DaskTaskRunner

    if r.dask_address:
        # its workers report task runs to the Prefect API in their own environment (PREFECT_API_URL)
        return DaskTaskRunner(address=r.dask_address)
    # worker processes, one torch thread each (Dask's nanny also sets OMP_NUM_THREADS=1 for them), that
    # report to this run's Prefect API: without its address each worker would start a temporary server
    # of its own (tens of seconds per worker, and a second writer to the same database); no dashboard:
    # it would need bokeh and a port
    return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                          cluster_kwargs={"n_workers": r.workers, "threads_per_worker": r.threads_per_worker,
                                          "processes": True, "dashboard_address": None,
                                          "env": {"PREFECT_API_URL": prefect_api_url()}})


def prefect_api_url() -> str:
    """The Prefect API this process reports to: ``PREFECT_API_URL``, else its temporary local server's."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if url:
        return url
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the process's one temporary server (a singleton), started if need be
    if server.server_process is None:
        server.start()
    return server.api_url


# --------------------------------------------------------------------------- tasks


@task(name="crawl", retries=2, retry_delay_seconds=10)
def crawl_task(settings: Settings, out: Path, base_url: str | None = None, start_urls: list[str] | None = None,
               drug_ids: list[str] | None = None, progress: bool = False) -> dict[str, Any]:
    """Crawl drug pages into ``out`` (RawDrugRecord JSONL, with new/changed/unchanged per drug)."""
    from ddikg.crawler.api import run_crawl

    log = get_run_logger()
    log.info("crawling %s into %s", base_url or "the profile's site", out)
    t0 = time.perf_counter()
    summary = as_dict(run_crawl(settings, out, base_url=base_url, start_urls=start_urls, drug_ids=drug_ids,
                                progress=progress))
    summary.setdefault("seconds", round(time.perf_counter() - t0, 3))
    log.info("crawl: %s", {k: v for k, v in summary.items() if not isinstance(v, (list, dict))})
    if summary.get("stopped_reason"):
        log.warning("the crawl stopped early: %s (resumable; the pages fetched so far are processed)",
                    summary["stopped_reason"])
    return summary


@task(name="segment", cache_key_fn=_segment_key, persist_result=True)
def segment_task(settings: Settings, raw_path: Path, fingerprint: str) -> dict[str, Any]:
    """@-segment the interaction sections of ``raw_path`` into CH-DDI statements.

    ``fingerprint`` (:func:`ddikg.flows.fingerprint.raw_fingerprint` of the file's records) keys the cache
    and names the output: the same drug contents give the same corpus whatever the fetch times.
    """
    from ddikg.annotate.segment import segment_file

    log = get_run_logger()
    out = corpus_path(settings, fingerprint)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    t0 = time.perf_counter()
    summary = as_dict(segment_file(raw_path, tmp, on_error="skip", rejects=default_rejects_path(out)))
    tmp.replace(out)  # the content-addressed name only ever holds a complete file
    summary.update(out=str(out), corpus=str(out), seconds=round(time.perf_counter() - t0, 3))
    log.info("segment: %s -> %s", raw_path, out)
    return summary


@task(name="train")
def train_task(settings: Settings, train_path: Path, dev_path: Path, out_dir: Path,
               config_path: Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Train a new ISER model on ``train_path`` (best checkpoint by dev RE F1) into ``out_dir``."""
    from ddikg.iser_model import api
    from ddikg.iser_model.config import IserConfig
    from ddikg.iser_model.presets import demo_config

    log = get_run_logger()
    config = IserConfig.load(config_path) if config_path else demo_config()
    config = config.model_copy(update={"device": settings.model.device})
    log.info("training %s on %s (dev %s) into %s", config.model_id, train_path, dev_path, out_dir)
    result = api.train(train_path, dev_path, out_dir, config=config, progress=progress)
    out = as_dict(result)
    log.info("trained %s: selected epoch %s, validation %s", out.get("model_id"), out.get("best_epoch"),
             out.get("best_validation"))
    return out


@task(name="evaluate", cache_key_fn=_evaluate_key, persist_result=True)
def evaluate_task(model_dir: Path, data_path: Path, device: str = "auto") -> dict[str, Any]:
    """NER/RE precision, recall and F1 of ``model_dir`` on ``data_path`` (the paper's strict criteria)."""
    from ddikg.iser_model import api

    return api.evaluate(model_dir, data_path, device=device)


@task(name="extract", cache_key_fn=_extract_key, persist_result=True)
def extract_task(settings: Settings, model_dir: Path, mkey: str, corpus: Path, run_id: str,
                 progress: bool = False, out_dir: Path | None = None) -> dict[str, Any]:
    """Run the model over the statements of ``corpus`` (a whole corpus, or one shard of it: then
    ``out_dir`` = :func:`shard_dir`); write predicted records and triples. The model is loaded once
    per process (``ddikg.iser_model.model_cache``), however many shards the process extracts."""
    from ddikg.iser_model import api, model_cache

    log = get_run_logger()
    loads = model_cache.loads
    sha = file_sha256(corpus)
    records_out, triples_out = extract_paths(settings, sha, mkey, out_dir)
    records_out.parent.mkdir(parents=True, exist_ok=True)
    tmp_records, tmp_triples = records_out.with_suffix(".partial"), triples_out.with_suffix(".partial")
    log.info("extracting %s with %s on %s", corpus.name, mkey, settings.model.device)
    t0, cpu0 = time.perf_counter(), time.process_time()
    # The model API leaves boilerplate statements (尚不明确 …) out and counts them.
    summary = as_dict(api.extract(model_dir, corpus, tmp_records, tmp_triples, batch_size=settings.model.batch_size,
                                  device=settings.model.device, run_id=run_id, ddi_constraints=True,
                                  progress=progress))
    seconds = time.perf_counter() - t0
    tmp_records.replace(records_out)
    tmp_triples.replace(triples_out)
    statements = int(summary.get("records", 0))
    summary.update(records=str(records_out), triples=str(triples_out), statements=statements,
                   seconds=round(seconds, 3), cpu_seconds=round(time.process_time() - cpu0, 3), pid=os.getpid(),
                   model_loaded=model_cache.loads > loads)
    log.info("extract: %d statements -> %s in %.1f s", statements, triples_out, seconds)
    return summary


@task(name="load", retries=2, retry_delay_seconds=5)
def load_task(settings: Settings, raw_path: Path, triples_path: Path, run_id: str,
              sources: list[str]) -> dict[str, Any]:
    """Merge the drugs and refresh the edges of ``sources`` to match ``triples_path`` (crash-safe)."""
    from ddikg.kg_loader import api

    log = get_run_logger()
    log.info("loading %s into %s for %d source drug(s)", triples_path.name, settings.graph.graph, len(sources))
    t0 = time.perf_counter()
    drugs = list(JsonlReader(raw_path, RawDrugRecord))
    api.load_drugs(settings, drugs, run_id=run_id)
    summary = as_dict(api.load_triples(settings, triples_path, run_id=run_id, sources=sources, on_error="skip",
                                       rejects=default_rejects_path(triples_path)))
    summary.setdefault("seconds", round(time.perf_counter() - t0, 3))
    log.info("load: %s", {k: v for k, v in summary.items() if not isinstance(v, (list, dict))})
    return summary
