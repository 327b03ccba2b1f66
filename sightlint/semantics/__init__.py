"""Semantic helpers shared by more than one rule."""
