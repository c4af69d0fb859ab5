"""hostmem: freed tensor memory is reused instead of being unmapped and faulted in again."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# A 64 MiB tensor is freed, then a 48 MiB one is filled: how many pages did the second fault in?
CHURN = """
import resource, sys, torch
from ddikg.iser_model.hostmem import reuse_freed_memory
applied = reuse_freed_memory() if sys.argv[1] == "reuse" else False
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
x = torch.empty(16 * 2**20).fill_(1.0)
del x
before = faults()
y = torch.empty(12 * 2**20).fill_(1.0)
print(applied, faults() - before)
"""


def _churn(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True)
    applied, faults = out.stdout.split()
    return applied, int(faults)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt settings are glibc's")
def test_reuse_freed_memory_avoids_page_faults():
    pages = 48 * 2**20 // 4096  # 12,288 pages of 4 KiB in the second tensor
    applied, faults = _churn("reuse")
    assert applied == "True"
    assert faults < pages // 10, f"{faults} page faults: the freed 64 MiB block was not reused"
    # the control: glibc's default unmaps the freed block and the new tensor faults every page in
    applied, faults = _churn("system")
    assert applied == "False"
    assert faults >= pages * 0.9


def test_reuse_left_alone_off_glibc(monkeypatch):
    from ddikg.iser_model import hostmem

    monkeypatch.setattr(hostmem, "_applied", False)
    monkeypatch.setattr(hostmem.platform, "libc_ver", lambda: ("", ""))
    assert hostmem.reuse_freed_memory() is False  # not glibc: left alone


def test_configure_host_applies_reuse_only_on_cpu_when_asked(monkeypatch):
    import torch

    from ddikg.iser_model import inference

    calls = []
    monkeypatch.setattr(inference, "reuse_freed_memory", lambda: calls.append(1) or True)
    inference.configure_host(torch.device("cpu"), None)  # the trainer's default: glibc left alone
    inference.configure_host(torch.device("meta"), None, reuse_memory=True)  # not host tensors
    assert calls == []
    inference.configure_host(torch.device("cpu"), None, reuse_memory=True)
    assert calls == [1]


def test_reuse_host_memory_setting_is_validated():
    from pydantic import ValidationError

    from ddikg.iser_model.config import IserConfig

    assert IserConfig().reuse_host_memory == "inference"
    with pytest.raises(ValidationError, match="reuse_host_memory"):
        IserConfig(reuse_host_memory="sometimes")
