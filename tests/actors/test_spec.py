"""What travels to replicas: every toolbox option survives the trip, and the catalogue knows what may be retried."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError
from ray import cloudpickle as pickle  # what deploy() uses: tool bodies travel by value

from armorer_ray import Budget, CallContext, Toolbox, ToolboxOptions, ToolCall, tool
from armorer_ray.actors import DeploymentOptions, create_resource_pool
from armorer_ray.actors._private.spec import Catalogue, ToolboxSpec
from armorer_ray.toolbox import PROBE_TOOL_ID


@tool(read_only=True)
def lookup(key: str) -> str:
    """Read a key."""
    return key


@tool(mutates=True, namespace="crm", version="2")
def write(key: str) -> str:
    """Write a key."""
    return key


def test_every_toolbox_option_is_captured() -> None:
    # The spec carries the toolbox's ToolboxOptions whole: only the per-process defaults are swapped.
    box = Toolbox(name="all", timeout_s=2, digests=True, budget=Budget(max_calls=3), on_start=[lambda: None])
    spec = ToolboxSpec.of(box)
    same = {name for name in ToolboxOptions.model_fields if getattr(spec.options, name) == getattr(box.options, name)}
    assert set(ToolboxOptions.model_fields) - same == {"executor", "approvals"}
    assert spec.options.approvals is None and spec.options.executor is not box.executor


def test_the_spec_rebuilds_an_equal_toolbox_after_pickling() -> None:
    pool = create_resource_pool(lambda: {"conn": 1}, max_size=2, name="db")
    box = Toolbox([lookup, write], context={"region": "eu"}, budget=Budget(max_calls=10), timeout_s=3,
                  resources={"db": pool}, read_only=False, allow_dangerous=False, name="crm-box")
    box.register(lookup.replace(name="get"), aliases=["fetch"])
    built = pickle.loads(pickle.dumps(ToolboxSpec.of(box))).build()
    assert built.ids() == box.ids() and built.aliases("default:get") == ("fetch",)
    assert (built.name, dict(built.context), built.timeout_s, built.budget) == ("crm-box", {"region": "eu"}, 3,
                                                                              Budget(max_calls=10))
    assert not built.risk.allow_dangerous and built.resources["db"] is not pool
    assert built.execute_sync(ToolCall(name="fetch", arguments={"key": "k"})).result == "k"


def test_a_factory_spec_builds_inside_the_replica() -> None:
    spec = ToolboxSpec.of(lambda: Toolbox([lookup], name="made-there"))
    assert pickle.loads(pickle.dumps(spec)).build().name == "made-there"


def test_the_catalogue_is_conservative_about_retries() -> None:
    catalogue = Catalogue.of(Toolbox([lookup, write, lookup.replace(namespace="crm", idempotent=False)]))
    assert catalogue.is_idempotent("default:lookup") and catalogue.is_idempotent("default:lookup")
    assert not catalogue.is_idempotent("lookup")  # one of two tools named lookup is not idempotent
    assert not catalogue.is_idempotent("write") and not catalogue.is_idempotent("crm:write@2")
    assert not catalogue.is_idempotent("unknown")
    assert pickle.loads(pickle.dumps(catalogue)).is_idempotent("default:lookup")


def test_the_built_in_probe_goes_through_the_pipeline() -> None:
    seen: list[str] = []

    async def record(call, ctx, next):  # type: ignore[no-untyped-def]
        seen.append(ctx.tool.id)
        return await next(call, ctx)

    box = Toolbox([lookup], middleware=[record], budget=Budget(max_calls=1))
    assert asyncio.run(box.probe()).ok and seen == [PROBE_TOOL_ID]
    assert box.execute_sync(ToolCall(name="lookup", arguments={"key": "k"})).ok  # the probe used no budget


def test_deployment_options_refuse_a_chunk_larger_than_the_cap() -> None:
    with pytest.raises(ValidationError, match="batch_size"):
        DeploymentOptions(max_concurrency=4, batch_size=8)


def test_tools_with_string_annotations_survive_pickling_by_value() -> None:
    # This module uses `from __future__ import annotations`, so hints are strings; a nested body is pickled by
    # value with only the globals its code uses, and `CallContext` is not among them.
    @tool
    def tenant(ctx: CallContext) -> str:
        """Say who calls."""
        return str(ctx.tenant_id)

    built = pickle.loads(pickle.dumps(ToolboxSpec.of(Toolbox([tenant])))).build()
    assert built.execute_sync(ToolCall(name="tenant", tenant_id="acme")).result == "acme"
