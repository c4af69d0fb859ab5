"""benchmarks.step_ops counts a training step's operators by phase, RNN calls as cuDNN makes them."""

from __future__ import annotations

import json

from benchmarks.step_ops import main


def test_counts_every_phase_and_the_hot_path_has_no_index_put(conll_like, tmp_path, capsys):
    train, _ = conll_like
    out = main(["--encoder", "tiny", "--train", str(train), "--steps", "2", "--out", str(tmp_path / "ops.json")])
    assert json.loads((tmp_path / "ops.json").read_text(encoding="utf-8")) == out
    ops = out["ops_per_step"]
    assert all(ops[p] > 0 for p in ("forward", "backward", "optimizer"))
    assert ops["total"] == round(ops["forward"] + ops["backward"] + ops["optimizer"], 1)
    # fusion BiLSTM and SEA BiGRU, two directions each: one call apiece, not one per time step
    assert out["rnn_calls_per_step"] == {"forward": 4, "backward": 4}
    assert not any(k.startswith(("sigmoid", "tanh")) for phase in out["top"].values() for k in phase)
    # advanced indexing's backward (index_put with accumulation) sorts its indexes on CUDA: the model
    # reads by index_select / gather instead
    assert out["index_put_per_step"] == 0
    assert "operators per step" in capsys.readouterr().out
