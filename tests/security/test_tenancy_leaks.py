"""Attacks on tenancy: a tenant (or a model acting for one) tries to learn about, or reach, tools it is not granted.

Every listing path goes through one rule (`Toolbox.tools(caller=...)` / the resolver): these tests perform each
attack and check that no hidden tool's id, name or description comes back, and that resolution costs the same
whatever the grants.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armorer_ray import Caller, Toolbox, ToolCall, tool
from armorer_ray.adapters import to_openai
from armorer_ray.embeddings.index import ToolIndex
from armorer_ray.embeddings.search_tool import create_search_tool
from armorer_ray.embeddings.testing import HashingEmbedder, HashingOptions
from armorer_ray.tenancy import TenantAccess, TenantGrant, TenantView
from armorer_ray.tools import Tool


def _tool(name: str, description: str, *, namespace: str = "default", tags: tuple[str, ...] = ()) -> Tool:
    return tool(name=name, namespace=namespace, description=description, tags=list(tags))(lambda: name)


def _indexed(box: Toolbox) -> Toolbox:
    box.set_tool_index(ToolIndex(box, embedder=HashingEmbedder(HashingOptions(dimension=64))))
    return box


def test_the_search_tool_never_returns_a_tool_hidden_from_the_calling_tenant() -> None:
    # The reported attack: search_tools granted to acme returned billing:invoice (hidden) with its description.
    invoice = _tool("invoice", "Create an invoice for a customer order.", namespace="billing")
    contacts = _tool("contacts", "Look up customer contacts.", namespace="crm")
    access = TenantAccess({"acme": TenantGrant(namespaces={"crm"}, tools={"default:search_tools"}),
                           "globex": TenantGrant(namespaces={"billing"}, tools={"default:search_tools"})})
    box = _indexed(Toolbox([invoice, contacts], policy=access))
    create_search_tool(box)
    acme = TenantView(box, "acme").execute_sync({"name": "search_tools", "arguments": {"query": "invoice"}})
    assert acme.outcome == "success"
    text = json.dumps(acme.result)
    assert "invoice" not in text and "Create an invoice" not in text
    assert [hit["id"] for hit in acme.result] == ["crm:contacts"]
    globex = TenantView(box, "globex").execute_sync({"name": "search_tools", "arguments": {"query": "invoice"}})
    assert globex.result[0]["id"] == "billing:invoice"


def test_a_workflow_unknown_tool_error_does_not_list_hidden_tools() -> None:
    from armorer_ray.workflow import create_workflow
    from armorer_ray.workflow.errors import UnknownToolError

    secret = _tool("payroll_secret", "Pay everyone.")
    box = Toolbox([secret, _tool("faq", "Answer questions.", tags=("public",))],
                  policy=TenantAccess({"acme": TenantGrant(tools={"payroll_secret"})},
                                      shared=TenantGrant(tags={"public"}), default_tenant="anon"))
    with pytest.raises(UnknownToolError) as caught:
        create_workflow(nodes={"a": "no_such_tool"}, toolbox=box)
    assert "payroll_secret" not in str(caught.value)
    assert "faq" in str(caught.value)  # what an anonymous caller may see is still listed


def test_mcp_server_over_a_tenant_view_starts_and_lists_only_the_tenants_tools() -> None:
    pytest.importorskip("mcp", reason="the MCP extra is not installed: pip install 'armorer-ray[mcp]'")
    from mcp import Client

    from armorer_ray.adapters.mcp import create_mcp_server

    box = Toolbox([_tool("mine", "Mine."), _tool("theirs", "Theirs secret.")],
                  policy=TenantAccess({"acme": TenantGrant(tools={"mine"})}), name="shared")
    view = TenantView(box, "acme")

    async def listed() -> list[str]:
        async with Client(create_mcp_server(view)) as client:  # raised AttributeError (no .name) before
            return [t.name for t in (await client.list_tools()).tools]

    assert asyncio.run(listed()) == ["mine"]


class _CountingGrant:
    """A predicate grant that counts how often it is asked (the cost of resolution, without timing)."""

    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed
        self.calls = 0

    def __call__(self, tool: Tool) -> bool:
        self.calls += 1
        return tool.name in self.allowed


def test_resolving_unknown_names_costs_no_scan_of_the_tools_per_call() -> None:
    # The reported attack: 1,000 tools x 300 granted ids made each misspelled name cost 1.36 s.
    tools = [_tool(f"tool_{i}", f"Tool {i}.") for i in range(1000)]
    grant = _CountingGrant({f"tool_{i}" for i in range(0, 1000, 3)})
    ids = TenantGrant(tools={f"tool_{i}" for i in range(1, 1000, 3)})
    box = Toolbox(tools, policy=TenantAccess({"acme": grant, "globex": ids}))
    first = box.execute_sync(ToolCall(name="tool_0", tenant_id="acme"))
    assert first.outcome == "success"
    after_first = grant.calls
    assert after_first <= 1000  # one pass to build acme's index
    misses = box.execute_sync([{"name": f"tool_{i}x", "tenant_id": "acme"} for i in range(200)])
    hidden = box.execute_sync([{"name": f"tool_{i}", "tenant_id": "acme"} for i in range(1, 400, 3)])
    assert all(r.error is not None and r.error.category == "not_found" for r in [*misses, *hidden])
    for _ in range(50):
        TenantView(box, "acme").tools()
    assert grant.calls == after_first  # no call, miss or listing re-scanned the tools
    # A TenantGrant with 333 ids answers by set lookups too: globex's calls resolve, others' ids do not.
    assert box.execute_sync(ToolCall(name="tool_1", tenant_id="globex")).outcome == "success"
    assert box.execute_sync(ToolCall(name="tool_0", tenant_id="globex")).error.category == "not_found"


def test_hidden_and_missing_names_get_byte_identical_answers_under_every_spelling() -> None:
    box = Toolbox([_tool("invoice", "Bill.", namespace="billing"), _tool("contacts", "People.")],
                  policy=TenantAccess({"acme": TenantGrant(tools={"contacts"})}))
    box.register(_tool("alias_target", "Aliased."), aliases=["inv"])
    for hidden, missing in [("invoice", "invoicf"), ("billing:invoice", "billing:invoicf"), ("inv", "inw"),
                            ("default:alias_target", "default:alias_targeu")]:
        a = box.execute_sync(ToolCall(id="x", name=hidden, tenant_id="acme"))
        b = box.execute_sync(ToolCall(id="x", name=missing, tenant_id="acme"))
        assert a.error is not None and b.error is not None
        assert a.error.message.replace(hidden, "?") == b.error.message.replace(missing, "?")
        assert a.error.model_dump(exclude={"message"}) == b.error.model_dump(exclude={"message"})


# -- property: no listing or calling path ever shows a hidden tool -------------------------------------------------

_TENANTS = ("t0", "t1", "t2")


@st.composite
def _worlds(draw: st.DrawFn) -> tuple[list[Tool], dict[str, Any], TenantGrant | None]:
    count = draw(st.integers(1, 8))
    tools = []
    for i in range(count):
        namespace = draw(st.sampled_from(["ns_a", "ns_b", "default"]))
        tags = tuple(draw(st.sets(st.sampled_from(["red", "blue", "green"]), max_size=2)))
        # Fixed-width unique tokens: one can never be a substring of another.
        tools.append(_tool(f"tool_{i:02d}q", f"Secret description desc_{i:02d}z of the tool.",
                           namespace=namespace, tags=tags))
    grants: dict[str, Any] = {}
    for tenant in _TENANTS:
        kind = draw(st.sampled_from(["ids", "namespaces", "tags", "predicate", "none"]))
        picked = draw(st.sets(st.integers(0, count - 1), max_size=count))
        if kind == "ids":
            grants[tenant] = TenantGrant(tools={tools[i].id for i in picked})
        elif kind == "namespaces":
            grants[tenant] = TenantGrant(namespaces=set(draw(st.sets(st.sampled_from(["ns_a", "ns_b"])))))
        elif kind == "tags":
            grants[tenant] = TenantGrant(tags=set(draw(st.sets(st.sampled_from(["red", "blue"])))))
        elif kind == "predicate":
            chosen = {tools[i].name for i in picked}
            grants[tenant] = lambda t, chosen=chosen: t.name in chosen
    shared = draw(st.none() | st.just(TenantGrant(tags={"green"})))
    return tools, grants, shared


def _outputs_for(box: Toolbox, tenant: str, probes: list[str]) -> str:
    view = TenantView(box, tenant)
    out: list[object] = [view.ids(), [t.description for t in view.tools()], view.to_json(), to_openai(view),
                         view.query(text="secret tool description", select="id"),
                         [hit.id for hit in view.search_sync("secret description", k=10)]]
    search = view.execute_sync({"name": "search_tools", "arguments": {"query": "secret tool description",
                                                                      "k": 50}})
    out.append(search.model_dump(mode="json"))
    for name in probes:
        # The answer echoes the name asked for (in tool_name and the message): blank that echo, keep the rest.
        answer = view.execute_sync({"name": name}).model_dump(mode="json", exclude={"tool_name"})
        if answer["error"] is not None:
            answer["error"]["message"] = answer["error"]["message"].replace(f"Tool not found: {name}.", "")
            answer["content"] = answer["content"].replace(f"Tool not found: {name}.", "")
        out.append(answer)
    return json.dumps(out, default=str)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_worlds(), st.lists(st.integers(0, 7), max_size=4))
def test_no_listing_or_calling_path_shows_a_hidden_tool(world: tuple[list[Tool], dict[str, Any],
                                                                     TenantGrant | None],
                                                        probe_ids: list[int]) -> None:
    tools, grants, shared = world
    for tenant in _TENANTS:  # every tenant may use the search tool
        grant = grants.get(tenant)
        if isinstance(grant, TenantGrant):
            grants[tenant] = grant.model_copy(update={"tools": grant.tools | {"default:search_tools"}})
    box = _indexed(Toolbox(tools, policy=TenantAccess(grants, shared=shared)))
    create_search_tool(box)
    for tenant in _TENANTS:
        caller = Caller(tenant_id=tenant)
        hidden = [t for t in tools if not box.is_visible(t, caller)]
        # Probes: hidden tools by name, id and namespace:name, plus random misses.
        probes = [p for t in hidden for p in (t.name, t.id, f"{t.namespace}:{t.name}")]
        probes += [f"tool_{i:02d}q" for i in probe_ids]
        text = _outputs_for(box, tenant, probes)
        for secret in hidden:
            for leaked in (secret.name, secret.description):  # an id contains its name
                assert leaked not in text, (tenant, leaked)
        for t in tools:
            resolved = box.execute_sync(ToolCall(name=t.name, tenant_id=tenant))
            if t in hidden:
                assert resolved.error is not None and resolved.error.category == "not_found"
