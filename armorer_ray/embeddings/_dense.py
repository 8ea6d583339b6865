"""The index's own copy of the tool vectors, scored in process: one matrix product, no per-hit objects.

A `VectorStore` query returns `Hit` objects with copied metadata, which costs more than the product itself for
100 candidates (measured at 10k tools: 3.3 ms of 4.1 ms per query in the memory store). `ToolIndex` has every
vector in hand after a sync (it embedded the new ones and read the rest back to check their hashes), so it keeps
them and scores unfiltered queries here; filtered ones still go to the store, which can push the filter down, and
their candidates are rescored here.

A tool can have several vectors ("views": its whole text, and its name with its parameter names); it scores the
best cosine over its views, so a short request that names what a tool does is not drowned by a long description.
With an embedder trained Matryoshka-style (the default), each view keeps only a prefix of its vector (``width``),
so two half-width views cost what one full vector did. The views of a tool sit in adjacent rows: one product
scores them all.

Past ``_COARSE_FROM`` numbers (rows x width; 20k full-width rows of the default embedder) the scan reads only
the first half of each row and rescores the best ``_RESCORE x depth`` tools exactly: a strided view, so no second
copy, and half the memory traffic, which bounds a scan of 100k tools.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_COARSE_FROM = 20_000 * 256
_RESCORE = 4


def _unit(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    unit: npt.NDArray[np.float32] = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
    return unit


class DenseMatrix:
    """Unit-length tool vectors in registration order, one or more views per tool, and a top-k scan over them.

    Args:
        views: One ``(tools, dimension)`` array per view, rows in the same tool order.
        width: Keep only the first ``width`` components of each vector (re-normalised); None keeps them all.

    Example:
        >>> m = DenseMatrix(np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32))
        >>> positions, scores = m.top(np.array([0.0, 1.0], dtype=np.float32), 2)
        >>> positions.tolist(), [round(float(s), 2) for s in scores]
        ([2, 1], [1.0, 0.8])
        >>> names = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]], dtype=np.float32)  # a second view per tool
        >>> DenseMatrix(m.matrix, names).top(np.array([0.0, 1.0], dtype=np.float32), 3)[0].tolist()
        [0, 2, 1]
    """

    def __init__(self, *views: npt.NDArray[np.float32], width: int | None = None) -> None:
        if not views:
            raise ValueError("DenseMatrix needs at least one view")
        arrays = [np.asarray(view, dtype=np.float32) for view in views]
        if width is not None:
            arrays = [array[:, :width] for array in arrays]
        self.views = len(arrays)
        self.tools = arrays[0].shape[0]
        # Row n * views + v is view v of tool n: one product scores every view, a reshape groups them by tool.
        stacked = np.stack(arrays, axis=1).reshape(self.tools * self.views, arrays[0].shape[1])
        self.matrix = np.ascontiguousarray(_unit(stacked))

    @property
    def nbytes(self) -> int:
        """Memory held by the vectors."""
        return int(self.matrix.nbytes)

    def _query(self, vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        query = np.asarray(vector, dtype=np.float32)[: self.matrix.shape[1]]
        norm = float(np.linalg.norm(query))
        return query / norm if norm > 0 else query

    def _per_tool(self, scores: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return scores if self.views == 1 else scores.reshape(-1, self.views).max(axis=1)

    def scores(self, positions: npt.NDArray[np.intp], vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Exact scores (best cosine over the views) of the tools at ``positions``."""
        query = self._query(vector)
        rows = (np.asarray(positions, dtype=np.intp)[:, None] * self.views + np.arange(self.views)).ravel()
        return self._per_tool(self.matrix[rows] @ query)

    def top(self, vector: npt.NDArray[np.float32], depth: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        """Positions and scores of the ``depth`` best tools, best first (ties: lower position first)."""
        dimension = self.matrix.shape[1]
        if self.tools == 0 or depth <= 0:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float32)
        query = self._query(vector)
        if self.matrix.size >= _COARSE_FROM and dimension >= 64 and depth * _RESCORE < self.tools:
            half = dimension // 2
            coarse = self._per_tool(self.matrix[:, :half] @ query[:half])
            candidates = np.argpartition(-coarse, depth * _RESCORE - 1)[: depth * _RESCORE]
            candidates.sort()
            return self._best(candidates, self.scores(candidates, vector), depth)
        return self._best(np.arange(self.tools), self._per_tool(self.matrix @ query), depth)

    @staticmethod
    def _best(positions: npt.NDArray[np.intp], scores: npt.NDArray[np.float32],
              depth: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        if depth < scores.shape[0]:
            keep = np.argpartition(-scores, depth - 1)[:depth]
            keep = keep[np.lexsort((positions[keep], -scores[keep]))]
        else:
            keep = np.lexsort((positions, -scores))
        return positions[keep], scores[keep]
