"""Helpers of the end-to-end tests: free ports, the small training config, the shared services."""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ddikg.config import Settings, load_settings
from ddikg.crawler.fixture_site.server import fixture_profile_path

GRAPH_PASSWORD = "flows-e2e-password"
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_train_config() -> dict[str, Any]:
    """The demo's model and training recipe cut to 12 epochs and no time cap: it must learn enough on the
    CH-DDI train split (some test-split relations right) for the edge-by-edge checks to bite. Epochs, not
    seconds: on a shared 2-core machine a time cap buys anything from 2 to 20 epochs."""
    from ddikg.iser_model.presets import demo_config

    cfg = demo_config().model_copy(update={"model_id": "iser-flows-test", "epochs": 12, "eval_every": 4,
                                           "max_seconds": None, "device": "cpu"})
    return cfg.model_dump(mode="json")


def corpus_slice(src: Any, path: Path, n: int) -> Path:
    """The first ``n`` statements of a corpus file: a training set sized for a test budget."""
    lines = [x for x in Path(str(src)).read_text(encoding="utf-8").splitlines() if x.strip()][:n]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_site_content(path: Path) -> Path:
    """The fixture site cut to the test split's drugs (plus 布美他尼片 and one drug per other
    category, so every category page the crawler is seeded with exists): a third of the statements,
    every one the acceptance check looks at."""
    from ddikg.annotate.corpus import TEST_DRUGS
    from ddikg.crawler.fixture_site.content import categories, load_content
    from ddikg.jsonl import write_jsonl

    drugs = load_content()
    keep = set(TEST_DRUGS) | {"10001"}
    for _name, members in categories(drugs).values():
        if not keep & {d.drug_id for d in members}:
            keep.add(members[0].drug_id)
    write_jsonl(path, [d for d in drugs if d.drug_id in keep])
    return path


@dataclass
class E2E:
    """Services shared by the end-to-end tests: one graph server, one fixture site, one config."""

    root: Path
    graph_port: int
    site: Any  # ddikg.crawler.fixture_site.server.FixtureSite
    train_config: Path
    train_data: Path
    dev_data: Path
    reference: dict[str, Any] = field(default_factory=dict)  # filled by the first build

    def overrides(self, graph: str, **extra: Any) -> dict[str, Any]:
        o: dict[str, Any] = {
            "graph": {"port": self.graph_port, "password": GRAPH_PASSWORD, "graph": graph},
            # the fixture site is ours and on loopback: no politeness delay is owed to it
            "crawl": {"download_delay": 0.0, "autothrottle": False, "profile": str(fixture_profile_path())},
            "model": {"device": "cpu"},
            "flows": {"train_config": str(self.train_config), "train_data": str(self.train_data),
                      "dev_data": str(self.dev_data), "retry_delay_s": 1.0, "base_url": self.site.base_url},
        }
        for section, values in extra.items():
            o.setdefault(section, {}).update(values)
        return o

    def settings(self, home: Path, graph: str, **extra: Any) -> Settings:
        return load_settings(home=home, **self.overrides(graph, **extra))

    def env(self, home: Path, graph: str, **extra: Any) -> dict[str, str]:
        """The same settings as DDIKG_* variables, for a subprocess."""
        import os

        env = {k: v for k, v in os.environ.items() if not k.startswith(("DDIKG_", "NEO4J_"))}
        env["DDIKG_HOME"] = str(home)
        for section, values in self.overrides(graph, **extra).items():
            for k, v in values.items():
                env[f"DDIKG_{section.upper()}__{k.upper()}"] = str(v).lower() if isinstance(v, bool) else str(v)
        env["PYTHONUNBUFFERED"] = "1"
        env["OMP_NUM_THREADS"] = "2"
        return env


def python_cli() -> list[str]:
    return [sys.executable, "-m", "ddikg.cli"]
