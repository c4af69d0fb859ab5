"""The ISER model: encoder -> interactive fusion -> span features -> entity and relation classifiers.

Batch tensors (built by :mod:`ddikg.iser_model.batching`):
  input_ids, attention_mask (B, n)   subword ids incl. [CLS] at 0
  word_start, word_end, word_mask (B, W)   each word's subword range [start, end)
  spans (B, S, 2), span_mask (B, S)   candidate spans as word ranges [start, end), width <= k
  pairs (B, P, 2), pair_mask (B, P)   ordered (head, tail) indices into ``spans``
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ddikg.iser_model.config import IserConfig
from ddikg.iser_model.encoder import Encoder
from ddikg.iser_model.fusion import InteractiveFusion
from ddikg.iser_model.heads import EntityHead, RelationContext, RelationHead
from ddikg.iser_model.sea import SpanContext
from ddikg.iser_model.spans import RangeMax, all_span_maxpool, gather_spans, word_pool


@dataclass
class Encoded:
    """Per-sentence features shared by every span and pair of the batch."""

    x_b: torch.Tensor  # (B, n, d) encoder output
    h: torch.Tensor  # (B, n, d) fused representation H (X_b without fusion)
    mask: torch.Tensor  # (B, n) bool, real subword positions
    word_start: torch.Tensor  # (B, W)
    word_end: torch.Tensor  # (B, W)
    word_mask: torch.Tensor  # (B, W)
    h_words: torch.Tensor  # (B, W, d) H max-pooled per word
    span_pool: torch.Tensor  # (B, W, k, d) max-pool of every span
    max_n: int | None = None  # RangeMax tables built for any length up to this (under torch.compile)
    # built on first use, by the relation-context variant that needs them. Not functools.cached_property:
    # its lock stops torch.compile's tracing (a graph break that left the relation context eager)
    _memo: dict = field(default_factory=dict, repr=False)

    def _once(self, key: str, make: Callable[[], object]):
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    @property
    def h_words_max(self) -> RangeMax:
        return self._once("h_words_max", lambda: RangeMax(self.h_words, self.max_n))

    @property
    def xb_words_max(self) -> RangeMax:
        return self._once("xb_words_max", lambda: RangeMax(
            word_pool(self.x_b, self.word_start, self.word_end, self.max_n), self.max_n))

    @property
    def h_global(self) -> torch.Tensor:  # (B, d)
        return self._once("h_global", lambda: _masked_max(self.h, self.mask))

    @property
    def xb_global(self) -> torch.Tensor:  # (B, d)
        return self._once("xb_global", lambda: _masked_max(self.x_b, self.mask))


def _masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return x.masked_fill(~mask[..., None], torch.finfo(x.dtype).min).amax(1)


class IserModel(nn.Module):
    def __init__(self, cfg: IserConfig, encoder: Encoder):
        super().__init__()
        if not cfg.entity_types or not cfg.relation_types:
            raise ValueError("IserConfig.entity_types and relation_types must be set before building a model")
        positions = getattr(encoder.transformer.config, "max_position_embeddings", None)
        if positions is not None and cfg.max_length > positions:
            raise ValueError(f"max_length={cfg.max_length} exceeds the encoder's {positions} position embeddings "
                             f"({cfg.encoder}); lower max_length (longer input is cut)")
        self.cfg = cfg
        self.encoder = encoder
        d = encoder.d
        if d % 2:
            raise ValueError(f"encoder hidden size {d} must be even")
        for ffn in (encoder.ffn_e, encoder.ffn_r):
            ffn.net[2].p = cfg.dropout if cfg.ffn_dropout else 0.0  # IserConfig.ffn_dropout (not in Eq. 1-2)
            if cfg.init == "scaled":
                ffn.init_scaled()
        self.fusion = InteractiveFusion(d, cfg.fusion_residual, cfg.fusion_skip) if cfg.fusion else None
        self.width = nn.Embedding(cfg.max_span_width + 1, cfg.width_embedding)
        self.span_context = None if cfg.entity_context == "cls" else SpanContext(
            d, cfg.sea_heads, cfg.dropout, attention=cfg.entity_context == "sea", chunk=cfg.span_chunk,
            scale=cfg.sea_scale, out_proj=cfg.sea_out_proj)
        self.relation_context = RelationContext(d, cfg.relation_context)
        self.entity_head = EntityHead(d, cfg.width_embedding, len(cfg.entity_types), cfg.dropout)
        self.relation_head = RelationHead(d, cfg.width_embedding, len(cfg.relation_types), cfg.dropout)

    # ------------------------------------------------------------------ features
    def save_pretrained(self, save_directory: str | Path, tokenizer=None, metrics: dict | None = None,
                        note: str = "", datasets: list[str] | None = None, split: str = "validation") -> Path:
        """Hugging Face layout: ``model.safetensors``, ``config.json`` and a model card (see pretrained.py)."""
        from ddikg.iser_model.pretrained import save_pretrained

        return save_pretrained(self, save_directory, tokenizer, metrics, note, datasets, split)

    @classmethod
    def from_pretrained(cls, model_dir: str | Path, device: str | torch.device = "cpu") -> IserModel:
        """The model saved in ``model_dir`` (by :meth:`save_pretrained` or any earlier checkpoint), in eval mode."""
        from ddikg.iser_model.pretrained import read_pretrained

        cfg, encoder, state = read_pretrained(model_dir)
        model = cls(cfg, encoder)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:  # missing/unexpected keys, or shapes that do not fit config.json
            raise ValueError(f"{model_dir}/model.safetensors: the weights do not fit its config.json: "
                             f"{str(exc).splitlines()[0]}") from None
        return model.to(device).eval()

    def encode(self, batch: dict[str, torch.Tensor]) -> Encoded:
        mask, lengths = batch["attention_mask"].bool(), batch.get("lengths")  # lengths: (B,) host
        x_b, x_e, x_r = self.encoder(batch["input_ids"], batch["attention_mask"], lengths)
        h = self.fusion(x_b, x_e, x_r, mask, lengths) if self.fusion is not None else x_b  # (B, n, d)
        h = h * mask[..., None]
        # compiled: range-max tables of a fixed depth, so that no length needs a graph of its own
        max_n = self.cfg.max_length if torch.compiler.is_compiling() else None
        h_words = word_pool(h, batch["word_start"], batch["word_end"], max_n)  # (B, W, d)
        return Encoded(x_b=x_b, h=h, mask=mask, word_start=batch["word_start"], word_end=batch["word_end"],
                       word_mask=batch["word_mask"].bool(), h_words=h_words,
                       span_pool=all_span_maxpool(h_words, self.cfg.max_span_width), max_n=max_n)

    def span_features(self, enc: Encoded, spans: torch.Tensor, span_mask: torch.Tensor,
                      span_index: torch.Tensor | None = None, span_lengths: torch.Tensor | None = None):
        """s (Eq. 6), width embedding w and context c of each span.  spans: (B, S, 2) -> 3 x (B, S, ·)

        ``span_index`` (N, 2) = span_mask.nonzero() and ``span_lengths`` (N,) host, as the collate
        functions supply them, spare the device syncs of computing them here."""
        s = gather_spans(enc.span_pool, spans)  # (B, S, d)
        width = (spans[..., 1] - spans[..., 0]).clamp(0, self.cfg.max_span_width)
        w = self.width(width)  # (B, S, wd)
        if self.span_context is None:  # SEA -> CLS
            c = enc.x_b[:, :1].expand_as(s)
        else:
            b, j = (span_mask.nonzero() if span_index is None else span_index).unbind(1)  # valid spans: (N,)
            sub_start = enc.word_start[b, spans[b, j, 0]]
            sub_end = enc.word_end[b, spans[b, j, 1] - 1]
            flat = self.span_context(enc.h, enc.mask, b, sub_start, sub_end, span_lengths)  # (N, d)
            B, S, d = s.shape
            # index_copy, not c[b, j] = flat: its backward is one index_select, no index_put
            c = flat.new_zeros(B * S, d).index_copy(0, b * S + j, flat).view(B, S, d).to(s.dtype)
        return s, w, c

    def entity_logits(self, s, w, c) -> torch.Tensor:
        return self.entity_head(s, w, c)  # (B, S, 1 + E)

    def relation_logits(self, enc: Encoded, spans: torch.Tensor, s: torch.Tensor, w: torch.Tensor,
                        pairs: torch.Tensor) -> torch.Tensor:
        """pairs: (B, P, 2) indices into the span axis -> (B, P, R) logits."""
        sw = torch.cat([s, w.to(s.dtype)], -1)  # (B, S, d + wd)
        B, P, _ = pairs.shape
        idx = pairs.clamp(min=0).reshape(B, 2 * P, 1)  # head, tail, head, tail, ...: one gather reads both
        head, tail = sw.gather(1, idx.expand(-1, -1, sw.shape[-1])).view(B, P, 2, -1).unbind(2)  # (B, P, d + wd)
        head_spans, tail_spans = spans.gather(1, idx.expand(-1, -1, 2)).view(B, P, 2, 2).unbind(2)  # (B, P, 2)
        ctx = self.relation_context(enc, head_spans, tail_spans).to(head.dtype)  # (B, P, d)
        return self.relation_head(head, ctx, tail)

    # ------------------------------------------------------------------ training
    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.encode(batch)
        s, w, c = self.span_features(enc, batch["spans"], batch["span_mask"].bool(), batch.get("span_index"),
                                     batch.get("span_lengths"))
        ent = self.entity_logits(s, w, c)
        rel = self.relation_logits(enc, batch["spans"], s, w, batch["pairs"])
        return ent, rel

    def loss(self, batch: dict[str, torch.Tensor], denominators: tuple[torch.Tensor, torch.Tensor] | None = None,
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L = L_e + L_r (Eq. 15-17): CE averaged over the sampled spans; BCE-with-logits averaged over the
        relation types (``relation_loss="mean"``, as BCEWithLogits and SpERT reduce; "sum" adds them) and
        then over the sampled pairs.

        Returns the loss and its parts (detached tensors: reading them is the caller's sync to spend).
        Padding is masked out rather than indexed away: the same sums, without index_put in backward.
        ``denominators``: what the summed span and pair losses are divided by (default: this batch's real
        spans and pairs; data-parallel training passes the global batch's, ``distributed.py``)."""
        ent, rel = self(batch)
        span_mask, pair_mask = batch["span_mask"].bool(), batch["pair_mask"].bool()
        n_spans, n_pairs = denominators or (span_mask.sum(), pair_mask.sum().clamp(min=1))
        labels = batch["entity_labels"].masked_fill(~span_mask, -100)  # -100: cross_entropy's ignore_index
        l_e = nn.functional.cross_entropy(ent.flatten(0, 1).float(), labels.flatten(), ignore_index=-100,
                                          reduction="sum") / n_spans
        bce = nn.functional.binary_cross_entropy_with_logits(
            rel.float(), batch["relation_labels"].float(), reduction="none")  # (B, P, R)
        bce = bce.mean(-1) if self.cfg.relation_loss == "mean" else bce.sum(-1)  # (B, P)
        # averaged over the real pairs; 0 for a batch without any (where, not *: no 0 * inf of a padded pair)
        l_r = torch.where(pair_mask, bce, 0.0).sum() / n_pairs
        return l_e + l_r, {"loss_entity": l_e.detach(), "loss_relation": l_r.detach()}
