"""Embedder backends, one module each; every heavy import happens on first use."""
