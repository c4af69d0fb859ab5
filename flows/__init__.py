"""ddikg pipeline spine: stage contracts, configuration, the ``ddikg`` CLI and the Prefect flows.

Importing this package is cheap (no Prefect, torch or Scrapy): stages import its contracts and
configuration; only :mod:`flows.build_kg` and friends import Prefect.
"""

__version__ = "0.1.0"
