"""Checkpoint directories: a model saved in the Hugging Face layout (:mod:`ddikg.iser_model.pretrained`)
with its tokenizer. ``load_checkpoint`` reads every checkpoint written before ``save_pretrained`` existed:
the layout is the same.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from ddikg.iser_model.model import IserModel
from ddikg.iser_model.pretrained import dataset_name, deviations, model_card, write_card

__all__ = ["dataset_name", "deviations", "from_pretrained", "load_checkpoint", "model_card", "save_checkpoint",
           "write_card"]


def save_checkpoint(out_dir: str | Path, model: IserModel, tokenizer: PreTrainedTokenizerBase,
                    metrics: dict | None = None, note: str = "") -> Path:
    """A whole checkpoint: the model's ``save_pretrained`` with the tokenizer."""
    return model.save_pretrained(out_dir, tokenizer, metrics, note)


def from_pretrained(model_dir: str | Path, device: str | torch.device = "cpu") -> IserModel:
    return IserModel.from_pretrained(model_dir, device)


def load_checkpoint(model_dir: str | Path, device: str | torch.device = "cpu",
                    ) -> tuple[IserModel, PreTrainedTokenizerBase]:
    """The model (eval mode, on ``device``) and its tokenizer."""
    return IserModel.from_pretrained(model_dir, device), AutoTokenizer.from_pretrained(str(model_dir))
