"""Randomly initialised BERT encoders for machines without pretrained weights.

Either from an existing tokenizer directory (a reduced copy of its ``config.json``, e.g. the
bert-base-chinese tokenizer) or from a character vocabulary built from the training corpus.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertModel, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from ddikg.iser_model.config import ScratchEncoder

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def char_vocab(documents: Iterable[list[str]], min_count: int = 1) -> list[str]:
    """Specials + every character seen at least ``min_count`` times, most frequent first (stable)."""
    counts: Counter[str] = Counter()
    for words in documents:
        for w in words:
            counts.update(c for c in w if not c.isspace())
    chars = sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c))
    return list(SPECIALS) + [c for c in chars if c not in SPECIALS]


def char_tokenizer(vocab: list[str]) -> PreTrainedTokenizerFast:
    """A BERT-style WordPiece tokenizer whose vocabulary is single characters (case kept: it is a feature)."""
    model = models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]", max_input_chars_per_word=100)
    tok = Tokenizer(model)
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                                lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def scratch_bert(tokenizer: PreTrainedTokenizerBase, spec: ScratchEncoder) -> BertModel:
    """A small BERT sized by ``spec`` over ``tokenizer``'s vocabulary, randomly initialised."""
    base = Path(spec.tokenizer) / "config.json"
    config = BertConfig.from_pretrained(str(base.parent)) if base.is_file() else BertConfig()
    config.update(dict(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size, num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads, intermediate_size=spec.intermediate_size,
        max_position_embeddings=spec.max_position, pad_token_id=tokenizer.pad_token_id or 0,
        hidden_dropout_prob=spec.dropout, attention_probs_dropout_prob=spec.dropout,
    ))
    return BertModel(config, add_pooling_layer=False)
