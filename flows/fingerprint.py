"""Content fingerprints that key the flow's caches and its ledger."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ddikg.flows.model_registry import model_id_of


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def model_key(model_dir: Path) -> str:
    """``<model_id>@<weights hash>``: two checkpoints saved under the same id never share a key."""
    h = hashlib.sha256()
    for p in sorted(model_dir.resolve().glob("*.safetensors")):
        h.update(file_sha256(p).encode())
    h.update(file_sha256(model_dir / "config.json").encode())
    return f"{model_id_of(model_dir)}@{h.hexdigest()[:12]}"


def raw_fingerprint(records) -> str:
    """What segmentation depends on, in a stable order: not the fetch times, which change every crawl."""
    h = hashlib.sha256()
    for r in sorted(records, key=lambda r: r.drug_id):
        h.update(f"{r.drug_id}\t{r.url}\t{r.content_hash}\t{sorted(r.diseases)}\n".encode())
    return h.hexdigest()
