"""The embedded graph's data directory is private: 0700, its snapshot, log, config and password 0600,
whatever the umask of the process that started it."""

from __future__ import annotations

import os
import stat

from ddikg.config import load_settings
from ddikg.kg_loader.server import EmbeddedGraphServer

from .conftest import free_port


def test_graph_data_dir_and_files_are_private(tmp_path, monkeypatch):
    for var in ("NEO4J_URI", "DDIKG_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings(home=tmp_path / "home", graph={"port": free_port()})
    old = os.umask(0o022)  # a usual umask: without care, files come out world-readable
    server = EmbeddedGraphServer(settings)
    try:
        server.start()
        with server._client(5.0) as c:
            c.execute_command("GRAPH.QUERY", "g", "CREATE (:X {n: 1})")
            c.save()
    finally:
        server.stop()
        os.umask(old)
    d = settings.graph_dir
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    files = {f.name: stat.S_IMODE(f.stat().st_mode) for f in d.iterdir() if f.is_file()}
    assert {"graph.rdb", "password"} <= set(files), files
    assert all(mode == 0o600 for mode in files.values()), {k: oct(v) for k, v in files.items()}
