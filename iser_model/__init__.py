"""ISER: joint entity-relation extraction with span and interactive fusion representation (PyTorch)."""
