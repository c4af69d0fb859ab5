"""Public Python API of the model stage (the Prefect flows and the CLI call these)."""

from __future__ import annotations

import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from ddikg.iser_model.config import IserConfig
from ddikg.iser_model.readers import Format


class TrainResult(BaseModel):
    model_dir: Path
    model_id: str
    best_validation: dict  # validation figures of the selected (saved) epoch
    best_epoch: int  # the selected epoch
    last_epoch: int  # the last evaluated epoch
    last_validation: dict  # its validation figures
    test_selected: dict | None = None  # the test set (never used to select), at the selected epoch
    test_last: dict | None = None  # and at the last
    validation: str  # where the validation set came from
    epochs: int  # epochs actually run
    seconds_per_epoch: list[float]
    train_documents: int
    validation_documents: int
    rejected_spo: int


class ExtractSummary(BaseModel):
    records: int  # records predicted (and written)
    skipped_boilerplate: int
    rejected_lines: int
    truncated: int  # statements longer than the encoder's max length (only their start was read)
    triples: int
    seconds: float
    model_id: str
    self_loops: int = 0  # relations between two mentions of one drug: not a DDI, left out of the triples


def split_validation(ds, fraction: float, seed: int) -> tuple[list, list, str]:
    """(train, validation, description): a fixed, seeded slice of a training set as validation.

    Whole groups go to one side: statements of one source drug (CH-DDI/CMeIE: ``meta.source_drug``, else
    the prompt before ``@``) never straddle the split; a SpERT document is its own group. Groups are
    shuffled with ``seed`` and taken until ``fraction`` of the documents is reached."""
    import numpy as np

    docs = ds.documents
    if ds.records is not None:
        keys = [(r.meta.source_drug if r.meta and r.meta.source_drug else None) or r.prompt or f"#{i}"
                for i, r in enumerate(ds.records)]
        by = "source drug"
    else:
        keys, by = [f"#{i}" for i in range(len(docs))], "document"
    groups = list(dict.fromkeys(keys))
    order = np.random.default_rng(seed).permutation(len(groups))
    want, chosen, n = max(1, round(fraction * len(docs))), set(), 0
    size = {g: 0 for g in groups}
    for k in keys:
        size[k] += 1
    for g in order:
        if n >= want:
            break
        chosen.add(groups[g])
        n += size[groups[g]]
    if len(chosen) == len(groups):
        raise ValueError(f"{ds.path}: {len(docs)} documents in {len(groups)} groups ({by}): too few to carve a "
                         f"validation fraction of {fraction} and keep any for training; give a validation file")
    train = [d for d, k in zip(docs, keys, strict=True) if k not in chosen]
    val = [d for d, k in zip(docs, keys, strict=True) if k in chosen]
    return train, val, (f"{len(val)} of the {len(docs)} documents of {ds.path} (fraction {fraction}, seed {seed}, "
                        f"grouped by {by}); trained on the other {len(train)}")


