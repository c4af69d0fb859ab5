"""A per-process cache of loaded checkpoints: a process that extracts many shards (a Dask worker, or
the flow's own process) loads the model once, not once per shard.

Keyed by the checkpoint's resolved path, the size and modification time of its weights and config,
and the device: a checkpoint rewritten in place (or a ``current`` link moved to another one) is
loaded afresh. Only the most recently used checkpoint is kept, so a long-lived worker holds one model.
"""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from ddikg.iser_model.checkpoint import load_checkpoint

_lock = threading.Lock()  # a Dask worker may run several shard tasks in threads
_cache: dict[tuple, tuple] = {}
loads = 0  # checkpoints actually read from disk by this process (tests and benchmarks read it)


def checkpoint_key(model_dir: str | Path, device: torch.device | str) -> tuple:
    d = Path(model_dir).resolve()
    stats = tuple((name, st.st_size, st.st_mtime_ns) for name in ("model.safetensors", "config.json")
                  if (p := d / name).is_file() and (st := p.stat()))
    return str(d), stats, str(device)


def cached_checkpoint(model_dir: str | Path, device: torch.device | str = "cpu"):
    """``load_checkpoint(model_dir, device)``, reusing this process's copy while the files are unchanged.

    The model is in eval mode and must be used read-only (inference under no_grad)."""
    global loads
    key = checkpoint_key(model_dir, device)
    with _lock:
        hit = _cache.get(key)
        if hit is None:
            _cache.clear()
            hit = _cache[key] = load_checkpoint(model_dir, device)
            loads += 1
        return hit


def clear() -> None:
    with _lock:
        _cache.clear()
