"""A crawl that gets nothing fails its Prefect task, so the task's retries fire (a real Prefect run)."""

from __future__ import annotations

import pytest

from ddikg.config import load_settings


def test_a_crawl_with_nothing_crawled_fails_the_task_and_its_retries_fire(ddikg_home, tmp_path):
    from prefect import flow

    from ddikg.crawler.api import NothingCrawled
    from ddikg.crawler.fixture_site.server import FixtureSite, fixture_profile_path
    from ddikg.flows.tasks import crawl_task

    with FixtureSite() as site:
        settings = load_settings(home=ddikg_home, crawl={"download_delay": 0.0, "autothrottle": False,
                                                         "retry_times": 0, "profile": str(fixture_profile_path())})

        @flow(name="crawl-retries-test")
        def one_crawl():
            task = crawl_task.with_options(retries=2, retry_delay_seconds=0)
            return task(settings, tmp_path / "raw.jsonl", base_url=site.base_url, drug_ids=["no-such-drug"])

        with pytest.raises(NothingCrawled, match="nothing crawled: 0 drugs"):
            one_crawl()
        assert site.fetched(site.drug_path("no-such-drug")) == 3  # the first try and both retries
