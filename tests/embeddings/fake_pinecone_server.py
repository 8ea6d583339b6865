"""A local stand-in for one Pinecone index's data plane, for testing `PineconeVectorStore` offline.

No Pinecone runs offline, so this serves, on 127.0.0.1, the endpoints the real ``pinecone`` client (v10)
calls for a dense index, with the JSON shapes its response decoders read:

| client call               | request                                | response                                         |
|---------------------------|----------------------------------------|--------------------------------------------------|
| ``upsert``                | ``POST /vectors/upsert``               | ``{"upsertedCount": n}``                         |
| ``query``                 | ``POST /query``                        | ``{"matches": [{"id", "score", "metadata"}]...}``|
| ``delete``                | ``POST /vectors/delete``               | ``{}``                                           |
| ``fetch``                 | ``GET /vectors/fetch?ids=..&ids=..``   | ``{"vectors": {id: {"id", "values", ...}}}``     |
| ``describe_index_stats``  | ``POST /describe_index_stats``         | ``{"namespaces": {"__default__": {...}}, ...}``  |
| ``list_paginated``        | ``GET /vectors/list?paginationToken=`` | ``{"vectors": [{"id"}], "pagination": {...}}``   |

Like Pinecone it checks the ``Api-Key`` header, refuses vectors of the wrong dimension and metadata that is
not flat (strings, numbers, booleans, lists of strings), scores by cosine, and evaluates metadata filters
(``$eq $ne $gt $gte $lt $lte $in $nin $exists $and $or``; on a list field ``$eq``/``$in`` match any element).
Where Pinecone's documentation is silent (``$ne``/``$nin`` on a missing field) it admits the record; the
store under test never relies on that case. It is consistent at once, where Pinecone is eventually
consistent.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from tests.embeddings.fake_http import JsonHandler, serve_on_loopback

Json = Any
_PAGE = 100


class _BadRequest(Exception):
    pass


def _number(value: Json) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(stored: Json, wanted: Json) -> bool:
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored is wanted
    if _number(wanted):
        return _number(stored) and float(stored) == float(wanted)
    return stored == wanted


def _operator(stored: Json, present: bool, op: str, arg: Json) -> bool:
    values = stored if isinstance(stored, list) else [stored]
    if op == "$exists":
        return present is bool(arg)
    if op in ("$ne", "$nin"):
        banned = arg if op == "$nin" else [arg]
        return not present or not any(_equal(value, item) for value in values for item in banned)
    if not present:
        return False
    if op == "$eq":
        return any(_equal(value, arg) for value in values)
    if op == "$in":
        if not isinstance(arg, list):
            raise _BadRequest("$in needs an array")
        return any(_equal(value, item) for value in values for item in arg)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if not _number(arg) or not _number(stored):
            return False
        return {"$gt": stored > arg, "$gte": stored >= arg, "$lt": stored < arg, "$lte": stored <= arg}[op]
    raise _BadRequest(f"unsupported filter operator {op}")


def matches(metadata: dict[str, Json], query: dict[str, Json]) -> bool:
    """Whether a record's metadata passes a Pinecone filter document."""
    for key, condition in query.items():
        if key == "$and":
            if not all(matches(metadata, part) for part in condition):
                return False
        elif key == "$or":
            if not any(matches(metadata, part) for part in condition):
                return False
        elif key.startswith("$"):
            raise _BadRequest(f"unsupported top-level operator {key}")
        else:
            ops = condition if isinstance(condition, dict) else {"$eq": condition}
            present = key in metadata
            if not all(_operator(metadata.get(key), present, op, arg) for op, arg in ops.items()):
                return False
    return True


def _check_metadata(metadata: Json) -> None:
    if not isinstance(metadata, dict):
        raise _BadRequest("metadata must be an object")
    for key, value in metadata.items():
        flat = isinstance(value, str | bool) or _number(value)
        strings = isinstance(value, list) and all(isinstance(item, str) for item in value)
        if not (flat or strings):
            raise _BadRequest(f"Metadata value for field {key!r} must be a string, number, boolean or list of strings")


