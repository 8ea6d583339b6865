"""Attacks on the audit log: keeping a call out of it, tampering with it, reading argument values out of it."""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from armorer_ray import (
    AbortController,
    Approval,
    AuditLog,
    Budget,
    ConfinePaths,
    Decision,
    PolicyHooks,
    Toolbox,
    ToolCall,
    tool,
)
from armorer_ray.middleware.audit import verify
from armorer_ray.middleware.audit_chain import link_hash
from armorer_ray.sanitize import ArgumentBounds
from armorer_ray.stores import MemoryStore


@tool(mutates=True)
def transfer(amount: int, to: str, memo: Any = None) -> str:
    """Move money."""
    return f"sent {amount} to {to}"


@tool
async def slow() -> str:
    """Take a while."""
    await asyncio.sleep(60)
    return "late"


@tool
def read_text(path: Path) -> str:
    """Read a file."""
    return path.read_text()


def _gate(ctx: Any) -> Decision | None:
    amount = ctx.params.get("amount", 0)
    if amount > 1000:
        return Decision.deny(f"transfer of {amount} to {ctx.params.get('to')} is over the limit")
    if amount > 100:
        return Decision.needs_approval("large transfer")
    return None


def _audited(**toolbox: Any) -> tuple[Toolbox, AuditLog, MemoryStore]:
    store = MemoryStore()
    audit = AuditLog(store, chain_key=b"k")
    policies = [PolicyHooks(before=_gate), *toolbox.pop("policy", []), audit]
    box = Toolbox([transfer, slow], middleware=[audit], policy=policies, **toolbox)
    return box, audit, store


async def _records(store: MemoryStore) -> list[Any]:
    return list(await store.read_log("audit"))


def test_every_call_that_reaches_resolution_gets_exactly_one_record() -> None:
    async def scenario() -> tuple[list[Any], AuditLog]:
        box, audit, store = _audited(budget=Budget(max_calls=7), policy=[ArgumentBounds(max_depth=4)])
        calls = [
            ToolCall(id="ok", name="transfer", arguments={"amount": 5, "to": "bob"}),
            ToolCall(id="invalid", name="transfer", arguments={"amount": "lots"}),
            ToolCall(id="denied", name="transfer", arguments={"amount": 5000, "to": "eve"}),
            ToolCall(id="paused", name="transfer", arguments={"amount": 500, "to": "bob"}),
            ToolCall(id="missing", name="transfr", arguments={}),
            ToolCall(id="too-deep", name="transfer", arguments={"amount": 1, "to": "x", "memo": [[[[[[[[]]]]]]]]}),
        ]
        for call in calls:
            await box.execute(call)
        await box.execute(ToolCall(id="timeout", name="slow"), timeout_s=0.05)
        started = asyncio.Event()
        box.on("execute-start", lambda _event: started.set())
        task = asyncio.ensure_future(box.execute(ToolCall(id="cancelled", name="slow")))
        await started.wait()  # the call is in the pipeline: cancel it now
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await box.execute(ToolCall(id="rejected", name="transfer", arguments={"amount": 1, "to": "b"}),
                          approval=Approval(False, reason="no"))
        aborted = AbortController()
        aborted.abort("gone")
        await box.execute(ToolCall(id="pre-aborted", name="transfer", arguments={"amount": 1, "to": "b"}),
                          signal=aborted.signal)
        await box.execute(ToolCall(id="over-budget", name="transfer", arguments={"amount": 1, "to": "b"}))
        return await _records(store), audit

    records, audit = asyncio.run(scenario())
    counts = Counter(r["call_id"] for r in records)
    expected = {"ok", "invalid", "denied", "paused", "missing", "too-deep", "timeout", "cancelled", "rejected",
                "over-budget", "pre-aborted"}
    assert counts == dict.fromkeys(expected, 1), counts
    by_id = {r["call_id"]: r for r in records}
    assert by_id["invalid"]["error_category"] == "validation"
    assert by_id["missing"]["error_category"] == "not_found" and by_id["missing"]["tool"] is None
    assert by_id["timeout"]["error_category"] == "timeout"
    assert by_id["cancelled"]["outcome"] == "cancelled"
    assert by_id["paused"]["outcome"] == "action_required"
    assert by_id["over-budget"]["error_code"] == "BUDGET_EXCEEDED"
    assert audit.verify(records).ok


def test_a_value_nested_past_the_encoders_limit_still_leaves_a_record() -> None:
    # The reported attack: a successful transfer with an argument nested >= 255 deep left only an audit-error.
    deep: Any = "end"
    for _ in range(400):
        deep = [deep]
    store = MemoryStore()
    audit = AuditLog(store, record_arguments=True)
    box = Toolbox([transfer], middleware=[audit], policy=[audit, ArgumentBounds(max_depth=None)])
    result = box.execute_sync(ToolCall(id="t1", name="transfer", arguments={"amount": 7, "to": "x", "memo": deep}))
    assert result.result == "sent 7 to x"
    [record] = asyncio.run(_records(store))
    assert record["call_id"] == "t1" and record["outcome"] == "success"
    assert record["arguments"] is None and record["arguments_digest"].startswith("unserialisable:")
    assert verify([record]).ok


def test_a_deleted_or_edited_record_is_named_by_verify() -> None:
    box, audit, store = _audited()
    box.execute_sync([ToolCall(id=f"c{i}", name="transfer", arguments={"amount": i, "to": "b"}) for i in range(5)],
                     mode="sequential")
    records = asyncio.run(_records(store))
    assert audit.verify(records).ok
    gap = audit.verify(records[:2] + records[3:])
    assert not gap.ok and gap.seq == 2 and "no record with seq 2" in gap.reason
    edited = [dict(r) for r in records]
    edited[3]["outcome"] = "error"
    report = audit.verify(edited)
    assert (report.ok, report.position, report.call_id) == (False, 3, "c3")
    # Rewriting every later hash without the chain key does not help: the keyed hashes do not verify.
    forged = [dict(r) for r in records[:3]] + [dict(r) for r in records[4:]]
    for i in range(3, len(forged)):
        forged[i]["seq"], forged[i]["prev"] = i, forged[i - 1]["hash"]
        forged[i]["hash"] = link_hash(forged[i])
    assert not audit.verify(forged).ok and audit.verify(forged).position == 3
    assert not verify(records).ok  # keyed records do not verify without the key


def test_a_denial_reason_does_not_echo_argument_values_without_record_arguments() -> None:
    box, _audit, store = _audited()
    box.execute_sync(ToolCall(id="d", name="transfer", arguments={"amount": 987654, "to": "IBAN-SECRET-42"}))
    workspace = Path(tempfile.mkdtemp())
    confined_store = MemoryStore()
    confined_audit = AuditLog(confined_store)
    confined = Toolbox([read_text], middleware=[confined_audit], policy=[ConfinePaths(workspace), confined_audit])
    confined.execute_sync(ToolCall(id="p", name="read_text", arguments={"path": "/etc/shadow-of-a-secret"}))
    [record] = asyncio.run(_records(store))
    [path_record] = asyncio.run(_records(confined_store))
    assert record["error_code"] == "POLICY_DENIED" and path_record["error_code"] == "POLICY_DENIED"
    for leaked in ("987654", "IBAN-SECRET-42"):
        assert leaked not in str(record)
    assert "shadow-of-a-secret" not in str(path_record)
    assert "[redacted]" in record["reason"] and "over the limit" in record["reason"]
