"""The deployments against a real local Prefect server: serve them, run one through the CLI, wait.

Starts ``prefect server start`` (SQLite under tmp, free port), ``ddikg deploy`` (serves
build-kg/nightly and build-kg/on-demand), then ``prefect deployment run build-kg/on-demand --watch``;
the run executes in a subprocess of the serve process and must reach COMPLETED and build the graph.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.flows import graphview
from tests.flows.support import free_port, python_cli

pytestmark = pytest.mark.slow

PREFECT = [sys.executable, "-m", "prefect"]
DRUG_IDS = ["10001", "10005"]  # the on-demand run crawls just these pages: a small, real run


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _wait(what: str, check, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what}: the process exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{what}: not ready within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def test_deployment_run_through_the_cli_completes_on_a_local_server(e2e, first_build, tmp_path):
    from ddikg.flows.ledger import read_ledger
    from ddikg.flows.summary import BuildSummary

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    prefect_env = {"PREFECT_API_URL": api, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                   "PREFECT_UI_ENABLED": "false", "PREFECT_SERVER_EPHEMERAL_ENABLED": "false"}
    server_env = os.environ | prefect_env | {"PREFECT_HOME": str(tmp_path / "server-home")}
    server_log = tmp_path / "server.log"
    server = subprocess.Popen([*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui",
                               "--no-late-runs"],
                              env=server_env, stdout=server_log.open("w"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    home = e2e.root / "deployed"
    extra = {"model": {"model_dir": str(first_build["home"] / "models" / "current")}}
    serve_env = e2e.env(home, "deployed", **extra) | prefect_env | {"PREFECT_HOME": str(tmp_path / "serve-home")}
    serve_log = tmp_path / "serve.log"
    serve = None
    try:
        _wait("prefect server", lambda: httpx.get(f"{api}/health", timeout=2).status_code == 200, 120, server,
              server_log)
        serve = subprocess.Popen([*python_cli(), "deploy"], env=serve_env, stdout=serve_log.open("w"),
                                 stderr=subprocess.STDOUT, start_new_session=True)

        def deployment(name: str) -> dict | None:
            r = httpx.get(f"{api}/deployments/name/build-kg/{name}", timeout=5)
            return r.json() if r.status_code == 200 else None

        _wait("ddikg deploy", lambda: deployment("on-demand") and deployment("nightly"), 120, serve, serve_log)
        nightly = deployment("nightly")
        sched = nightly["schedules"][0]["schedule"]
        assert (sched["cron"], sched["timezone"]) == ("0 2 * * *", "Asia/Shanghai")
        assert nightly["parameters"]["home"] == str(home.resolve())

        run = subprocess.run([*PREFECT, "deployment", "run", "build-kg/on-demand", "--watch",
                              "--watch-timeout", "240", "--param", f"drug_ids={json.dumps(DRUG_IDS)}"],
                             env=os.environ | prefect_env | {"PREFECT_HOME": str(tmp_path / "cli-home")},
                             capture_output=True, text=True, timeout=300)
        out = run.stdout + run.stderr
        flow_run_id = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
        assert flow_run_id, out
        state = httpx.get(f"{api}/flow_runs/{flow_run_id.group(1)}", timeout=5).json()["state"]["type"]
        assert run.returncode == 0 and state == "COMPLETED", out + serve_log.read_text()[-4000:]
        arts = httpx.post(f"{api}/artifacts/filter", timeout=10,
                          json={"artifacts": {"flow_run_id": {"any_": [flow_run_id.group(1)]}}}).json()
        by_key = {a["key"]: a for a in arts}
        assert {"crawl-summary", "corpus-stats", "load-summary", "build-kg-summary"} <= set(by_key), list(by_key)
        assert "| added |" in by_key["load-summary"]["data"] and by_key["crawl-summary"]["type"] == "markdown"

        # SIGTERM (what a service manager sends) ends the serving process cleanly.
        os.killpg(serve.pid, signal.SIGTERM)
        assert serve.wait(timeout=60) == 0, serve_log.read_text()[-3000:]
        assert "deployments no longer served" in serve_log.read_text()

        # The same deployments registered with a process work pool, for workers elsewhere.
        cli_env = os.environ | prefect_env | {"PREFECT_HOME": str(tmp_path / "cli-home")}
        pool = subprocess.run([*PREFECT, "work-pool", "create", "ddikg-test", "--type", "process"], env=cli_env,
                              capture_output=True, text=True, timeout=120)
        assert pool.returncode == 0, pool.stdout + pool.stderr
        reg = subprocess.run([*python_cli(), "deploy", "--work-pool", "ddikg-test"], env=serve_env,
                             capture_output=True, text=True, timeout=120)
        assert reg.returncode == 0, reg.stdout + reg.stderr
        for name in ("nightly", "on-demand"):
            d = deployment(name)
            assert d["work_pool_name"] == "ddikg-test" and d["entrypoint"] == "ddikg.flows.build_kg.build_kg", d
    finally:
        if serve is not None:
            _stop(serve)
        _stop(server)

    # The served run built those drugs' part of the graph exactly as the direct build did.
    settings = e2e.settings(home, "deployed", **extra)
    assert set(read_ledger(settings)) == set(DRUG_IDS)
    names = {e2e.site.drugs[i].name for i in DRUG_IDS}
    assert graphview.edges(settings) == graphview.restrict(first_build["edges"], names)
    summaries = list((home / "runs").glob("*/summary.json"))
    assert len(summaries) == 1
    summary = BuildSummary.model_validate_json(summaries[0].read_text())
    assert sorted(summary.drugs_processed) == sorted(names) and summary.flow_run_id == flow_run_id.group(1)