@dataclass
class FakePineconeIndex:
    """One dense, cosine index; `serve` puts it on a loopback port."""

    dimension: int
    api_key: str = "test-key"
    records: defaultdict[str, dict[str, tuple[np.ndarray, dict[str, Json]]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Json) -> tuple[int, Json]:
        route = {
            ("POST", "/vectors/upsert"): self._upsert,
            ("POST", "/query"): self._query,
            ("POST", "/vectors/delete"): self._delete,
            ("GET", "/vectors/fetch"): self._fetch,
            ("POST", "/describe_index_stats"): self._stats,
            ("GET", "/vectors/list"): self._list,
        }.get((method, path))
        self.requests.append((method, path))
        if route is None:
            return 404, {"code": 5, "message": f"no route {method} {path}"}
        try:
            with self.lock:
                return 200, route(query, body or {})
        except _BadRequest as exc:
            return 400, {"code": 3, "message": str(exc), "details": []}

    def _space(self, namespace: str | None) -> dict[str, tuple[np.ndarray, dict[str, Json]]]:
        return self.records[namespace or ""]

    def _upsert(self, query: dict[str, list[str]], body: Json) -> Json:
        space = self._space(body.get("namespace"))
        vectors = body.get("vectors", [])
        staged = []
        for vector in vectors:
            values = np.asarray(vector["values"], dtype=np.float64)
            if values.shape != (self.dimension,):
                raise _BadRequest(
                    f"Vector dimension {values.shape[0]} does not match the dimension of the index {self.dimension}"
                )
            metadata = vector.get("metadata") or {}
            _check_metadata(metadata)
            staged.append((vector["id"], values, metadata))
        for row_id, values, metadata in staged:
            space[row_id] = (values, metadata)
        return {"upsertedCount": len(staged)}

    def _query(self, query: dict[str, list[str]], body: Json) -> Json:
        space = self._space(body.get("namespace"))
        vector = np.asarray(body["vector"], dtype=np.float64)
        if vector.shape != (self.dimension,):
            raise _BadRequest(
                f"Query vector dimension {vector.shape[0]} does not match the dimension of the index {self.dimension}"
            )
        where = body.get("filter") or {}
        scored = [
            (float(values @ vector / (np.linalg.norm(values) * np.linalg.norm(vector))), row_id, metadata)
            for row_id, (values, metadata) in space.items()
            if matches(metadata, where)
        ]
        scored.sort(key=lambda item: -item[0])
        matches_out = [
            {
                "id": row_id,
                "score": score,
                "values": [],
                **({"metadata": metadata} if body.get("includeMetadata") else {}),
            }
            for score, row_id, metadata in scored[: body["topK"]]
        ]
        return {"matches": matches_out, "namespace": body.get("namespace", ""), "usage": {"readUnits": 1}}

    def _delete(self, query: dict[str, list[str]], body: Json) -> Json:
        space = self._space(body.get("namespace"))
        for row_id in body.get("ids", []):
            space.pop(row_id, None)
        return {}

    def _fetch(self, query: dict[str, list[str]], body: Json) -> Json:
        namespace = query.get("namespace", [""])[0]
        space = self._space(namespace)
        found = {
            row_id: {"id": row_id, "values": space[row_id][0].tolist(), "metadata": space[row_id][1]}
            for row_id in query.get("ids", [])
            if row_id in space
        }
        return {"vectors": found, "namespace": namespace, "usage": {"readUnits": 1}}

    def _stats(self, query: dict[str, list[str]], body: Json) -> Json:
        namespaces = {
            (name or "__default__"): {"vectorCount": len(space)} for name, space in self.records.items() if space
        }
        return {
            "namespaces": namespaces,
            "dimension": self.dimension,
            "indexFullness": 0.0,
            "totalVectorCount": sum(len(space) for space in self.records.values()),
            "metric": "cosine",
            "vectorType": "dense",
        }

    def _list(self, query: dict[str, list[str]], body: Json) -> Json:
        namespace = query.get("namespace", [""])[0]
        limit = int(query.get("limit", [str(_PAGE)])[0])
        start = int(query.get("paginationToken", ["0"])[0])
        ids = sorted(self._space(namespace))
        page = ids[start : start + limit]
        result: Json = {"vectors": [{"id": row_id} for row_id in page], "namespace": namespace, "usage": {}}
        if start + limit < len(ids):
            result["pagination"] = {"next": str(start + limit)}
        return result


def _handler(index: FakePineconeIndex) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def _serve(self, method: str) -> None:
            url = urlparse(self.path)
            raw = self.read_body()
            if self.headers.get("Api-Key") != index.api_key:
                status, payload = (
                    401,
                    {"error": {"code": "UNAUTHENTICATED", "message": "Invalid API Key"}, "status": 401},
                )
            else:
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    status, payload = 400, {"code": 3, "message": "malformed JSON"}
                else:
                    status, payload = index.handle(method, url.path, parse_qs(url.query), body)
            self.send_json(status, payload)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    return Handler


@contextmanager
def serve(index: FakePineconeIndex) -> Iterator[str]:
    """Serve ``index`` on a free loopback port; yields its base URL and stops the server on exit."""
    with serve_on_loopback(_handler(index), "fake-pinecone") as url:
        yield url
