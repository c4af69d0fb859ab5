"""Contract outputs are as open as the umask says (the atomic temp file must not leave them 0600)."""

from __future__ import annotations

import os
import stat

import pytest

from ddikg.jsonl import current_umask, write_jsonl


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_write_jsonl_respects_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        assert current_umask() == umask
        path = tmp_path / "out.jsonl"
        write_jsonl(path, [{"a": 1}])
        plain = tmp_path / "plain.txt"
        plain.write_text("x")  # what open() makes under the same umask
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~umask
