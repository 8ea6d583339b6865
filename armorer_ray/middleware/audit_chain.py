"""The audit log's hash chain: each record carries the digest of the one before, and `verify` finds the first break.

An `AuditLog` starts a *chain* (a random id) when it is created; its records carry ``chain``, ``seq`` (0, 1, 2...
within the chain), ``prev`` (the previous record's ``hash``, empty for ``seq`` 0) and ``hash``: the SHA-256 of
the record's canonical JSON without ``hash`` (an HMAC-SHA256 under ``chain_key`` when one is given). Editing a
record changes its hash; deleting one leaves a gap in ``seq`` and a ``prev`` that points nowhere; reordering is
harmless (records are checked in ``seq`` order). A keyed chain also resists a forger who rewrites every later
hash: without the key, the forged hashes do not verify.

What a chain cannot show by itself: that its *last* records, or a whole chain, were deleted. Keep the latest
``hash`` (`AuditLog.head`) somewhere the log's writer cannot rewrite, or compare chains against a list of
expected ones, if truncation matters.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import JsonValue

from armorer_ray.json_values import canonical_json

__all__ = ["ChainReport", "link_hash", "verify"]


def link_hash(record: Mapping[str, JsonValue], key: bytes | None = None) -> str:
    """The ``hash`` of a record: over its canonical JSON without the ``hash`` field.

    Example:
        >>> link_hash({"seq": 0, "prev": ""}) == link_hash({"prev": "", "seq": 0, "hash": "ignored"})
        True
    """
    body = canonical_json({k: v for k, v in record.items() if k != "hash"}).encode()
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What `verify` found.

    Attributes:
        ok: Every record verified and no chain has a gap.
        checked: Records looked at.
        position: Index in the given records of the first broken link (None when ok, or when the break is a
            missing record: then ``seq`` names the first one missing).
        chain: The chain of the first break.
        seq: The ``seq`` of the first broken or missing record.
        call_id: The call of the first broken record, when it is present.
        reason: What is wrong, in words.
    """

    ok: bool
    checked: int
    position: int | None = None
    chain: str | None = None
    seq: int | None = None
    call_id: str | None = None
    reason: str = ""


def verify(records: Sequence[JsonValue], key: bytes | None = None) -> ChainReport:
    """Check the hash chains of audit records (as `Store.read_log` returns them) and name the first broken link.

    Args:
        records: The records, in any order (each chain is checked in ``seq`` order).
        key: The ``chain_key`` the log was written with, if any.

    Returns:
        A `ChainReport`; ``ok`` is False at the first record that is malformed, edited, or out of place, or at
        the first ``seq`` missing from a chain. "First" is the lowest log position among the breaks found.

    Example:
        >>> import asyncio
        >>> from armorer_ray import AuditLog, Toolbox, ToolCall
        >>> from armorer_ray.stores import MemoryStore
        >>> from armorer_ray.testing import mock_tool
        >>> store = MemoryStore()
        >>> audit = AuditLog(store)
        >>> box = Toolbox([mock_tool("ping")], middleware=[audit])
        >>> _ = box.execute_sync([ToolCall(id=f"c{i}", name="ping") for i in range(3)], mode="sequential")
        >>> records = asyncio.run(store.read_log("audit"))
        >>> verify(records).ok
        True
        >>> records[1]["outcome"] = "error"  # tampered
        >>> report = verify(records)
        >>> report.ok, report.position, report.call_id
        (False, 1, 'c1')
        >>> verify(records[:1] + records[2:]).reason
        'chain ... has no record with seq 1'
    """
    chains: dict[str, list[tuple[int, int, Mapping[str, JsonValue]]]] = {}
    breaks: list[tuple[int, ChainReport]] = []
    total = len(records)
    for position, record in enumerate(records):
        if not (isinstance(record, Mapping) and isinstance(record.get("chain"), str)
                and isinstance(record.get("seq"), int) and isinstance(record.get("prev"), str)
                and isinstance(record.get("hash"), str)):
            breaks.append((position, ChainReport(False, total, position,
                                                 reason="record has no chain, seq, prev and hash fields")))
            continue
        chains.setdefault(str(record["chain"]), []).append((_int(record["seq"]), position, record))
    for chain, links in chains.items():
        links.sort(key=lambda link: (link[0], link[1]))
        found = _first_break(chain, links, key, total)
        if found is not None:
            breaks.append(found)
    if breaks:
        return min(breaks, key=lambda item: item[0])[1]
    return ChainReport(True, total)


def _int(value: JsonValue) -> int:
    return value if isinstance(value, int) else 0


def _first_break(chain: str, links: list[tuple[int, int, Mapping[str, JsonValue]]], key: bytes | None,
                 total: int) -> tuple[int, ChainReport] | None:
    previous = ""
    for expected, (seq, position, record) in enumerate(links):
        raw_id = record.get("call_id")
        call_id = raw_id if isinstance(raw_id, str) else None
        if seq < expected:
            return position, ChainReport(False, total, position, chain, seq, call_id,
                                         f"chain {chain} has a duplicate record with seq {seq}")
        if seq > expected:  # a gap: reported at the record after it, the first an auditor looks at
            return position, ChainReport(False, total, None, chain, expected, None,
                                         f"chain {chain} has no record with seq {expected}")
        if record.get("prev") != previous:
            return position, ChainReport(False, total, position, chain, seq, call_id,
                                         f"record {seq} of chain {chain} does not follow record {seq - 1}")
        digest = str(record.get("hash"))
        if not hmac.compare_digest(link_hash(record, key), digest):
            return position, ChainReport(False, total, position, chain, seq, call_id,
                                         f"record {seq} of chain {chain} was altered (hash mismatch)")
        previous = digest
    return None
