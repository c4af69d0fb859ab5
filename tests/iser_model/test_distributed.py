"""Data-parallel training: ``torchrun --nproc-per-node 2`` (gloo, CPU) against a single process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ddikg.iser_model.batching import collate_train
from ddikg.iser_model.distributed import DistContext, rank_batches
from ddikg.iser_model.presets import tiny_config
from ddikg.iser_model.sampling import sample_rng

REPO = Path(__file__).resolve().parents[2]


def _slice(src, path: Path, n: int) -> Path:
    lines = [x for x in Path(str(src)).read_text(encoding="utf-8").splitlines() if x.strip()][:n]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _train_cli(args: list[str], env: dict[str, str], torchrun: int | None = None) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={torchrun}", "-m"] \
        if torchrun else [sys.executable, "-m"]
    return subprocess.run([*launcher, "ddikg.cli", "train", *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=REPO)


def test_torchrun_two_processes_update_like_one_process_with_the_doubled_batch(tmp_path):
    from ddikg.annotate.chddi import CHDDI_DEV, CHDDI_TRAIN

    train = _slice(CHDDI_TRAIN, tmp_path / "train.jsonl", 12)  # 3 global batches of 4 sentences
    dev = _slice(CHDDI_DEV, tmp_path / "dev.jsonl", 6)
    env = {**os.environ, "PYTHONPATH": str(REPO), "DDIKG_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}

    def run(name: str, batch: int, torchrun: int | None = None) -> Path:
        cfg = tiny_config(batch_size=batch, epochs=1, threads=1, lr=3e-3, model_id=f"iser-{name}")
        (tmp_path / f"{name}.json").write_text(cfg.to_json(), encoding="utf-8")
        out = tmp_path / name
        proc = _train_cli(["--train", str(train), "--dev", str(dev), "--out", str(out), "--config",
                           str(tmp_path / f"{name}.json"), "--no-progress"], env, torchrun)
        assert proc.returncode == 0, proc.stderr[-4000:]
        return out

    ddp = run("ddp", 2, torchrun=2)  # 2 processes x 2 sentences
    one = run("one", 4)  # 1 process x 4 sentences: the same global batches
    half = run("half", 2)  # 1 process x 2 sentences: twice the steps (the control)

    w_ddp, w_one, w_half = (load_file(str(d / "model.safetensors")) for d in (ddp, one, half))
    assert w_ddp.keys() == w_one.keys()  # the plain model's names: no DDP wrapper in the checkpoint

    def max_diff(a, b):
        return max(float((a[k] - b[k]).abs().max()) for k in a)

    # measured: 5e-6 (float noise through 3 AdamW steps at lr 3e-3); 4e-3 when each process divides by its
    # own counts (the mean of per-process means); 1.6e-2 for the control
    assert max_diff(w_ddp, w_one) < 5e-5
    assert max_diff(w_half, w_one) > 1e-3  # the tolerance tells different updates apart

    # one writer: the same files as a single process's run, one checkpoint, one metrics row per epoch
    assert sorted(p.name for p in ddp.iterdir()) == sorted(p.name for p in one.iterdir())
    rows = [json.loads(x) for x in (ddp / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 1 and "val_re_f1" in rows[0]
    # and it loads anywhere, as any checkpoint does
    from ddikg.iser_model.checkpoint import load_checkpoint

    model, _ = load_checkpoint(ddp, "cpu")
    assert model.cfg.model_id.startswith("iser-ddp")


def test_rank_batches_split_each_global_batch_and_drop_one_too_small():
    batches = [[5, 1, 7, 3], [0, 2, 4, 6], [8]]
    parts = [rank_batches(batches, DistContext(rank=r, world=2)) for r in range(2)]
    assert parts == [[[5, 1], [0, 2]], [[7, 3], [4, 6]]]
    assert rank_batches(batches, DistContext()) == batches


def test_per_sentence_negatives_do_not_depend_on_the_batch():
    from ddikg.iser_model.batching import prepare
    from tests.iser_model.helpers import DOCS, tiny_model

    model, tok = tiny_model(neg_entities=5, neg_relations=3)
    cfg = model.cfg
    items, _ = prepare(DOCS, tok, cfg.max_length, cfg.max_span_width, cfg.entity_types, cfg.relation_types)

    def spans(idx):
        b = collate_train([items[i] for i in idx], tok.pad_token_id, cfg.max_span_width, len(cfg.relation_types),
                          cfg.neg_entities, cfg.neg_relations, [sample_rng(cfg.seed, 3, i) for i in idx])
        return [b["spans"][row][b["span_mask"][row].bool()].tolist() for row in range(len(idx))]

    together = spans([0, 1])
    assert [spans([0])[0], spans([1])[0]] == together
    assert spans([1, 0]) == together[::-1]
    other_epoch = collate_train([items[0]], tok.pad_token_id, cfg.max_span_width, len(cfg.relation_types),
                                cfg.neg_entities, cfg.neg_relations, [sample_rng(cfg.seed, 4, 0)])
    assert other_epoch["spans"][0].tolist() != together[0]  # a new epoch draws new negatives


@pytest.mark.parametrize("world", [2, 3])
def test_data_parallel_loss_sums_to_the_global_batch_loss(world):
    """Each process's loss (its sums over the global counts / world), averaged as DDP averages
    gradients, is the single-process loss of the whole batch."""
    from ddikg.iser_model.batching import prepare
    from tests.iser_model.helpers import DOCS, tiny_model

    model, tok = tiny_model()
    model.eval()
    cfg = model.cfg
    docs = DOCS * 2 + DOCS[:1]  # 5 sentences: processes get unequal span and pair counts
    items, _ = prepare(docs, tok, cfg.max_length, cfg.max_span_width, cfg.entity_types, cfg.relation_types)
    idx = list(range(len(items)))

    def batch(ids):
        return collate_train([items[i] for i in ids], tok.pad_token_id, cfg.max_span_width, len(cfg.relation_types),
                             cfg.neg_entities, cfg.neg_relations, [sample_rng(0, 1, i) for i in ids])

    with torch.no_grad():
        whole, _ = model.loss(batch(idx))
        parts = [batch(p.tolist()) for p in np.array_split(np.asarray(idx), world)]
        n_spans = sum(p["span_mask"].sum() for p in parts).float()
        n_pairs = sum(p["pair_mask"].sum() for p in parts).float().clamp(min=1)
        shares = [model.loss(p, (n_spans / world, n_pairs / world))[0] for p in parts]
        naive = [model.loss(p)[0] for p in parts]
    assert torch.allclose(torch.stack(shares).mean(), whole, rtol=1e-5)
    assert not torch.allclose(torch.stack(naive).mean(), whole, rtol=1e-5)  # why the counts are shared
