"""Spiders of the ddikg crawler (one per site profile family)."""
