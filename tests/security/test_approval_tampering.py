"""Attacks on paused calls: resuming another tenant's call, changing a call's arguments after it was approved."""

from __future__ import annotations

import asyncio
import sys

import pytest

from armorer_ray import Caller, Conflict, Decision, StoreApprovalBook, Toolbox, ToolCall, tool
from armorer_ray.stores import MemoryStore
from armorer_ray.tenancy import TenantAccess, TenantGrant, TenantView


@tool(mutates=True)
def wire(amount: int, to: str) -> str:
    """Wire money."""
    return f"sent {amount} to {to}"


def _gated(**options: object) -> Toolbox:
    access = TenantAccess({"acme": TenantGrant(tools={"wire"}), "globex": TenantGrant(tools={"wire"})})
    return Toolbox([wire], policy=[access, lambda ctx: Decision.needs_approval("approve the wire")], **options)


@pytest.mark.parametrize("book", ["memory", "store"])
def test_another_tenant_cannot_resume_a_paused_call(book: str) -> None:
    box = _gated(**({"approvals": StoreApprovalBook(MemoryStore())} if book == "store" else {}))
    paused = TenantView(box, "acme").execute_sync({"name": "wire", "arguments": {"amount": 5, "to": "bob"}})
    token = paused.action.resume_token
    with pytest.raises(Conflict) as globex:
        TenantView(box, "globex").resume_sync(token)
    with pytest.raises(Conflict) as anonymous:
        box.resume_sync(token)  # no caller at all
    assert globex.value.code == anonymous.value.code == "RESUME_TOKEN_INVALID"
    assert str(globex.value) == str(anonymous.value)  # the same answer as an unknown token
    assert TenantView(box, "acme").resume_sync(token).result == "sent 5 to bob"  # still there for its owner


def test_a_token_is_bound_to_the_user_when_the_call_had_one() -> None:
    box = _gated()
    paused = box.execute_sync(ToolCall(name="wire", arguments={"amount": 5, "to": "bob"}, tenant_id="acme",
                                       user_id="ada"))
    token = paused.action.resume_token
    with pytest.raises(Conflict):
        box.resume_sync(token, caller=Caller(tenant_id="acme", user_id="mallory"))
    assert box.resume_sync(token, caller=Caller(tenant_id="acme", user_id="ada")).outcome == "success"


def test_editing_the_arguments_after_a_pause_does_not_change_the_approved_call() -> None:
    # The reported attack: the approver saw 500 to bob; the caller then edited its dict; resume sent 999999.
    box = Toolbox([wire], policy=lambda ctx: Decision.needs_approval("approve the wire"))
    arguments = {"amount": 500, "to": "bob"}
    call = {"name": "wire", "arguments": arguments}
    paused = box.execute_sync(call)
    arguments["amount"], arguments["to"] = 999999, "attacker"
    assert box.resume_sync(paused.action.resume_token).result == "sent 500 to bob"


def test_racing_resumes_by_the_wrong_tenant_never_run_the_call() -> None:
    box = _gated()
    paused = TenantView(box, "acme").execute_sync({"name": "wire", "arguments": {"amount": 5, "to": "bob"}})
    token = paused.action.resume_token

    async def race() -> list[object]:
        return await asyncio.gather(*(TenantView(box, "globex").resume(token) for _ in range(50)),
                                    return_exceptions=True)

    outcomes = asyncio.run(race())
    assert all(isinstance(o, Conflict) for o in outcomes)
    assert TenantView(box, "acme").resume_sync(token).result == "sent 5 to bob"


@pytest.mark.ray
def test_a_deployment_resumes_a_paused_call_only_for_its_tenant(ray_runtime: object) -> None:
    # Tokens are tenant-bound: Deployment.resume used to send no caller to the replica, so even the owner got 409.
    from ray import cloudpickle

    from armorer_ray.actors import ActorOptions, deploy

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # replicas need not import tests/
    dep = deploy(_gated(), 1, actor_options=ActorOptions(num_cpus=0, max_restarts=0))

    async def attack() -> None:
        try:
            paused = await dep.execute(ToolCall(name="wire", arguments={"amount": 7, "to": "eve"}, tenant_id="acme"))
            assert paused.action is not None and paused.action.resume_token is not None
            token = paused.action.resume_token
            with pytest.raises(Conflict) as globex:
                await dep.resume(token, caller=Caller(tenant_id="globex"))
            with pytest.raises(Conflict) as anonymous:
                await dep.resume(token)
            assert globex.value.code == anonymous.value.code == "RESUME_TOKEN_INVALID"
            assert (await dep.resume(token, caller=Caller(tenant_id="acme"))).result == "sent 7 to eve"
        finally:
            await dep.shutdown(drain=False, timeout_s=5)

    asyncio.run(attack())
