"""The encoder (paper Eq. 1-2): a transformer giving X_b, and two FFN heads giving X_e and X_r.

Pretrained encoders load with ``AutoModel``/``AutoTokenizer`` from any HF name or local path;
``IserConfig.scratch`` builds a small random BERT instead (:mod:`ddikg.iser_model.scratch`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from ddikg.iser_model.config import IserConfig
from ddikg.iser_model.scratch import char_tokenizer, char_vocab, scratch_bert


def new_tokenizer(cfg: IserConfig, corpus: Iterable[list[str]] = ()) -> PreTrainedTokenizerBase:
    """The tokenizer a new model trains with (a char vocabulary needs the training ``corpus`` words)."""
    if cfg.scratch is None:
        return AutoTokenizer.from_pretrained(cfg.encoder)
    if cfg.scratch.tokenizer == "char":
        return char_tokenizer(char_vocab(corpus, cfg.scratch.min_char_count))
    return AutoTokenizer.from_pretrained(cfg.scratch.tokenizer)


def new_transformer(cfg: IserConfig, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """Pretrained weights (``from_pretrained``, float32 master weights) or a scratch BERT."""
    if cfg.scratch is None:
        return AutoModel.from_pretrained(cfg.encoder, dtype=torch.float32)
    return scratch_bert(tokenizer, cfg.scratch)


def transformer_from_config(config_dir: str | Path) -> PreTrainedModel:
    """The architecture saved in a checkpoint (weights come from model.safetensors)."""
    return AutoModel.from_config(AutoConfig.from_pretrained(str(config_dir)))


class FFN(nn.Module):
    """FFN(x) = ReLU(x W1 + b1) W2 + b2, width d -> d (Eq. 1-2). ``dropout`` > 0 puts a Dropout between the
    ReLU and W2 (IserConfig.ffn_dropout; not in Eq. 1-2); 0 leaves the equation as written."""

    def __init__(self, d: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def init_scaled(self) -> None:
        """Initialise so that FFN(x) has about the scale of x (IserConfig.init="scaled"): W1 with He's
        variance 2/d (ReLU keeps half), W2 with 1/d, zero biases. PyTorch's default (uniform ±1/√d) shrinks
        each layer's output by √3 and the ReLU by √2 more: X_e, X_r start ~4x smaller than X_b."""
        first, last = self.net[0], self.net[-1]
        d = first.in_features
        nn.init.normal_(first.weight, std=(2.0 / d) ** 0.5)
        nn.init.normal_(last.weight, std=(1.0 / d) ** 0.5)
        nn.init.zeros_(first.bias)
        nn.init.zeros_(last.bias)


class Encoder(nn.Module):
    def __init__(self, transformer: PreTrainedModel, dropout: float):
        super().__init__()
        if getattr(transformer, "pooler", None) is not None:
            transformer.pooler = None  # ISER reads token states only; an unused pooler would get no gradient
        self.transformer = transformer
        d = transformer.config.hidden_size
        self.d = d
        self.ffn_e = FFN(d, dropout)
        self.ffn_r = FFN(d, dropout)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, lengths: torch.Tensor | None = None):
        # input_ids, attention_mask: (B, n)  ->  X_b, X_e, X_r: (B, n, d); position 0 is [CLS]
        x_b = self.transformer(input_ids=input_ids, attention_mask=self._mask(attention_mask, lengths)
                               ).last_hidden_state
        return x_b, self.ffn_e(x_b), self.ffn_r(x_b)

    def _mask(self, attention_mask: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor | None:
        """The mask handed to the transformer. Given a 2D mask, transformers' SDPA path reads it back
        (``mask.all()``: a device sync on CUDA) to learn whether it may drop it, and then builds a 4D
        one. The host-side ``lengths`` (B,) already say whether any row is padded: none, no mask (SDPA may
        pick its fastest kernel); some, the padding as a (B, 1, 1, n) boolean mask, which transformers
        passes to SDPA as it is (every query row sees the real keys of its row, as with its own mask)."""
        if (lengths is None or lengths.device.type != "cpu" or torch.compiler.is_compiling()
                or getattr(self.transformer.config, "_attn_implementation", None) != "sdpa"):
            return attention_mask
        if lengths.numel() and int(lengths.min()) == attention_mask.shape[1]:  # the shortest row fills the width
            return None
        return attention_mask[:, None, None, :].bool()
