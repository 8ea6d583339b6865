"""Embedders: each runs tests/embeddings/embedder_contract.py."""
