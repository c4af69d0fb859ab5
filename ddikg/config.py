"""One typed configuration for the whole pipeline.

Sources, highest priority first:

1. keyword arguments to :func:`load_settings` (what a CLI option or a flow parameter says);
2. environment: ``DDIKG_<FIELD>`` and ``DDIKG_<SECTION>__<FIELD>`` (e.g. ``DDIKG_HOME``,
   ``DDIKG_CRAWL__DOWNLOAD_DELAY``), and the Neo4j conventions ``NEO4J_URI``, ``NEO4J_USER``,
   ``NEO4J_PASSWORD``, ``NEO4J_DATABASE``;
3. a TOML file: ``$DDIKG_CONFIG``, else ``./ddikg.toml`` when present (see ``docs/configuration.md``);
4. the defaults below.

``NEO4J_URI`` unset means the embedded FalkorDB server started by ``ddikg graph start``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class GraphSettings(BaseModel):
    # Real Neo4j 5 (official driver). When unset, the embedded FalkorDB server is used.
    neo4j_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr | None = None
    neo4j_database: str | None = None
    # Embedded FalkorDB (native protocol through the official `falkordb` client; never its Bolt port).
    host: str = "127.0.0.1"
    port: int = 6391
    password: SecretStr | None = None  # generated and kept in <home>/graph/password when unset
    graph: str = "ddikg"
    batch_size: int = Field(default=5000, ge=1)
    # kg_loader: what a loadable name/sentence may be, and how often a transient failure is retried.
    max_name_length: int = Field(default=100, ge=1)
    max_evidence_length: int = Field(default=2000, ge=1)
    retries: int = Field(default=3, ge=0)
    # One load at a time per graph: a second load waits up to lock_wait_s for the first to commit;
    # the lock is a lease of lock_lease_s, renewed every third of it while the load runs, so a loader
    # that dies frees the graph after at most that long.
    lock_wait_s: float = Field(default=900.0, ge=0.0)
    lock_lease_s: float = Field(default=30.0, gt=0.0)

    @property
    def uses_neo4j(self) -> bool:
        return bool(self.neo4j_uri)


class CrawlSettings(BaseModel):
    profile: Path | None = None  # site profile TOML; None = the packaged Yimaitong profile
    user_agent: str = "ddikg-crawler/0.1 (+https://github.com/ddikg/ddikg; drug-interaction research)"
    contact: str = ""  # an e-mail or URL appended to the User-Agent so a site operator can reach you
    download_delay: float = Field(default=2.0, ge=0.0)
    concurrency_per_domain: int = Field(default=1, ge=1)
    obey_robots: bool = True
    autothrottle: bool = True
    # Root of the per-job Scrapy JOBDIRs (one sub-folder per crawl request: site, profile, seeds, ids);
    # default <home>/crawl/jobs
    jobdir: Path | None = None
    start_urls: list[str] = Field(default_factory=list)  # overrides the profile's category seeds
    drug_ids: list[str] = Field(default_factory=list)  # crawl just these drug pages
    max_pages: int = Field(default=0, ge=0)  # 0 = no limit
    # On the site's rate-limit/captcha page: widen the delay to this many seconds and retry this many
    # times, then stop the crawl cleanly (resumable). Captchas are never solved.
    rate_limit_backoff: float = Field(default=60.0, ge=0.0)
    rate_limit_retries: int = Field(default=2, ge=0)
    retry_times: int = Field(default=3, ge=0)  # transient HTTP errors (429/503/...), timeouts, truncated pages
    download_timeout: float = Field(default=30.0, gt=0.0)
    # 429/503 back-off: Retry-After (seconds or HTTP date) when the site sends it, else exponential
    # (backoff_base * 2**retry, equal jitter) capped at backoff_max. A Retry-After beyond retry_after_max
    # stops the crawl (resumable, "rate_limited") instead of holding the crawl that long.
    backoff_http_codes: list[int] = Field(default_factory=lambda: [429, 503])
    backoff_base: float = Field(default=5.0, ge=0.0)
    backoff_max: float = Field(default=300.0, ge=0.0)
    retry_after_max: float = Field(default=900.0, ge=0.0)
    # Stop (resumable, "site_unreachable") after this many download attempts in a row failed to connect
    # or timed out with no answer from the site in between.
    unreachable_after: int = Field(default=6, ge=1)
    # Records are appended to the output as parsed (one write per line); fsync every N records (and at the end).
    fsync_every: int = Field(default=50, ge=0)


class ModelSettings(BaseModel):
    model_dir: Path | None = None  # the current checkpoint; default <home>/models/current
    encoder: str = "bert-base-chinese"  # any HF name or local path for training a new model
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    batch_size: int = Field(default=32, ge=1)


class FlowSettings(BaseModel):
    nightly_cron: str = "0 2 * * *"
    timezone: str = "Asia/Shanghai"
    retrain: bool = False
    # build-kg: the site to crawl (None = the crawler's site profile) and how models are (re)trained.
    base_url: str | None = None
    train_data: Path | None = None  # CH-DDI training corpus; None = the repository's (ddikg.annotate.chddi)
    dev_data: Path | None = None  # validation corpus: epoch selection and promotion; None = the repository's dev split
    train_config: Path | None = None  # IserConfig JSON; None = ddikg.iser_model.presets.demo_config()
    retries: int = Field(default=2, ge=0)  # for the transient stages: crawl and load
    retry_delay_s: float = Field(default=10.0, ge=0.0)
    prefect_home: Path | None = None  # Prefect's local state; default <home>/prefect
    # `ddikg deploy` registers with $PREFECT_API_URL, else with a server answering here
    # (`prefect server start`'s default address), else refuses: served deployments need a lasting server
    prefect_api_url: str = "http://127.0.0.1:4200/api"
    prefect_server_wait_s: float = Field(default=60.0, ge=0.0)  # for a server that is still starting
    ephemeral_startup_timeout_s: int = Field(default=120, ge=1)
    demo_port: int = Field(default=8765, ge=1, le=65535)  # the fixture site stands in for Yimaitong here


class RunnerSettings(BaseModel):
    """Where build-kg's extract tasks run. The pending statements are cut into shards (a source drug's
    statements stay in one shard); each shard is one extract task, cached by its content and the model.

    In this process by default; ``dask_address`` sends the shards to an existing Dask cluster
    (``tcp://scheduler:8786``; its workers must see the ddikg home at the same path); ``workers`` >= 1
    starts a local Dask cluster of that many worker processes for the run.
    """

    dask_address: str | None = None
    workers: int = Field(default=0, ge=0)
    # shards a local Dask worker process runs at once. Torch's own threads come from the checkpoint's
    # `threads` (else 1: Dask's nanny sets OMP_NUM_THREADS=1): a process per core, one shard each
    threads_per_worker: int = Field(default=1, ge=1)
    shard_statements: int = Field(default=64, ge=1)  # statements per shard (the shard count follows)

    @property
    def kind(self) -> str:
        return "dask" if self.dask_address or self.workers else "in-process"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DDIKG_", env_nested_delimiter="__", extra="ignore")

    home: Path = Path("data")  # every run's files live under here
    graph: GraphSettings = Field(default_factory=GraphSettings)
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    flows: FlowSettings = Field(default_factory=FlowSettings)
    runner: RunnerSettings = Field(default_factory=RunnerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    # Derived locations: one layout, documented in docs/configuration.md.
    @property
    def raw_dir(self) -> Path:
        return self.home / "raw"

    @property
    def corpus_dir(self) -> Path:
        return self.home / "corpus"

    @property
    def triples_dir(self) -> Path:
        return self.home / "triples"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def model_dir(self) -> Path:
        return self.model.model_dir or self.models_dir / "current"

    @property
    def graph_dir(self) -> Path:
        return self.home / "graph"

    @property
    def crawl_jobdir(self) -> Path:
        return self.crawl.jobdir or self.home / "crawl" / "jobs"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"


def config_file() -> Path | None:
    env = os.environ.get("DDIKG_CONFIG")
    if env:
        p = Path(env)
        if not p.is_file():
            raise FileNotFoundError(f"DDIKG_CONFIG={env}: no such file")
        return p
    local = Path("ddikg.toml")
    return local if local.is_file() else None


_NEO4J_ENV = {"NEO4J_URI": "neo4j_uri", "NEO4J_USER": "neo4j_user", "NEO4J_PASSWORD": "neo4j_password",
              "NEO4J_DATABASE": "neo4j_database"}


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from defaults < TOML file < environment < ``overrides``."""
    settings = Settings(**overrides)
    neo4j = {field: os.environ[var] for var, field in _NEO4J_ENV.items() if os.environ.get(var)}
    if neo4j:
        settings.graph = settings.graph.model_copy(update={k: (SecretStr(v) if k == "neo4j_password" else v)
                                                           for k, v in neo4j.items()})
    return settings
