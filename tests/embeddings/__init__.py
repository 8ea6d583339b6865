"""Tests of armorer_ray.embeddings, mirroring the package."""
