"""ddikg: Chinese drug-drug interaction knowledge graphs.

This package is the shared core every stage depends on: the stage contracts (:mod:`ddikg.contracts`),
JSONL reading and writing (:mod:`ddikg.jsonl`), the typed configuration (:mod:`ddikg.config`), the DDI
label set (:mod:`ddikg.labels`), CLI helpers (:mod:`ddikg.cliutil`) and the ``ddikg`` entry point
(:mod:`ddikg.cli`). The stages are its subpackages ``ddikg.crawler``, ``ddikg.annotate``,
``ddikg.iser_model``, ``ddikg.kg_loader`` and the orchestration ``ddikg.flows``; in a source checkout they
are the repository's top-level folders of those names, linked here.

Importing the core is cheap: it pulls in neither Prefect, torch nor Scrapy.
"""

__version__ = "0.2.0"
