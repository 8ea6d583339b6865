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

from armorer_ray.approvals import ApprovalBook, MemoryApprovalBook, StoreApprovalBook
from armorer_ray.cancellation import AbortController, AbortSignal
from armorer_ray.context import Approval, CallContext
from armorer_ray.errors import (
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
from armorer_ray.policy import Decision, PolicyContext, PolicyHooks, RiskPolicy
from armorer_ray.query import MetadataFilter, ToolQuery, query_tools
from armorer_ray.results import ActionRequest, Caller, ToolCall, ToolResult
from armorer_ray.sandbox import SandboxExecutor, SandboxLimits
from armorer_ray.sanitize import ArgumentLimits, ConfinePaths
from armorer_ray.shaping import OutputShaping
from armorer_ray.tenancy import TenantAccess, TenantGrant, TenantView
from armorer_ray.toolbox import Budget, Toolbox, ToolboxOptions, ToolboxSettings, combine_toolboxes
from armorer_ray.tools import Lifecycle, Tool, ToolRisk, lazy, tool, with_context

__version__ = "0.1.0"

__all__ = [
    "AbortController",
    "AbortSignal",
    "ActionRequest",
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
    "MissingExtraError",
    "Next",
    "NotFound",
    "OutputShaping",
    "PolicyContext",
    "PolicyHooks",
    "Quota",
    "RateLimit",
    "Retry",
    "RiskPolicy",
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
    "TimedOut",
    "Timeout",
    "Tool",
    "ToolCall",
    "ToolError",
    "ToolExecutionError",
    "ToolFailure",
    "ToolId",
    "ToolIdentity",
    "ToolQuery",
    "ToolResult",
    "ToolRisk",
    "Toolbox",
    "ToolboxOptions",
    "ToolboxSettings",
    "Transient",
    "__version__",
    "classify_exception",
    "combine_toolboxes",
    "format_tool_id",
    "inspect_tool",
    "inspect_toolbox",
    "lazy",
    "parse_tool_id",
    "query_tools",
    "tool",
    "with_context",
]
