"""armorer-ray: validated tools for LLM agents, from a laptop to a Ray cluster.

Example:
    >>> from armorer_ray import tool, Toolbox, ToolCall
    >>> @tool(tags=["math"])
    ... async def add(a: int, b: int) -> int:
    ...     "Add two integers."
    ...     return a + b
    >>> Toolbox([add]).execute_sync(ToolCall(name="add", arguments={"a": 1, "b": 2})).content
    3
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from armorer_ray._exports import lazy_exports

__version__ = "0.1.0"


# Public names load on first use (PEP 562) so `import armorer_ray` stays light; see armorer_ray/_exports.py.
if TYPE_CHECKING:
    from armorer_ray.approvals import ApprovalBook, MemoryApprovalBook, StoreApprovalBook
    from armorer_ray.cancellation import AbortController, AbortSignal
    from armorer_ray.context import Approval, CallContext
    from armorer_ray.digests import Digests
    from armorer_ray.errors import (
        ActionRequired,
        ArmorerError,
        Backpressure,
        Cancelled,
        ConfigError,
        Conflict,
        Denied,
        DeploymentError,
        InvalidArguments,
        MissingExtraError,
        NotFound,
        SandboxError,
        SandboxLimitExceeded,
        StoreError,
        TimedOut,
        ToolError,
        ToolExecutionError,
        ToolFailure,
        Transient,
        classify_exception,
    )
    from armorer_ray.events import Event, EventHub
    from armorer_ray.executors import Executor, LocalExecutor
    from armorer_ray.identity import ToolId, ToolIdentity, format_tool_id, parse_tool_id
    from armorer_ray.inspection import inspect_tool, inspect_toolbox
    from armorer_ray.lifecycle import Health
    from armorer_ray.middleware import (
        AdmissionController,
        AuditLog,
        Cache,
        CircuitBreaker,
        Compression,
        Dedupe,
        Fallback,
        Middleware,
        Next,
        Quota,
        RateLimit,
        Retry,
        TenantContext,
        Timeout,
    )
    from armorer_ray.migrations import Migration
    from armorer_ray.policy import Decision, Policies, Policy, PolicyContext, PolicyHooks, PolicyLike, RiskPolicy
    from armorer_ray.policy_context import PolicyContextProvider
    from armorer_ray.query import MetadataFilter, ToolQuery, ToolQueryFields, ToolSummary, query_tools
    from armorer_ray.registry import create_registry
    from armorer_ray.results import ActionRequest, Caller, ToolCall, ToolResult
    from armorer_ray.sandbox import SandboxCapabilities, SandboxExecutor, SandboxLimits
    from armorer_ray.sanitize import ArgumentLimits, ConfinePaths
    from armorer_ray.shaping import OutputShaping
    from armorer_ray.tenancy import TenantAccess, TenantGrant, TenantView
    from armorer_ray.text_match import TextQuery
    from armorer_ray.toolbox import Budget, Toolbox, ToolboxOptions, ToolboxSettings, combine_toolboxes
    from armorer_ray.tools import Lifecycle, Tool, ToolLifecycle, ToolRisk, lazy, tool, with_context
    from armorer_ray.versioned import Versioning

_EXPORTS: dict[str, str] = {
    "AbortController": "armorer_ray.cancellation",
    "AbortSignal": "armorer_ray.cancellation",
    "ActionRequest": "armorer_ray.results",
    "ActionRequired": "armorer_ray.errors",
    "AdmissionController": "armorer_ray.middleware",
    "Approval": "armorer_ray.context",
    "ApprovalBook": "armorer_ray.approvals",
    "ArgumentLimits": "armorer_ray.sanitize",
    "ArmorerError": "armorer_ray.errors",
    "AuditLog": "armorer_ray.middleware",
    "Backpressure": "armorer_ray.errors",
    "Budget": "armorer_ray.toolbox",
    "Cache": "armorer_ray.middleware",
    "CallContext": "armorer_ray.context",
    "Caller": "armorer_ray.results",
    "Cancelled": "armorer_ray.errors",
    "CircuitBreaker": "armorer_ray.middleware",
    "Compression": "armorer_ray.middleware",
    "ConfigError": "armorer_ray.errors",
    "ConfinePaths": "armorer_ray.sanitize",
    "Conflict": "armorer_ray.errors",
    "Decision": "armorer_ray.policy",
    "Dedupe": "armorer_ray.middleware",
    "Denied": "armorer_ray.errors",
    "DeploymentError": "armorer_ray.errors",
    "Event": "armorer_ray.events",
    "EventHub": "armorer_ray.events",
    "Executor": "armorer_ray.executors",
    "Fallback": "armorer_ray.middleware",
    "Health": "armorer_ray.lifecycle",
    "InvalidArguments": "armorer_ray.errors",
    "Lifecycle": "armorer_ray.tools",  # deprecated: ToolLifecycle
    "LocalExecutor": "armorer_ray.executors",
    "MemoryApprovalBook": "armorer_ray.approvals",
    "MetadataFilter": "armorer_ray.query",
    "Middleware": "armorer_ray.middleware",
    "MissingExtraError": "armorer_ray.errors",
    "Next": "armorer_ray.middleware",
    "NotFound": "armorer_ray.errors",
    "OutputShaping": "armorer_ray.shaping",
    "Policies": "armorer_ray.policy",
    "Policy": "armorer_ray.policy",
    "PolicyContext": "armorer_ray.policy",
    "PolicyHooks": "armorer_ray.policy",
    "PolicyLike": "armorer_ray.policy",
    "Quota": "armorer_ray.middleware",
    "RateLimit": "armorer_ray.middleware",
    "Retry": "armorer_ray.middleware",
    "RiskPolicy": "armorer_ray.policy",
    "SandboxError": "armorer_ray.errors",
    "SandboxCapabilities": "armorer_ray.sandbox",
    "SandboxExecutor": "armorer_ray.sandbox",
    "SandboxLimitExceeded": "armorer_ray.errors",
    "SandboxLimits": "armorer_ray.sandbox",
    "StoreApprovalBook": "armorer_ray.approvals",
    "StoreError": "armorer_ray.errors",
    "TenantAccess": "armorer_ray.tenancy",
    "TenantContext": "armorer_ray.middleware",
    "TenantGrant": "armorer_ray.tenancy",
    "TenantView": "armorer_ray.tenancy",
    "TimedOut": "armorer_ray.errors",
    "Timeout": "armorer_ray.middleware",
    "Tool": "armorer_ray.tools",
    "ToolCall": "armorer_ray.results",
    "ToolError": "armorer_ray.errors",
    "ToolExecutionError": "armorer_ray.errors",
    "ToolFailure": "armorer_ray.errors",
    "ToolId": "armorer_ray.identity",
    "ToolIdentity": "armorer_ray.identity",
    "ToolQuery": "armorer_ray.query",
    "ToolQueryFields": "armorer_ray.query",
    "ToolSummary": "armorer_ray.query",
    "ToolResult": "armorer_ray.results",
    "ToolRisk": "armorer_ray.tools",
    "Toolbox": "armorer_ray.toolbox",
    "ToolLifecycle": "armorer_ray.tools",
    "ToolboxOptions": "armorer_ray.toolbox",
    "ToolboxSettings": "armorer_ray.toolbox",
    "Transient": "armorer_ray.errors",
    "classify_exception": "armorer_ray.errors",
    "combine_toolboxes": "armorer_ray.toolbox",
    "format_tool_id": "armorer_ray.identity",
    "inspect_tool": "armorer_ray.inspection",
    "inspect_toolbox": "armorer_ray.inspection",
    "lazy": "armorer_ray.tools",
    "parse_tool_id": "armorer_ray.identity",
    "query_tools": "armorer_ray.query",
    "Digests": "armorer_ray.digests",
    "Migration": "armorer_ray.migrations",
    "Versioning": "armorer_ray.versioned",
    "create_registry": "armorer_ray.registry",
    "PolicyContextProvider": "armorer_ray.policy_context",
    "TextQuery": "armorer_ray.text_match",
    "tool": "armorer_ray.tools",
    "with_context": "armorer_ray.tools",
}

__all__ = [
    "AbortController",
    "AbortSignal",
    "ActionRequest",
    "ActionRequired",
    "AdmissionController",
    "Approval",
    "ApprovalBook",
    "ArgumentLimits",
    "ArmorerError",
    "AuditLog",
    "Backpressure",
    "Budget",
    "Cache",
    "CallContext",
    "Caller",
    "Cancelled",
    "CircuitBreaker",
    "Compression",
    "ConfigError",
    "ConfinePaths",
    "Conflict",
    "Decision",
    "Dedupe",
    "Denied",
    "DeploymentError",
    "Digests",
    "Event",
    "EventHub",
    "Executor",
    "Fallback",
    "Health",
    "InvalidArguments",
    "Lifecycle",
    "LocalExecutor",
    "MemoryApprovalBook",
    "MetadataFilter",
    "Middleware",
    "Migration",
    "MissingExtraError",
    "Next",
    "NotFound",
    "OutputShaping",
    "Policies",
    "Policy",
    "PolicyContext",
    "PolicyContextProvider",
    "PolicyHooks",
    "PolicyLike",
    "Quota",
    "RateLimit",
    "Retry",
    "RiskPolicy",
    "SandboxCapabilities",
    "SandboxError",
    "SandboxExecutor",
    "SandboxLimitExceeded",
    "SandboxLimits",
    "StoreApprovalBook",
    "StoreError",
    "TenantAccess",
    "TenantContext",
    "TenantGrant",
    "TenantView",
    "TextQuery",
    "TimedOut",
    "Timeout",
    "Tool",
    "ToolCall",
    "ToolError",
    "ToolExecutionError",
    "ToolFailure",
    "ToolId",
    "ToolIdentity",
    "ToolLifecycle",
    "ToolQuery",
    "ToolQueryFields",
    "ToolResult",
    "ToolRisk",
    "ToolSummary",
    "Toolbox",
    "ToolboxOptions",
    "ToolboxSettings",
    "Transient",
    "Versioning",
    "__version__",
    "classify_exception",
    "combine_toolboxes",
    "create_registry",
    "format_tool_id",
    "inspect_tool",
    "inspect_toolbox",
    "lazy",
    "parse_tool_id",
    "query_tools",
    "tool",
    "with_context",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS, __all__)
