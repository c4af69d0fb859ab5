"""benchmarks.optimizer_step: every AdamW implementation is timed on ISER's parameters."""

from __future__ import annotations

from tests.conftest import shared_path


def test_optimizer_step_times_each_implementation(capsys):
    shared_path("models", "minilm-l6-h384-uncased")
    shared_path("data", "conll04")
    from benchmarks.optimizer_step import main

    out = main(["--device", "cpu", "--steps", "1"])
    assert set(out) == {"default", "foreach", "fused"}
    assert all(ms > 0 for ms in out.values())
    assert "AdamW fused:" in capsys.readouterr().out
