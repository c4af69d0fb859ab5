"""training_curves.png reads without the code: labelled axes, whole-number epochs, the kept epoch marked."""

from __future__ import annotations

import matplotlib.pyplot as plt

from ddikg.iser_model.trainer import curves_figure, plot_curves

ROWS = [{"epoch": e, "loss": 1.0 / e} | ({"val_ner_f1": 0.1 * e, "val_re_f1": 0.05 * e} if e % 2 == 0 else {})
        for e in range(1, 8)]


def test_curves_have_labels_integer_epochs_and_the_kept_epoch(tmp_path):
    fig = curves_figure(ROWS, best_epoch=6)
    loss, dev = fig.axes
    assert loss.get_ylabel() and dev.get_ylabel() == "micro F1 (0-1)" and dev.get_xlabel() == "epoch"
    for ax in (loss, dev):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        marks = [line for line in ax.get_lines() if list(line.get_xdata()) == [6, 6]]
        assert len(marks) == 1  # the kept epoch, on both panels
    assert "kept: epoch 6" in [t.get_text() for t in dev.get_legend().get_texts()]
    assert loss.get_xlim() == dev.get_xlim()  # one epoch axis for both panels
    plt.close(fig)
    plot_curves(ROWS, tmp_path / "c.png", 6)
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
