"""Which drug pages the graph holds, at which content and model: what makes build-kg incremental.

The crawler's ``change`` flag compares a page with the previous *crawl*; but a run can die after the
crawl and before the load, and the next crawl would then call those pages unchanged although the
graph never got them. So the flow decides what to (re)process against this ledger instead: a drug is
pending when its content hash or the current model differs from what was last loaded for it. The
ledger is written (atomically) only after the graph load committed, one ledger per graph target.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from ddikg.config import Settings
from ddikg.contracts import RawDrugRecord


def graph_target(settings: Settings) -> str:
    """A readable identity of the graph the loader writes to (never includes a password)."""
    g = settings.graph
    if g.uses_neo4j:
        return f"neo4j:{g.neo4j_uri}/{g.neo4j_database or 'default'}"
    return f"falkordb:{g.host}:{g.port}/{g.graph}"


def ledger_path(settings: Settings) -> Path:
    digest = hashlib.sha256(graph_target(settings).encode()).hexdigest()[:12]
    return settings.runs_dir / f"loaded-{digest}.json"


def read_ledger(settings: Settings) -> dict[str, dict]:
    path = ledger_path(settings)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: corrupt ledger ({exc}); delete it and run build-kg --full") from None
    return data.get("drugs", {})


def pending(records: Iterable[RawDrugRecord], ledger: dict[str, dict], model_id: str,
            *, full: bool = False) -> list[RawDrugRecord]:
    """The records whose content or model differs from what the graph holds for that drug."""
    out = []
    for r in records:
        seen = ledger.get(r.drug_id)
        if full or seen is None or seen.get("content_hash") != r.content_hash or seen.get("model_id") != model_id:
            out.append(r)
    return out


def commit(settings: Settings, records: Iterable[RawDrugRecord], model_id: str, run_id: str) -> Path:
    """Record ``records`` as loaded by ``run_id`` (tmp file + rename: a crash leaves the old ledger)."""
    path = ledger_path(settings)
    drugs = read_ledger(settings)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for r in records:
        drugs[r.drug_id] = {"name": r.name, "content_hash": r.content_hash, "model_id": model_id,
                            "run_id": run_id, "loaded_at": now}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"graph": graph_target(settings), "drugs": drugs}, ensure_ascii=False, indent=1),
                   encoding="utf-8")
    os.replace(tmp, path)
    return path
