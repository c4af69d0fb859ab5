"""What every benchmark records beside its figures: the machine, its load, the code version."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SHARED = Path(os.environ.get("DDIKG_SHARED", REPO.parent / "shared"))

CONLL04 = SHARED / "data" / "conll04"
CMEIE = SHARED / "data" / "cmeie"
MINILM = SHARED / "models" / "minilm-l6-h384-uncased"
ZH_TOKENIZER = SHARED / "models" / "bert-base-chinese-tokenizer"


def need(path: Path) -> Path:
    """``path`` or a clear error naming it (benchmarks read ../shared; tests pass their own data)."""
    if not path.exists():
        raise SystemExit(f"{path} is missing: the benchmark needs ../shared (set DDIKG_SHARED) or explicit paths")
    return path


def git_commit() -> str | None:
    if os.environ.get("DDIKG_COMMIT"):  # a copied tree without .git (e.g. a GPU machine) says its commit
        return os.environ["DDIKG_COMMIT"]
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine(device: str) -> dict:
    """Host, accelerator and load at measurement time (the CPU is shared, so the load qualifies figures)."""
    import torch

    info = {
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "device": device,
        "gpu": None,
        "commit": git_commit(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    info["cpu_model"] = cpu_model()
    info["host_op_us"] = host_op_us()
    return info


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def host_op_us(ops: int = 2000, repeats: int = 5) -> float:
    """Microseconds per small eager CPU operator (Python call plus torch dispatch), best of ``repeats``: an
    index of the host's speed. A batch-2 GPU training step is bound by the host issuing ~900 operators,
    and lent GPU machines differ there: the same commit ran 11.6 and 19 s per epoch on two H200s."""
    import time

    import torch

    a, b = torch.ones(8), torch.ones(8)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(ops):
            torch.add(a, b)
        best = min(best, time.perf_counter() - t0)
    return round(best / ops * 1e6, 3)


def device_label(info: dict, load: bool = True) -> str:
    """"NVIDIA H100 ..." or "CPU (2 cores, 2 torch threads, load 3.1)" (1-minute load average at the start)."""
    if info.get("gpu"):
        return str(info["gpu"])
    text = f"CPU ({info.get('cpu_count')} cores, {info.get('torch_threads')} torch threads"
    return text + (f", load {info.get('load_average', ['?'])[0]})" if load else ")")


def write_json(path: Path, payload: dict) -> Path:
    """Write atomically, so an interrupted run never leaves a half result that resuming would trust."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
