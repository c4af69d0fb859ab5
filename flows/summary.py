"""What one build-kg run did: the record the CLI prints, the flow returns and ``runs/<id>/summary.json`` keeps."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ddikg.contracts import utcnow


def as_dict(obj: Any) -> dict[str, Any]:
    """A stage's summary object (pydantic, dataclass, NamedTuple or dict) as a JSON-ready dict."""
    if obj is None:
        return {}
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return json.loads(json.dumps(dataclasses.asdict(obj), default=str))
    if hasattr(obj, "_asdict"):
        return json.loads(json.dumps(obj._asdict(), default=str))
    if isinstance(obj, dict):
        return json.loads(json.dumps(obj, default=str))
    raise TypeError(f"cannot summarise a {type(obj).__name__}")


class ModelReport(BaseModel):
    model_dir: str
    model_key: str
    trained: bool = False  # a model was trained in this run
    promoted: bool | None = None  # None: nothing was trained
    candidate_f1: float | None = None  # RE micro F1 on the dev set
    current_f1: float | None = None
    reason: str = ""


class BuildSummary(BaseModel):
    run_id: str
    flow_run_id: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    home: str
    graph: str
    model: ModelReport | None = None
    crawl: dict[str, Any] = Field(default_factory=dict)  # the crawler's summary
    extract: dict[str, Any] = Field(default_factory=dict)  # shards, cache hits, runner, worker processes
    drugs_crawled: int = 0
    drugs_processed: list[str] = Field(default_factory=list)  # drug names (re)extracted and reloaded
    drugs_rejected: int = 0  # raw lines that failed validation (written aside)
    statements: int = 0  # CH-DDI statements segmented from the processed drugs
    boilerplate: int = 0  # statements with no interaction content, not given to the model
    triples: int = 0
    load: dict[str, Any] = Field(default_factory=dict)  # the loader's summary (added/updated/removed/...)
    seconds: dict[str, float] = Field(default_factory=dict)  # wall time per stage
    throughput: dict[str, float] = Field(default_factory=dict)  # items per second per stage (this run)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path

    @property
    def edges_changed(self) -> int:
        return sum(int(self.load.get(k, 0) or 0) for k in ("added", "updated", "removed"))

    def headline(self) -> str:
        c = self.crawl
        crawl = (f"crawl: {self.drugs_crawled} drugs ({c.get('new', 0)} new, {c.get('changed', 0)} changed, "
                 f"{c.get('unchanged', 0)} unchanged)")
        if c.get("stopped_reason"):
            crawl += f", stopped: {c['stopped_reason']}"
        processed = (f"processed {len(self.drugs_processed)} drug(s)"
                     + (f": {', '.join(self.drugs_processed[:8])}" + (" …" if len(self.drugs_processed) > 8 else "")
                        if self.drugs_processed else ""))
        ld = self.load
        load = (f"graph: +{ld.get('added', 0)} added, ~{ld.get('updated', 0)} updated, -{ld.get('removed', 0)} removed, "
                f"{ld.get('unchanged', 0)} unchanged edges" + (f", {ld['rejected']} rejected" if ld.get("rejected") else ""))
        return "; ".join([crawl, processed, f"{self.statements} statements -> {self.triples} triples", load])
