"""Prefect's environment for ddikg runs: local state under the data directory, offline, no telemetry.

Prefect reads its settings when it is first imported, so :func:`configure_prefect` must run before
``import prefect`` in a process (the CLI commands call it first thing). Variables the user already set
win: ``PREFECT_API_URL`` pointing at a real server turns the ephemeral server off.
"""

from __future__ import annotations

import os
import sys

from ddikg.config import Settings


def prefect_home(settings: Settings):
    return settings.flows.prefect_home or settings.home / "prefect"


def prefect_env(settings: Settings) -> dict[str, str]:
    """The variables a ddikg process (or a subprocess it starts) should run Prefect with."""
    env = {
        "PREFECT_HOME": str(prefect_home(settings).resolve()),
        # No usage statistics leave the machine, and nothing tries to reach Prefect Cloud.
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "INFO"),
    }
    if not os.environ.get("PREFECT_API_URL"):
        # Without a server, each process starts a temporary local one (SQLite under PREFECT_HOME);
        # on a busy 2-core machine its start can take longer than Prefect's 20 s default.
        env["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "true"
        env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = str(settings.flows.ephemeral_startup_timeout_s)
    return env


def configure_prefect(settings: Settings) -> None:
    """Export :func:`prefect_env` into this process, leaving variables the user set alone."""
    if "prefect" in sys.modules and not os.environ.get("PREFECT_HOME"):
        # Too late to move its state; say so rather than silently using ~/.prefect.
        import warnings

        warnings.warn("prefect was imported before configure_prefect(); its home stays at the default",
                      stacklevel=2)
    for key, value in prefect_env(settings).items():
        os.environ.setdefault(key, value)
    os.makedirs(os.environ["PREFECT_HOME"], exist_ok=True)


class NoPrefectServer(RuntimeError):
    """``ddikg deploy`` found no Prefect server to register its deployments with."""


def _healthy(api_url: str, timeout: float = 3.0) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as r:  # noqa: S310 (http URL from settings)
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def require_prefect_server(settings: Settings) -> str:
    """The API URL of a running Prefect server for deployments, exported as ``PREFECT_API_URL``.

    ``$PREFECT_API_URL`` if set, else ``settings.flows.prefect_api_url`` (where ``prefect server start``
    listens by default). A server still starting is waited for up to ``flows.prefect_server_wait_s``.
    Without one, Prefect would register the deployments with a temporary server that ends with this
    process, and ``prefect deployment run`` elsewhere would answer "Deployment not found": refuse instead.
    """
    import time

    given = os.environ.get("PREFECT_API_URL")
    url = given or settings.flows.prefect_api_url
    deadline = time.monotonic() + settings.flows.prefect_server_wait_s
    while not _healthy(url):
        if time.monotonic() >= deadline:
            how = ("PREFECT_API_URL" if given else
                   "PREFECT_API_URL is not set and nothing answers at flows.prefect_api_url")
            raise NoPrefectServer(
                f"no Prefect server at {url} ({how}): start one with `prefect server start` and "
                f"`export PREFECT_API_URL=http://127.0.0.1:4200/api` in every shell that runs ddikg or prefect")
        time.sleep(1.0)
    os.environ["PREFECT_API_URL"] = url
    os.environ.pop("PREFECT_SERVER_EPHEMERAL_ENABLED", None)  # a real server: no temporary one
    return url
