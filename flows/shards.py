"""Sharded extraction: cut a CH-DDI corpus into shards by source drug, and join the shards' outputs.

A drug's statements always stay in one shard (its edges are refreshed together). Shards are balanced by
statement characters (what extraction time follows) with the longest-first rule: the drugs, heaviest
first, each go to the lightest shard so far. The cut depends only on the corpus and the shard size, never
on where the shards run, so every task runner extracts the same shards in the same batches and builds the
same triples. Shard files are named by their content: a shard seen before is a cache hit of its task.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from ddikg.jsonl import RecordError


def drug_of(record: dict) -> str:
    """The source drug a statement belongs to (as build-kg counts statements per drug)."""
    meta = record.get("meta") or {}
    return meta.get("source_drug") or record.get("prompt") or "?"


def split_corpus(corpus: Path, out_dir: Path, shard_statements: int) -> list[Path]:
    """Write ``corpus`` as content-addressed shard files under ``out_dir``; return them in shard order.

    Boilerplate statements travel with their drug (extraction skips and counts them) but weigh nothing.
    The shard count is ``ceil(statements / shard_statements)``, at most one per drug.
    """
    groups: dict[str, list[str]] = {}
    weight: dict[str, int] = {}
    statements = 0
    with corpus.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecordError(corpus, n, "<json>", f"invalid JSON: {exc.msg}") from exc
            key = drug_of(rec)
            groups.setdefault(key, []).append(line if line.endswith("\n") else line + "\n")
            boiler = bool((rec.get("meta") or {}).get("boilerplate"))
            weight[key] = weight.get(key, 0) + (0 if boiler else len(rec.get("text") or ""))
            statements += 0 if boiler else 1
    n_shards = max(1, min(len(groups), math.ceil(statements / shard_statements)))
    shards: list[list[str]] = [[] for _ in range(n_shards)]
    load = [0] * n_shards
    for key in sorted(groups, key=lambda k: (-weight[k], k)):
        i = min(range(n_shards), key=lambda j: (load[j], j))
        shards[i].append(key)
        load[i] += weight[key]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for keys in shards:
        if not keys:
            continue
        text = "".join(line for key in sorted(keys) for line in groups[key])
        path = out_dir / f"shard-{hashlib.sha256(text.encode()).hexdigest()[:16]}.jsonl"
        if not path.exists():
            tmp = path.with_suffix(".partial")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)  # the content-addressed name only ever holds a complete file
        paths.append(path)
    return paths


def join_files(parts: list[Path], out: Path) -> Path:
    """Concatenate JSONL ``parts`` into ``out`` (written aside, then renamed into place)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    with tmp.open("wb") as dst:
        for part in parts:
            data = part.read_bytes()
            dst.write(data)
            if data and not data.endswith(b"\n"):
                dst.write(b"\n")
    tmp.replace(out)
    return out
