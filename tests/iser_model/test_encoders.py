"""Encoder construction: the char-vocabulary scratch encoder, a reduced copy of a tokenizer's config,
the subword -> word map with a real WordPiece tokenizer, the demo preset's independence of ../shared,
and the attention mask handed to the transformer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ddikg.contracts import SpanDocument
from ddikg.iser_model.batching import prepare
from ddikg.iser_model.config import IserConfig, ScratchEncoder
from ddikg.iser_model.encoder import new_tokenizer, new_transformer
from ddikg.iser_model.presets import demo_config

from ..conftest import shared_path
from .helpers import DOCS, tiny_model


def test_char_vocabulary_tokenizer_maps_each_character_and_keeps_case():
    cfg = IserConfig(scratch=ScratchEncoder(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                                            min_char_count=2))
    tok = new_tokenizer(cfg, [list("阿司匹林AB阿司匹林"), list("林 a")])
    assert tok.tokenize("阿司") == ["阿", "司"] and tok.tokenize("B") == ["[UNK]"]  # seen once -> [UNK]
    model = new_transformer(cfg, tok)
    assert model.config.hidden_size == 16 and model.config.vocab_size == len(tok)


def test_reduced_copy_of_the_bert_base_chinese_config():
    path = shared_path("models", "bert-base-chinese-tokenizer")
    cfg = IserConfig(scratch=ScratchEncoder(tokenizer=str(path), hidden_size=32, num_layers=1, num_heads=2,
                                            intermediate_size=64))
    tok = new_tokenizer(cfg)
    model = new_transformer(cfg, tok)
    assert model.config.vocab_size == 21128 and model.config.hidden_size == 32
    assert model.config.num_hidden_layers == 1 and model.config.type_vocab_size == 2


def test_subword_to_word_map_with_a_wordpiece_tokenizer():
    path = shared_path("models", "minilm-l6-h384-uncased")
    tok = new_tokenizer(IserConfig(encoder=str(path)))
    doc = SpanDocument.model_validate({"tokens": ["Unbelievably", " ", "Wilkes", "Booth", "."],
                                       "entities": [{"type": "Peop", "start": 2, "end": 4}]})
    (item,), stats = prepare([doc], tok, 512, 10, ["Peop"], [])
    pieces = tok.convert_ids_to_tokens(item.input_ids.tolist())
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"
    for w, word in enumerate(doc.tokens):  # every word maps to a non-empty, contiguous subword range
        got = "".join(p.removeprefix("##") for p in pieces[item.word_start[w]:item.word_end[w]])
        assert got == (word.lower() if word.strip() else "[UNK]")
    assert np.all(item.word_end[:-1] == item.word_start[1:])
    (short,), stats = prepare([doc], tok, 6, 10, ["Peop"], [])  # cut after the words that fit
    assert stats.truncated_documents == 1 and len(short.input_ids) <= 6 and short.n_words < 5


def test_demo_preset_needs_nothing_from_shared():
    cfg = demo_config()
    assert cfg.scratch is not None and cfg.scratch.tokenizer == "char"
    assert "shared" not in cfg.to_json()
    assert IserConfig.from_json(cfg.to_json()) == cfg  # JSON round trip


def test_max_length_past_the_position_embeddings_is_refused():
    """A CMeIE sentence of 261 characters crashed a scratch encoder with 256 positions inside
    transformers; the configuration (scratch) or the model (pretrained) now refuses it up front."""
    import pytest

    from ddikg.iser_model.encoder import Encoder
    from ddikg.iser_model.model import IserModel

    with pytest.raises(ValueError, match="max_length=512 exceeds scratch.max_position=256"):
        IserConfig(scratch=ScratchEncoder(max_position=256))
    cfg = IserConfig(scratch=ScratchEncoder(tokenizer="char", hidden_size=16, num_layers=1, num_heads=2,
                                            intermediate_size=32, max_position=64), max_length=64,
                     entity_types=["drug"], relation_types=["协同"])
    tok = new_tokenizer(cfg, [["阿司匹林"]])
    transformer = new_transformer(cfg, tok)
    IserModel(cfg, Encoder(transformer, 0.0))  # fits
    with pytest.raises(ValueError, match="max_length=65 exceeds the encoder's 64 position embeddings"):
        IserModel(cfg.model_copy(update={"max_length": 65}), Encoder(transformer, 0.0))


@pytest.mark.parametrize("rows", [[0, 1], [1], [0, 0]], ids=["padded", "one row", "equal lengths"])
def test_the_transformer_gets_the_padding_from_the_host_lengths(rows):
    """With the host-side lengths the SDPA transformer gets no mask when no row is padded, else the
    padding as a 4D boolean mask, which transformers uses as it is instead of reading the 2D mask back
    from the device (a sync per step on CUDA); the token states equal those of the 2D mask exactly."""
    model, tok = tiny_model()
    model.eval()
    cfg = model.cfg
    items, _ = prepare(DOCS, tok, cfg.max_length, cfg.max_span_width, cfg.entity_types, cfg.relation_types)
    from ddikg.iser_model.batching import collate_infer

    batch = collate_infer([items[i] for i in rows], tok.pad_token_id, cfg.max_span_width)
    seen = []
    hook = model.encoder.transformer.register_forward_pre_hook(
        lambda mod, args, kwargs: seen.append(kwargs["attention_mask"]), with_kwargs=True)
    with torch.no_grad():
        plain = model.encoder(batch["input_ids"], batch["attention_mask"])
        hosted = model.encoder(batch["input_ids"], batch["attention_mask"], batch["lengths"])
    hook.remove()
    assert seen[0].dim() == 2
    padded = batch["lengths"].min() < batch["lengths"].max()
    if padded:
        assert seen[1].shape == (len(rows), 1, 1, batch["input_ids"].shape[1]) and seen[1].dtype == torch.bool
    else:
        assert seen[1] is None
    for a, b in zip(plain, hosted, strict=True):
        assert torch.equal(a, b)
