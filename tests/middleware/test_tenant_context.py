"""TenantContext: each tenant's calls see its own values, and no other tenant's."""

from __future__ import annotations

import asyncio

import pytest

from armorer_ray import CallContext, ConfigError, Toolbox, ToolCall, tool
from armorer_ray.middleware import Retry, TenantContext


@tool
async def api_key(ctx: CallContext, pause_s: float = 0.0) -> str:
    "Report the API key this call would use."
    await asyncio.sleep(pause_s)  # interleave tenants' calls
    return f"{ctx['region']}/{ctx.get('api_key', '-')}"


async def test_interleaved_calls_of_two_tenants_each_see_only_their_own_key() -> None:
    keys = {"acme": {"api_key": "sk-acme"}, "globex": {"api_key": "sk-globex", "region": "us"}}
    box = Toolbox([api_key], context={"region": "eu"}, middleware=[TenantContext(keys), Retry(attempts=2)])
    tenants = ["acme", "globex", None, "stranger"] * 10
    results = await asyncio.gather(*(box.execute(ToolCall(name="api_key", tenant_id=t, arguments={"pause_s": 0.001}))
                                     for t in tenants))
    expected = {"acme": "eu/sk-acme", "globex": "us/sk-globex", None: "eu/-", "stranger": "eu/-"}
    assert [r.result for r in results] == [expected[t] for t in tenants]
    assert dict(box.context) == {"region": "eu"}, "the shared context is never written"


def test_values_are_copied_and_read_only() -> None:
    keys = {"acme": {"api_key": "sk-acme"}}
    layer = TenantContext(keys)
    keys["acme"]["api_key"] = "sk-changed"
    keys["globex"] = {"api_key": "sk-globex"}
    box = Toolbox([api_key], context={"region": "eu"}, middleware=[layer])
    assert box.execute_sync(ToolCall(name="api_key", tenant_id="acme")).result == "eu/sk-acme"
    assert box.execute_sync(ToolCall(name="api_key", tenant_id="globex")).result == "eu/-"
    with pytest.raises(TypeError):
        layer.values["acme"]["api_key"] = "x"  # type: ignore[index]


@pytest.mark.parametrize("values", [{"": {}}, {"acme": "sk-acme"}, {3: {}}])
def test_bad_values_are_config_errors(values: object) -> None:
    with pytest.raises(ConfigError):
        TenantContext(values)  # type: ignore[arg-type]
