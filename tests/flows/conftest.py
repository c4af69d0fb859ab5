"""Prefect for the flows tests: state in a throw-away directory, offline, quiet.

Prefect reads its settings at import, so this runs before any test module imports it.
"""

from __future__ import annotations

import os
import tempfile

_PREFECT_HOME = tempfile.mkdtemp(prefix="ddikg-test-prefect-")
for key, value in {
    "PREFECT_HOME": _PREFECT_HOME,
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}.items():
    os.environ[key] = value
os.environ.pop("PREFECT_API_URL", None)



# ----------------------------------------------------------------------------------------- e2e services
import json  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from ddikg.config import load_settings  # noqa: E402
from tests.flows.support import (  # noqa: E402
    E2E,
    GRAPH_PASSWORD,
    corpus_slice,
    free_port,
    small_train_config,
    test_site_content,
)


@pytest.fixture(scope="session")
def e2e(tmp_path_factory):
    import torch

    from ddikg.annotate.chddi import CHDDI_DEV, CHDDI_TRAIN
    from ddikg.crawler.fixture_site.server import FixtureSite
    from ddikg.kg_loader.server import EmbeddedGraphServer

    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("flows-e2e")
    cfg_path = root / "train-config.json"
    cfg_path.write_text(json.dumps(small_train_config()), encoding="utf-8")
    port = free_port()
    server_settings = load_settings(home=root / "graph-server",
                                    graph={"port": port, "password": GRAPH_PASSWORD})
    server = EmbeddedGraphServer(server_settings)
    server.start()
    site = FixtureSite(test_site_content(root / "site.jsonl"), port=free_port()).start()
    try:
        yield E2E(root=root, graph_port=port, site=site, train_config=cfg_path,
                  train_data=Path(str(CHDDI_TRAIN)),
                  dev_data=corpus_slice(CHDDI_DEV, root / "dev.jsonl", 24))
    finally:
        site.stop()
        server.stop()
        shutil.rmtree(root / "graph-server", ignore_errors=True)




@pytest.fixture(scope="session")
def first_build(e2e):
    """The uninterrupted reference build: the home has no model, so it trains one; loads every drug."""
    from ddikg.flows.build_kg import build_kg
    from tests.flows import graphview

    home = e2e.root / "ref"
    summary = build_kg(home=str(home), overrides=e2e.overrides("ref"))
    settings = e2e.settings(home, "ref")
    return {"home": home, "settings": settings, "summary": summary,
            "edges": graphview.edges(settings), "drugs": graphview.drugs(settings)}
