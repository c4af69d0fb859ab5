"""The sample CH-DDI corpus shipped with ddikg (a small sample written for the project, not the paper's CH-DDI).

``SAMPLE_TRAIN`` / ``SAMPLE_TEST`` are :mod:`importlib.resources` traversables; use them with
``importlib.resources.as_file`` where a real path is needed (they are plain files in a normal install).
Split by drug: the statements of the test drugs (``sample_source.TEST_DRUGS``) are not in train.
Regenerate with ``python -m ddikg.annotate.sample_source``.
"""

from __future__ import annotations

from importlib import resources

SAMPLE_DIR = resources.files("ddikg.annotate") / "data" / "sample"
SAMPLE_TRAIN = SAMPLE_DIR / "train.jsonl"
SAMPLE_TEST = SAMPLE_DIR / "test.jsonl"
LABELSTUDIO_CONFIG = resources.files("ddikg.annotate") / "data" / "labelstudio_config.xml"
