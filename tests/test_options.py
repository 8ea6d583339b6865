"""`ToolboxOptions`: one model for everything a toolbox is configured with, shared by every copy of a toolbox."""

from __future__ import annotations

import pickle

import pytest

from armorer_ray import (
    Budget,
    ConfigError,
    Decision,
    Toolbox,
    ToolboxOptions,
    ToolCall,
    combine_toolboxes,
    tool,
)
from armorer_ray.approvals import MemoryApprovalBook
from armorer_ray.policy import RiskPolicy
from armorer_ray.workflow.toolboxes import ToolboxRecipe


@tool(mutates=True)
def wire(amount: int) -> str:
    """Wire money."""
    return f"sent {amount}"


@tool(read_only=True)
def balance() -> int:
    """Read the balance."""
    return 7


def ask_above_100(ctx: object) -> Decision | None:
    amount = getattr(ctx, "params", {}).get("amount", 0)
    return Decision.needs_approval("large transfer") if amount > 100 else None


def test_extend_keeps_the_approval_book() -> None:
    book = MemoryApprovalBook()
    assert Toolbox(approvals=book).extend().approvals is book


def test_a_call_paused_on_an_extended_toolbox_resumes_on_the_original() -> None:
    original = Toolbox([wire], policy=ask_above_100)
    extended = original.extend(balance)
    paused = extended.execute_sync({"name": "wire", "arguments": {"amount": 500}})
    assert paused.outcome == "action_required" and paused.action is not None
    assert original.resume_sync(paused.action.resume_token).result == "sent 500"


def test_options_and_keywords_build_the_same_toolbox() -> None:
    options = ToolboxOptions(name="bank", timeout_s=4, risk=RiskPolicy(read_only=True), budget=Budget(max_calls=2))
    by_model = Toolbox([wire], options)
    by_keywords = Toolbox([wire], name="bank", timeout_s=4, read_only=True, budget=Budget(max_calls=2))
    for box in (by_model, by_keywords):
        assert (box.name, box.timeout_s, box.risk.allow_mutation, box.budget) == ("bank", 4, False, Budget(max_calls=2))
        assert box.execute_sync({"name": "wire", "arguments": {"amount": 1}}).error.code == "POLICY_DENIED"


def test_keywords_override_the_options_they_are_given_with() -> None:
    box = Toolbox([], ToolboxOptions(name="a", timeout_s=1, risk=RiskPolicy(allow_dangerous=False)),
                  timeout_s=9, read_only=True)
    assert (box.name, box.timeout_s) == ("a", 9)
    assert box.risk == RiskPolicy(read_only=True, allow_mutation=False, allow_dangerous=False)


def test_options_are_frozen_and_copied_with_model_copy() -> None:
    options = ToolboxOptions(name="a")
    with pytest.raises(Exception):  # pydantic's frozen-instance error
        options.name = "b"  # type: ignore[misc]  # the assignment is the point: frozen models refuse it
    assert options.model_copy(update={"name": "b"}).name == "b" and options.name == "a"


def test_options_pickle_round_trip() -> None:
    options = ToolboxOptions(name="p", timeout_s=2.5, context={"region": "eu"}, budget=Budget(max_calls=1),
                             risk=RiskPolicy(allow_dangerous=False), digests=True)
    assert pickle.loads(pickle.dumps(options)) == options


@pytest.mark.parametrize(("settings", "message"), [
    ({"timeout_s": 0}, "timeout_s"),
    ({"tool_concurrency": 0}, "tool_concurrency"),
    ({"middleware": [42]}, "middleware must be callable"),
    ({"policy": 42}, "policy must have"),
    ({"no_such_option": 1}, "unknown toolbox option"),
])
def test_bad_options_raise_config_error(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Toolbox([], **settings)  # type: ignore[arg-type]  # deliberately wrong keywords


def test_the_toolbox_options_name_its_default_book_and_executor() -> None:
    box = Toolbox()
    assert box.options.approvals is box.approvals and box.options.executor is box.executor


def test_combine_uses_the_first_options_and_merges_contexts() -> None:
    book = MemoryApprovalBook()
    first = Toolbox([wire], approvals=book, context={"x": 1}, timeout_s=3)
    second = Toolbox([balance], context={"y": 2}, timeout_s=8)
    both = combine_toolboxes(first, second)
    assert (both.approvals, both.timeout_s, dict(both.context)) == (book, 3, {"x": 1, "y": 2})
    assert [t.name for t in both] == ["wire", "balance"]


def test_a_recipe_leaves_per_process_state_behind() -> None:
    box = Toolbox([balance], name="r", timeout_s=2, budget=Budget(max_calls=1), on_start=[lambda: None])
    rebuilt = pickle.loads(pickle.dumps(ToolboxRecipe.of(box)))()
    assert (rebuilt.name, rebuilt.timeout_s, rebuilt.budget, rebuilt.hooks["start"]) == ("r", 2, None, ())
    assert rebuilt.approvals is not box.approvals
    assert rebuilt.execute_sync(ToolCall(name="balance")).result == 7


def test_the_old_name_of_tool_lifecycle_still_works_with_a_warning() -> None:
    import armorer_ray
    from armorer_ray import ToolLifecycle
    from armorer_ray import tools as tools_module
    from armorer_ray.lifecycle import Lifecycle as LifecycleProtocol

    with pytest.warns(DeprecationWarning, match="ToolLifecycle"):
        assert tools_module.Lifecycle is ToolLifecycle
    assert ToolLifecycle is not LifecycleProtocol
    armorer_ray.__dict__.pop("Lifecycle", None)  # the package caches a resolved name; resolve it afresh
    with pytest.warns(DeprecationWarning, match="ToolLifecycle"):
        old = armorer_ray.Lifecycle
    assert old is ToolLifecycle


def test_a_tool_run_alone_checks_argument_bounds_like_a_toolbox() -> None:
    nested: dict[str, object] = {}
    for _ in range(2_000):
        nested = {"x": nested}
    result = balance.execute_sync({"arguments": nested})
    assert result.error is not None and result.error.code == "ARGUMENTS_TOO_LARGE"
    assert Toolbox([balance]).execute_sync({"name": "balance", "arguments": nested}).error.code == "ARGUMENTS_TOO_LARGE"
