"""A local stand-in for the Yimaitong site (tests and the demo): ``FixtureSite`` and ``python -m ddikg.crawler.fixture_site``."""
