"""The parts of streaming, one module each; `armorer_ray.streaming` is the public entry point.

- `armorer_ray.streams.reducers`: how a generator body's chunks are drained, forwarded and reduced (the pipeline
  uses it, so it sits below the toolbox).
- `armorer_ray.streams.calls`: the iterator that runs one call and yields its chunks, then its result.
- `armorer_ray.streams.sse`: Server-Sent Events over any stream (``pip install 'armorer-ray[web]'``).

This package imports nothing on its own, so the pipeline can use its reducers without loading the rest.
"""
