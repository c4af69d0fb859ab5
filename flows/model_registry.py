"""The current model of a ddikg home, and promotion of a newly trained one.

Checkpoints are trained into ``<home>/models/<model_id>/``; the current model is
``settings.model_dir`` (default ``<home>/models/current``, a symlink to one of them). Promotion
swaps the link atomically, so a reader never sees a half-written current model.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ddikg.config import Settings

CHECKPOINT_MARKER = "config.json"


def has_model(path: Path) -> bool:
    return (path / CHECKPOINT_MARKER).is_file() and any(path.glob("*.safetensors"))


def current_model(settings: Settings) -> Path | None:
    path = settings.model_dir
    return path if has_model(path) else None


def model_id_of(model_dir: Path) -> str:
    """The id a checkpoint was saved with (its ``config.json``), else its directory name."""
    try:
        cfg = json.loads((model_dir / CHECKPOINT_MARKER).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        cfg = {}
    return str(cfg.get("model_id") or model_dir.resolve().name)


def promote(settings: Settings, candidate: Path) -> Path:
    """Make ``candidate`` the current model; return the current model path."""
    target = settings.model_dir
    target.parent.mkdir(parents=True, exist_ok=True)
    candidate = candidate.resolve()
    if target.is_symlink() or not target.exists():
        tmp = target.with_name(f".{target.name}.swap")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        rel = os.path.relpath(candidate, target.parent.resolve())
        tmp.symlink_to(rel, target_is_directory=True)
        os.replace(tmp, target)  # rename over the old link: atomic
        return target
    # A real directory configured by the user: copy beside it, then swap the two by renames.
    staged = target.with_name(f".{target.name}.new")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(candidate, staged)
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(target, old)
    os.replace(staged, target)
    shutil.rmtree(old, ignore_errors=True)
    return target
