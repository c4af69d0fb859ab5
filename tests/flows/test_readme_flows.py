"""The README's Flows block, run as written: its deployment commands, line by line, in a fresh
directory with a fresh Prefect home, through the ``ddikg`` and ``prefect`` commands on PATH.

Shell 1's lines run in order (a line ending in ``&`` in the background, ``export`` into the
environment, ``ddikg deploy`` kept running until it says "serving"), then shell 2's; the
``build-kg/on-demand`` run must reach COMPLETED, and ``ddikg deploy`` must exit 0 on SIGTERM.
Test-only departures, each for the shared test machine: free ports instead of 4200/8765, the model
of the session's reference build instead of training one, no crawl delay towards the loopback site.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.flows.support import free_port

pytestmark = pytest.mark.slow


def readme_deploy_block() -> tuple[list[str], list[str]]:
    """Shell 1's and shell 2's command lines of the README's deployments block (comments dropped)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    flows = text[text.index("### Flows"):]
    blocks = re.findall(r"```bash\n(.*?)```", flows, flags=re.S)
    block = next(b for b in blocks if "ddikg deploy" in b)
    shells: list[list[str]] = [[], []]
    current = 0
    for line in block.splitlines():
        if line.startswith("# shell 2"):
            current = 1
        command = line.split(" #", 1)[0].strip() if not line.startswith("#") else ""
        if command:
            shells[current].append(command)
    return shells[0], shells[1]


def test_readme_block_shape():
    shell1, shell2 = readme_deploy_block()
    assert "export PREFECT_API_URL=http://127.0.0.1:4200/api" in shell1 and shell1[-1].startswith("ddikg deploy")
    assert any(line.startswith("ddikg build-kg") for line in shell1)
    assert all("8765" in line for line in shell1 if "fixture-site" in line or "--base-url" in line)
    assert shell2 == ["export PREFECT_API_URL=http://127.0.0.1:4200/api",
                      "prefect deployment run build-kg/on-demand --watch"]


def _kill(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_readme_flows_block_completes_an_on_demand_run(e2e, first_build, tmp_path):
    prefect_port, site_port = free_port(), free_port()
    shell1, shell2 = readme_deploy_block()

    def local(cmd: str) -> str:
        return cmd.replace("4200", str(prefect_port)).replace("8765", str(site_port))

    # `ddikg` and `prefect` as a user has them: commands on PATH (here: this checkout's code)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, module in (("ddikg", "ddikg.cli"), ("prefect", "prefect")):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m {module} "$@"\n')
        script.chmod(0o755)
    work = tmp_path / "work"  # stands for the checkout the README's commands run in: its data/ lands here
    work.mkdir()
    (work / "crawler").symlink_to(REPO / "crawler")  # the fixture site's profile, by its relative path
    (tmp_path / "user").mkdir()  # the user's HOME: Prefect keeps its server's database in ~/.prefect
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DDIKG_", "NEO4J_", "PREFECT_"))}
    env |= {"PATH": f"{bin_dir}:{env['PATH']}", "HOME": str(tmp_path / "user"), "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "2",
            # `prefect server start` listens on this port instead of 4200 (the README's URL is rewritten to it)
            "PREFECT_SERVER_API_PORT": str(prefect_port),
            # offline: no usage statistics, no UI build
            "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
            "DDIKG_MODEL__MODEL_DIR": str(first_build["home"] / "models" / "current"),
            "DDIKG_MODEL__DEVICE": "cpu", "DDIKG_GRAPH__PORT": str(free_port()),
            "DDIKG_CRAWL__DOWNLOAD_DELAY": "0", "DDIKG_CRAWL__AUTOTHROTTLE": "false"}
    background: list[subprocess.Popen] = []
    logs: dict[str, Path] = {}

    def start(cmd: str, name: str) -> subprocess.Popen:
        logs[name] = tmp_path / f"{name}.log"
        proc = subprocess.Popen(["bash", "-c", cmd], cwd=work, env=dict(env), stdout=logs[name].open("w"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        background.append(proc)
        return proc

    def tails() -> str:
        return "\n".join(f"--- {n}\n{p.read_text()[-2500:]}" for n, p in logs.items())

    deploy = None
    try:
        for i, line in enumerate(map(local, shell1)):
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").partition("=")
                env[key] = value
            elif line.endswith("&"):
                start(line.rstrip("& "), f"bg{i}")
            elif line.startswith("ddikg deploy"):
                deploy = start(line, "deploy")
            else:
                run = subprocess.run(["bash", "-c", line], cwd=work, env=env, capture_output=True, text=True,
                                     timeout=180)
                assert run.returncode == 0, f"{line}: {run.stdout}{run.stderr}"
        assert deploy is not None
        deadline = time.monotonic() + 300  # the Prefect server's first start, then the registration
        while "serving build-kg/nightly" not in logs["deploy"].read_text():
            assert deploy.poll() is None, tails()
            assert time.monotonic() < deadline, tails()
            time.sleep(1)

        env2 = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}  # shell 2 is a new shell
        for line in map(local, shell2):
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").partition("=")
                env2[key] = value
                continue
            run = subprocess.run(["bash", "-c", line], cwd=work, env=env2, capture_output=True, text=True,
                                 timeout=900)
            out = run.stdout + run.stderr
            assert run.returncode == 0, out + tails()
        flow_run_id = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
        assert flow_run_id, out
        api = env2["PREFECT_API_URL"]
        state = httpx.get(f"{api}/flow_runs/{flow_run_id.group(1)}", timeout=10).json()["state"]["type"]
        assert state == "COMPLETED", out + tails()
        summaries = list((work / "data" / "runs").glob("*/summary.json"))
        assert len(summaries) == 2, tails()  # `ddikg build-kg`, then the on-demand run

        # SIGTERM (what a service manager sends) ends the serving process cleanly
        os.killpg(deploy.pid, signal.SIGTERM)
        assert deploy.wait(timeout=60) == 0, tails()
        assert "deployments no longer served" in logs["deploy"].read_text()
    finally:
        for proc in reversed(background):
            _kill(proc)
        subprocess.run(["bash", "-c", "ddikg graph stop"], cwd=work, env=env, capture_output=True, timeout=60)


def test_deploy_refuses_without_a_prefect_server(tmp_path):
    """No PREFECT_API_URL and nothing at flows.prefect_api_url: one line saying what to start, exit 1,
    in seconds (no temporary server whose deployments would vanish with the process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DDIKG_", "PREFECT_API_URL"))}
    env |= {"PYTHONPATH": str(REPO), "DDIKG_HOME": str(tmp_path / "home"),
            "DDIKG_FLOWS__PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",
            "DDIKG_FLOWS__PREFECT_SERVER_WAIT_S": "1"}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "ddikg.cli", "deploy"], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "no Prefect server at" in errors[0] and "export PREFECT_API_URL=" in errors[0]
    assert "Traceback" not in proc.stderr and time.monotonic() - t0 < 60
    env["PREFECT_API_URL"] = env.pop("DDIKG_FLOWS__PREFECT_API_URL")  # given, but nothing answers there
    proc = subprocess.run([sys.executable, "-m", "ddikg.cli", "deploy"], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 1 and f"no Prefect server at {env['PREFECT_API_URL']} (PREFECT_API_URL)" in proc.stderr
