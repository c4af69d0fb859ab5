"""CLI of the crawl stage: ``ddikg crawl`` and ``ddikg fixture-site``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ddikg.cliutil import console, fail


def register(app: typer.Typer) -> None:
    @app.command("crawl")
    def crawl(
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Raw JSONL (default <home>/raw/drugs.jsonl).")] = None,
        base_url: Annotated[str | None, typer.Option("--base-url", help="Override the profile's site URL.")] = None,
        start_url: Annotated[list[str] | None, typer.Option("--start-url", help="Listing or drug URL (repeatable).")] = None,
        drug_id: Annotated[list[str] | None, typer.Option("--drug-id", help="Crawl just this drug page (repeatable).")] = None,
        profile: Annotated[Path | None, typer.Option("--profile", help="Site profile TOML.")] = None,
        jobdir: Annotated[Path | None, typer.Option("--jobdir", help="Root of the per-job Scrapy JOBDIRs (default <home>/crawl/jobs).")] = None,
        delay: Annotated[float | None, typer.Option("--delay", help="Seconds between requests to the site.")] = None,
        contact: Annotated[str | None, typer.Option("--contact", help="E-mail/URL added to the User-Agent.")] = None,
        max_pages: Annotated[int | None, typer.Option("--max-pages", help="Stop (resumably) after N pages.")] = None,
        no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress display.")] = False,
    ) -> None:
        """Crawl drug instructions into raw drug records (JSONL), politely and incrementally.

        Rerun the same command to resume a crawl the site stopped (rate limit) or that was interrupted.
        Exit codes: 0 crawled (also when stopped resumably by the site or --max-pages), 1 configuration
        error or crash, 3 pages lost after retries, 4 nothing crawled or the site unreachable.
        """
        from ddikg.config import load_settings
        from ddikg.crawler.api import CrawlError, CrawlIncomplete, run_crawl
        from ddikg.crawler.profile import ProfileError
        from ddikg.crawler.progress import summary_table
        from ddikg.crawler.scrapy_config import default_out

        settings = load_settings()
        updates = {k: v for k, v in {"profile": profile, "jobdir": jobdir, "download_delay": delay,
                                     "contact": contact, "max_pages": max_pages}.items() if v is not None}
        if updates:
            from pydantic import ValidationError

            try:
                settings.crawl = settings.crawl.model_validate(settings.crawl.model_dump() | updates)
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                option = {"download_delay": "delay"}.get(str(first["loc"][0]), str(first["loc"][0]))
                fail(f"--{option.replace('_', '-')}: {first['msg']}")
        target = out or default_out(settings)
        if target.is_dir():  # found out at the end of a crawl otherwise, when the records are written
            fail(f"--out {target}: is a directory; give the JSONL file to write, e.g. {target / 'drugs.jsonl'}")
        try:
            summary = run_crawl(settings, target, base_url=base_url, start_urls=start_url or None,
                                drug_ids=drug_id or None, progress=not no_progress)
        except CrawlIncomplete as exc:
            console.print(summary_table(exc.summary))
            fail(str(exc), code=exc.exit_code)
        except (ProfileError, CrawlError) as exc:
            fail(str(exc))
        console.print(summary_table(summary))
        if summary.stopped_reason:
            console.print(f"[yellow]crawl stopped: {summary.stopped_reason}; run the same command later to resume.[/]")

    @app.command("fixture-site")
    def fixture_site(
        port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0 = any free port).")] = 8765,
        host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
        page_size: Annotated[int, typer.Option("--page-size", help="Drugs per listing page.")] = 4,
        content: Annotated[Path | None, typer.Option("--content", help="drugs.jsonl to serve.")] = None,
    ) -> None:
        """Serve the fixture site standing in for Yimaitong (for the demo; Ctrl-C stops it)."""
        from ddikg.crawler.fixture_site.server import FixtureSite, fixture_profile_path

        try:
            site = FixtureSite(content, host=host, port=port, page_size=page_size)
        except (OSError, ValueError) as exc:
            fail(f"cannot start the fixture site: {exc}")
        console.print(f"fixture site on [bold]{site.base_url}[/] ({len(site.drugs)} drugs, "
                      f"{len(site.categories())} categories); crawl it with "
                      f"`ddikg crawl --base-url {site.base_url} --profile {fixture_profile_path()}`")
        try:
            site.serve_forever()
        except KeyboardInterrupt:
            pass
