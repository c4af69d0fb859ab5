"""Ready-made configurations."""

from __future__ import annotations

from iser_model.config import IserConfig, ScratchEncoder


def demo_config() -> IserConfig:
    """Scratch encoder over a character vocabulary of the training corpus: trains on the repository's
    CH-DDI sample corpus on 2 CPU cores within the demo's time budget, with no pretrained weights."""
    return IserConfig(
        model_id="iser-demo",
        scratch=ScratchEncoder(tokenizer="char", hidden_size=128, num_layers=2, num_heads=4, intermediate_size=256),
        max_span_width=12, width_embedding=25, sea_heads=4, dropout=0.1, fusion_residual=True,
        neg_entities=50, neg_relations=50, lr=1e-3, warmup=0.1, epochs=12, batch_size=8, eval_batch_size=32,
        eval_every=4, max_seconds=140.0, device="auto", threads=1,
    )


def tiny_config(**overrides) -> IserConfig:
    """A small scratch model for tests and smoke runs (fits 20 sentences in a few hundred CPU steps)."""
    base = dict(model_id="iser-tiny",
                scratch=ScratchEncoder(tokenizer="char", hidden_size=64, num_layers=2, num_heads=2,
                                       intermediate_size=128, max_position=256, dropout=0.0),
                fusion_residual=True, max_span_width=6, width_embedding=8, sea_heads=2, dropout=0.0,
                neg_entities=20, neg_relations=20, lr=1e-3, warmup=0.0, epochs=1, batch_size=4, eval_batch_size=8,
                device="cpu")
    return IserConfig(**(base | overrides))
