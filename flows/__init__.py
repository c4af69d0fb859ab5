"""Orchestration: the Prefect flow ``build-kg``, its tasks and deployments, on top of the stages.

Nothing below imports this package: the stages and the core (:mod:`ddikg`) never depend on it.
"""
