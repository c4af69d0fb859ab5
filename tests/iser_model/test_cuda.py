"""CUDA-only checks (skipped without a GPU; run them on one with `python -m pytest -m gpu`)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from iser_model.batching import collate_train, prepare, to_device
from iser_model.inference import resolve_device
from iser_model.trainer import make_optimizer, train_step

from .helpers import DOCS, tiny_model

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_a_training_step_waits_for_the_gpu_at_most_twice():
    """Measured on the H200 (benchmarks/profile_step.py): the trainer's one read-back of the loss and
    its finiteness, and one inside transformers' padding-mask check. Any new nonzero(), boolean-mask
    index or .item() on the hot path shows up here."""
    device = resolve_device("cuda")
    model, tok = tiny_model()
    model.to(device).train()
    cfg = model.cfg
    items, _ = prepare(DOCS, tok, cfg.max_length, cfg.max_span_width, cfg.entity_types, cfg.relation_types)
    rng = np.random.default_rng(0)
    optim = make_optimizer(model, device)

    def step() -> None:
        batch = collate_train(items, tok.pad_token_id, cfg.max_span_width, len(cfg.relation_types), 10, 10, rng)
        assert train_step(model, to_device(batch, device), optim, None, device) is not None

    step()  # lazy initialisation and cuDNN autotuning sync freely
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(3):
                step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [f"{w.filename}:{w.lineno}" for w in caught if "synchroniz" in str(w.message)]
    assert len(syncs) <= 2 * 3, syncs
