"""The deployments of build-kg: ``build-kg/nightly`` (cron, default 02:00 Asia/Shanghai) and
``build-kg/on-demand`` (no schedule; ``prefect deployment run 'build-kg/on-demand' --param retrain=true``).

:func:`serve_deployments` serves both from this process (``flow.serve`` style: no work pool needed);
the flow runs execute as subprocesses of it. For a work pool (process, Docker, Kubernetes) see
``docs/ddikg.flows.md``: the same :func:`deployments` objects go to ``flow.deploy`` there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ddikg.config import Settings

NIGHTLY = "nightly"
ON_DEMAND = "on-demand"


def deployments(settings: Settings, *, base_url: str | None = None, cron: str | None = None,
                timezone: str | None = None, parameters: dict[str, Any] | None = None,
                by_module: bool = False) -> list[Any]:
    """``RunnerDeployment``s for the two deployments of the build-kg flow.

    ``by_module`` names the flow by its module path (``ddikg.flows.build_kg.build_kg``) instead of this
    checkout's file: what a worker on another machine, with ddikg installed, can import.
    """
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from ddikg.flows.build_kg import build_kg

    params: dict[str, Any] = {"home": str(settings.home.resolve())}
    if base_url or settings.flows.base_url:
        params["base_url"] = base_url or settings.flows.base_url
    params.update(parameters or {})
    schedule = Cron(cron or settings.flows.nightly_cron, timezone=timezone or settings.flows.timezone)
    common: dict[str, Any] = {"entrypoint_type": EntrypointType.MODULE_PATH} if by_module else {}
    nightly = build_kg.to_deployment(
        name=NIGHTLY, schedules=[schedule], parameters=params, tags=["ddikg", "nightly"], **common,
        description="Nightly incremental refresh: crawl, re-extract what changed, refresh those drugs' edges.")
    on_demand = build_kg.to_deployment(
        name=ON_DEMAND, parameters=params, tags=["ddikg", "on-demand"], **common,
        description="Run build-kg now; --param retrain=true trains and promotes a model if it is not worse.")
    return [nightly, on_demand]


def serve_deployments(settings: Settings, *, limit: int | None = 1, on_ready: Callable[[], None] | None = None,
                      **kwargs: Any) -> None:
    """Register both deployments with the Prefect API and execute their runs until interrupted
    (KeyboardInterrupt) or SIGTERM (Prefect's runner then stops and returns).

    ``limit`` bounds concurrent runs: two build-kg runs on one home would race for the same files.
    ``on_ready`` is called once both are registered, before the first poll for runs.
    """
    import asyncio

    from prefect.runner import Runner

    runner = Runner(limit=limit)
    for d in deployments(settings, **kwargs):
        runner.add_deployment(d)  # registers it with the API
    if on_ready is not None:
        on_ready()
    asyncio.run(runner.start())


def deploy_to_pool(settings: Settings, work_pool: str, *, image: str | None = None, **kwargs: Any) -> list[Any]:
    """Register both deployments with a work pool (process, Docker, Kubernetes …) and return their ids.

    The pool's workers run the flow: ``prefect worker start --pool NAME`` on machines where ddikg is
    installed (process pool), or in ``image`` (Docker/Kubernetes pools; built and pushed by you, with
    ddikg installed). Nothing is built or pushed here.
    """
    from prefect import deploy

    return deploy(*deployments(settings, by_module=True, **kwargs), work_pool_name=work_pool, image=image,
                  build=False, push=False, print_next_steps_message=False)