def train(train_path: str | Path, val_path: str | Path | None, out_dir: str | Path, *,
          config: IserConfig | None = None, test_path: str | Path | None = None, data_format: Format = "auto",
          progress: bool = True, on_error: str = "raise") -> TrainResult:
    """Train ISER on ``train_path``; the checkpoint of the epoch with the best validation RE micro F1 is saved
    in ``out_dir``. Validation: ``val_path``, else a slice of the training file (``config.val_fraction``,
    ``config.val_seed``; :func:`split_validation`). ``test_path``, if given, is evaluated after training at
    the selected and at the last epoch, and takes no part in the selection.

    The data are read and checked before ``out_dir`` is made; a run that fails before saving a checkpoint
    removes the directory it created (kept when it holds rejects files)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a directory")
    created = not out.exists()
    try:
        return _train(train_path, val_path, test_path, out, config, data_format, progress, on_error)
    except BaseException:
        # a failed run leaves no directory of its own behind, unless it saved a checkpoint or set lines
        # aside (the rejects files say why nothing could be trained on)
        if created and not (out / "model.safetensors").exists() and not any(out.glob("*.rejects.jsonl")):
            shutil.rmtree(out, ignore_errors=True)
        raise


def _train(train_path: str | Path, val_path: str | Path | None, test_path: str | Path | None, out: Path,
           config: IserConfig | None, data_format: Format, progress: bool, on_error: str) -> TrainResult:
    from ddikg.iser_model import distributed
    from ddikg.iser_model.encoder import Encoder, new_tokenizer, new_transformer
    from ddikg.iser_model.inference import configure_host, resolve_device
    from ddikg.iser_model.model import IserModel
    from ddikg.iser_model.pretrained import dataset_name, model_card, write_card
    from ddikg.iser_model.readers import read_dataset
    from ddikg.iser_model.trainer import fit, seed_everything
    from ddikg.jsonl import NoRecordsError

    cfg = config or IserConfig()
    device = resolve_device(cfg.device)  # a device this machine lacks fails before any work
    schema = (cfg.entity_types, cfg.relation_types) if cfg.entity_types and cfg.relation_types else None
    side = distributed.side_dir(out)  # under torchrun only rank 0 writes into out
    train_ds = read_dataset(train_path, data_format, on_error=on_error, rejects=side / "train.rejects.jsonl",
                            schema=schema)
    if not train_ds.documents:
        raise NoRecordsError(train_path, train_ds.rejected_lines, train_ds.rejects_path)
    schema = (train_ds.entity_types, train_ds.relation_types)
    if val_path is not None:
        train_docs = train_ds.documents
        val_ds = read_dataset(val_path, data_format, on_error=on_error, rejects=side / "validation.rejects.jsonl",
                              schema=schema)
        if not val_ds.documents:
            raise NoRecordsError(val_path, val_ds.rejected_lines, val_ds.rejects_path)
        val_docs = val_ds.documents
        where = f"{val_path} ({len(val_docs)} documents)"
    else:
        train_docs, val_docs, where = split_validation(train_ds, cfg.val_fraction, cfg.val_seed)
    test_docs = None
    if test_path is not None:
        test_ds = read_dataset(test_path, data_format, on_error=on_error, rejects=side / "test.rejects.jsonl",
                               schema=schema)
        if not test_ds.documents:
            raise NoRecordsError(test_path, test_ds.rejected_lines, test_ds.rejects_path)
        test_docs = test_ds.documents
    distributed.drop_side_dir(side, out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    cfg = cfg.model_copy(update={"entity_types": schema[0], "relation_types": schema[1],
                                 "model_id": f"{cfg.model_id}-{stamp}"})
    seed_everything(cfg.seed)
    device = distributed.setup(device)  # torchrun: join the group; on CUDA this rank's GPU
    configure_host(device, cfg.threads, cfg.reuse_host_memory == "always")
    tokenizer = new_tokenizer(cfg, (d.tokens for d in train_docs))
    model = IserModel(cfg, Encoder(new_transformer(cfg, tokenizer), cfg.dropout))
    try:
        hist = fit(model, tokenizer, train_docs, val_docs, out, device, progress, test_docs=test_docs)
    except BaseException:
        distributed.teardown(wait=False)  # the other processes stop on their own (torchrun ends them)
        raise
    distributed.teardown()
    if hist.best is not None:  # the card names the data and the split its figures come from
        names = list(dict.fromkeys([dataset_name(p) for p in (train_path, test_path or val_path) if p is not None]))
        if hist.test_selected is not None:
            (out / "README.md").write_text(model_card(cfg, hist.test_selected, (
                f"Selected epoch {hist.best_epoch} of {cfg.epochs} by validation RE micro F1 ({where}); the figures "
                f"are on the test set, which took no part in the selection."), names, "test"), encoding="utf-8")
        else:
            write_card(out, names, "validation", note=f"Selected epoch {hist.best_epoch} of {cfg.epochs} by "
                       f"validation RE micro F1 ({where}); these are validation figures, not a result to report.")
    return TrainResult(model_dir=out, model_id=cfg.model_id, best_validation=hist.best or {},
                       best_epoch=hist.best_epoch, last_epoch=hist.last_epoch, last_validation=hist.last or {},
                       test_selected=hist.test_selected, test_last=hist.test_last, validation=where,
                       epochs=len(hist.epochs),
                       seconds_per_epoch=[r["seconds"] for r in hist.epochs if "partial_epoch" not in r],
                       train_documents=len(train_docs), validation_documents=len(val_docs),
                       rejected_spo=train_ds.rejected_spo)


def evaluate(model_dir: str | Path, data_path: str | Path, *, data_format: Format = "auto", device: str = "auto",
             batch_size: int | None = None, rejects: str | Path | None = None, on_error: str = "raise",
             progress: bool = False, max_entities: int | None = None) -> dict:
    """The paper's NER / RE / RE-without-entity-types figures of a checkpoint on a data file, decoded as the
    paper and SpERT (every ordered pair of predicted entities; ``max_entities`` caps them, to measure the cap).

    The result also says how many documents were read and how many spo could not be aligned
    (``data``); those are written to ``rejects`` (default ``<data>.rejects.jsonl``).
    """
    from ddikg.iser_model.checkpoint import load_checkpoint
    from ddikg.iser_model.inference import configure_host, resolve_device
    from ddikg.iser_model.readers import read_dataset
    from ddikg.iser_model.trainer import evaluate_documents
    from ddikg.jsonl import NoRecordsError

    dev = resolve_device(device)
    model, tokenizer = load_checkpoint(model_dir, dev)
    configure_host(dev, model.cfg.threads, model.cfg.reuse_host_memory != "never")
    ds = read_dataset(data_path, data_format, on_error=on_error, rejects=rejects,
                      schema=(model.cfg.entity_types, model.cfg.relation_types))
    if not ds.documents:
        raise NoRecordsError(data_path, ds.rejected_lines, ds.rejects_path)
    metrics = evaluate_documents(model, tokenizer, ds.documents, dev, batch_size or model.cfg.eval_batch_size,
                                 progress, max_entities)
    metrics["data"] = {"path": str(data_path), "documents": len(ds.documents), "rejected_lines": ds.rejected_lines,
                       "rejected_spo": ds.rejected_spo, "rejects": str(ds.rejects_path) if (
                           ds.rejected_lines or ds.rejected_spo) else None, "model_id": model.cfg.model_id,
                       "model": model.cfg.display_name(), "max_entities": max_entities}
    return metrics


def extract(model_dir: str | Path, in_path: str | Path, out_records: str | Path | None, out_triples: str | Path, *,
            batch_size: int = 32, device: str = "auto", run_id: str | None = None, ddi_constraints: bool = True,
            on_error: str = "raise", rejects: str | Path | None = None, progress: bool = False,
            require_records: bool = False, max_entities: int | None = None) -> ExtractSummary:
    """Predict DDI statements of a CH-DDI file: records with scored spo (``out_records``) and triples.

    ``require_records``: an input with no valid record raises :class:`ddikg.jsonl.NoRecordsError`.
    ``max_entities`` (default: the checkpoint's ``max_entities``, None = all) pairs only each statement's
    top-scoring entities: faster where a model predicts many."""
    from ddikg.contracts import ChddiMeta, ChddiRecord, SpanDocument, Spo, Triple, TypedValue, normalise_name
    from ddikg.iser_model.batching import prepare
    from ddikg.iser_model.inference import configure_host, predict, resolve_device
    from ddikg.iser_model.model_cache import cached_checkpoint
    from ddikg.jsonl import JsonlReader, default_rejects_path, write_jsonl
    from ddikg.labels import DRUG
    from ddikg.progress import track

    t0 = time.perf_counter()
    dev = resolve_device(device)
    model, tokenizer = cached_checkpoint(model_dir, dev)  # once per process: shards of a run share it
    cfg = model.cfg
    configure_host(dev, cfg.threads, cfg.reuse_host_memory != "never")
    reader = JsonlReader(in_path, ChddiRecord, on_error=on_error,  # type: ignore[arg-type]
                         rejects=rejects or default_rejects_path(in_path), require_records=require_records)
    records = [r for r in reader]
    todo = [r for r in records if not (r.meta and r.meta.boilerplate)]
    docs = [SpanDocument(tokens=list(r.text)) for r in todo]
    items, stats = prepare(docs, tokenizer, cfg.max_length, cfg.max_span_width, cfg.entity_types, cfg.relation_types)
    allowed = {(DRUG, DRUG)} if ddi_constraints and DRUG in cfg.entity_types else None
    preds = dict(track(predict(model, items, tokenizer.pad_token_id, batch_size=batch_size, device=dev,
                               allowed_pair_types=allowed, non_overlapping=ddi_constraints,
                               max_entities=max_entities or cfg.max_entities),
                       "extract", total=len(items), enabled=progress, unit="statements"))
    now = datetime.now(timezone.utc)
    out_recs, triples, self_loops = [], [], 0
    for i, rec in enumerate(todo):
        p, text = preds[i], rec.text
        spo = []
        for h, t, rel, score in p.relations:
            hs, he, ht, _ = p.entities[h]
            ts, te, tt, _ = p.entities[t]
            spo.append(Spo(predicate=rel, subject=text[hs:he], subject_type=ht, object=TypedValue.of(text[ts:te]),
                           object_type=TypedValue.of(tt), score=round(score, 6), subject_span=(hs, he),
                           object_span=(ts, te)))
        meta = (rec.meta or ChddiMeta()).model_copy(update={"model_id": cfg.model_id})
        out_recs.append(ChddiRecord(text=text, spo_list=spo, meta=meta))
        for s in spo:
            if normalise_name(s.subject) == normalise_name(s.object_text):
                self_loops += 1
                continue
            triples.append(Triple(subject=s.subject, subject_type=s.subject_type, predicate=s.predicate,
                                  object=s.object_text, object_type=s.object_type_text, score=s.score, evidence=text,
                                  source_url=meta.source_url, source_drug=meta.source_drug or rec.prompt,
                                  drug_id=meta.drug_id, sentence_index=meta.index, model_id=cfg.model_id,
                                  extracted_at=now, run_id=run_id))
    if out_records is not None:
        write_jsonl(out_records, out_recs)
    write_jsonl(out_triples, triples)
    return ExtractSummary(records=len(out_recs), skipped_boilerplate=len(records) - len(todo),
                          rejected_lines=reader.n_bad, truncated=stats.truncated_documents, triples=len(triples),
                          seconds=time.perf_counter() - t0, model_id=cfg.model_id, self_loops=self_loops)
