"""The CH-DDI corpus shipped with ddikg (``annotate/data/chddi``, written for the project; see its README).

``CHDDI_TRAIN`` / ``CHDDI_DEV`` / ``CHDDI_TEST`` are :mod:`importlib.resources` traversables; use them with
``importlib.resources.as_file`` where a real path is needed (they are plain files in a normal install).
Split by drug: train to fit, dev (validation drugs carved from the training ones) to select epochs and
promote models, test only to report. Rebuild with ``python -m ddikg.annotate.corpus``.
"""

from __future__ import annotations

from importlib import resources

CHDDI_DIR = resources.files("ddikg.annotate") / "data" / "chddi"
CHDDI_TRAIN = CHDDI_DIR / "train.jsonl"
CHDDI_DEV = CHDDI_DIR / "dev.jsonl"
CHDDI_TEST = CHDDI_DIR / "test.jsonl"
LABELSTUDIO_CONFIG = resources.files("ddikg.annotate") / "data" / "labelstudio_config.xml"
