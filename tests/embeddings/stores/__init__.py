"""Vector store backends: each runs tests/contracts/vector_store.py."""
