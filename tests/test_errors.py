"""Error taxonomy and classification of raised exceptions."""

from __future__ import annotations

import pickle

import pytest

from armorer_ray import Toolbox, ToolError, ToolExecutionError, Transient, classify_exception, tool
from armorer_ray.errors import DEFAULT_CODES, Cancelled, Conflict, Denied, InvalidArguments, NotFound, TimedOut


class MyErr(Exception):
    pass


class CodedError(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@pytest.mark.parametrize(
    ("exc", "category", "code", "retryable", "message"),
    [
        (MyErr("boom"), "internal", "MyErr", False, "MyErr: boom"),
        (Exception("plain"), "internal", "INTERNAL_ERROR", False, "plain"),
        (CodedError("boom", "ECONNRESET"), "transient", "ECONNRESET", True, "CodedError: boom"),
        (ConnectionRefusedError("no"), "transient", "TRANSIENT_ERROR", True, "ConnectionRefusedError: no"),
        (RuntimeError("Rate limit exceeded"), "transient", "TRANSIENT_ERROR", True, "RuntimeError: Rate limit exceeded"),
        (TimeoutError("slow"), "timeout", "TIMEOUT", True, "TimeoutError: slow"),
        (RuntimeError("upstream Timeout"), "timeout", "TIMEOUT", True, "RuntimeError: upstream Timeout"),
        (CodedError("x", "TIMEOUT"), "timeout", "TIMEOUT", True, "CodedError: x"),
        (RuntimeError("it timed out"), "internal", "RuntimeError", False, "RuntimeError: it timed out"),
        ("plain string", "internal", "INTERNAL_ERROR", False, "plain string"),
        ({"x": 1}, "internal", "INTERNAL_ERROR", False, '{"x":1}'),
    ],
)
def test_classification(exc: object, category: str, code: str, retryable: bool, message: str) -> None:
    error = classify_exception(exc)
    assert (error.category, error.code, error.retryable, error.message) == (category, code, retryable, message)


@pytest.mark.parametrize(
    ("failure", "category", "code", "retryable"),
    [
        (InvalidArguments("bad"), "validation", "VALIDATION_ERROR", False),
        (Denied("no"), "permission", "PERMISSION_DENIED", False),
        (NotFound("gone"), "not_found", "NOT_FOUND", False),
        (Conflict("clash"), "conflict", "CONFLICT", False),
        (Transient("blip"), "transient", "TRANSIENT_ERROR", True),
        (TimedOut("late"), "timeout", "TIMEOUT", True),
        (Cancelled("stop"), "cancelled", "CANCELLED", False),
        (Transient("503", code="UPSTREAM_503", retryable=False, details={"status": 503}), "transient", "UPSTREAM_503", False),
    ],
)
async def test_tool_failures_choose_what_the_model_sees(failure: Exception, category: str, code: str,
                                                        retryable: bool) -> None:
    def body() -> None:
        raise failure

    result = await Toolbox([tool(name="f", description="F.")(body)]).execute({"name": "f"})
    assert result.error is not None
    assert (result.error.category, result.error.code, result.error.retryable) == (category, code, retryable)
    assert result.content == result.error.message == str(failure)


def test_default_codes_cover_every_category() -> None:
    for category, code in DEFAULT_CODES.items():
        assert ToolError.of(category, "m").code == code  # type: ignore[arg-type]


def test_tool_execution_error_pickles() -> None:
    error = ToolExecutionError(ToolError.of("timeout", "late"))
    clone = pickle.loads(pickle.dumps(error))
    assert clone.error == error.error and str(clone) == "late"
