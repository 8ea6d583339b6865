"""Observability platforms: OTLP/HTTP providers with vendor presets, and Sentry reports of failed calls.

`otlp_providers` builds an OpenTelemetry SDK tracer provider and meter provider that export over OTLP/HTTP
(protobuf) to one endpoint; hand them to `instrument`. The presets only fill in the endpoint and headers each
vendor documents for its OTLP intake:

- `honeycomb`: ``https://api.honeycomb.io`` (``HONEYCOMB_EU`` for the EU), the ingest key in
  ``x-honeycomb-team``, and ``x-honeycomb-dataset`` for Classic environments only;
- `new_relic`: ``https://otlp.nr-data.net`` or ``https://otlp.eu01.nr-data.net``, the license key in
  ``api-key``, delta metric temporality;
- `datadog`: the Datadog Agent's OTLP/HTTP receiver, ``http://localhost:4318``; the Agent holds the API key.

`sentry_errors` reports failed calls of chosen error categories to Sentry as events tagged with the tool, call
and tenant; call arguments are never attached.

Needs ``pip install 'armorer-ray[otlp]'`` (OTLP) or ``pip install 'armorer-ray[sentry]'`` (Sentry); a missing
one raises `MissingExtraError` on first use, not at import.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, Literal, cast, get_args
from urllib.parse import urlsplit

from armorer_ray.errors import ConfigError, ErrorCategory, MissingExtraError

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    from armorer_ray.events import Event
    from armorer_ray.toolbox import Toolbox

__all__ = ["DATADOG_AGENT", "HONEYCOMB_EU", "HONEYCOMB_US", "NEW_RELIC_ENDPOINTS", "OtlpProtocol", "Temporality",
           "datadog", "honeycomb", "new_relic", "otlp_providers", "sentry_errors"]

OtlpProtocol = Literal["http/protobuf"]
Temporality = Literal["cumulative", "delta"]

HONEYCOMB_US = "https://api.honeycomb.io"
HONEYCOMB_EU = "https://api.eu1.honeycomb.io"
NEW_RELIC_ENDPOINTS: Mapping[str, str] = {"us": "https://otlp.nr-data.net", "eu": "https://otlp.eu01.nr-data.net"}
DATADOG_AGENT = "http://localhost:4318"

# RFC 9110 token characters for a header name; a value must not be able to start a new header line.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CATEGORIES: frozenset[str] = frozenset(get_args(ErrorCategory))


def otlp_providers(endpoint: str, *, headers: Mapping[str, str] | None = None, service_name: str = "armorer-ray",
                   protocol: OtlpProtocol = "http/protobuf", metric_temporality: Temporality = "cumulative",
                   export_interval_s: float = 60.0) -> tuple[TracerProvider, MeterProvider]:
    """Build a tracer provider and a meter provider that export to an OTLP/HTTP endpoint.

    Spans go in batches to ``{endpoint}/v1/traces``, metrics every ``export_interval_s`` seconds to
    ``{endpoint}/v1/metrics``, both as protobuf with ``headers`` on every request. Call ``shutdown()`` (or
    ``force_flush()``) on the providers before the process exits, or the last batch is lost.

    Args:
        endpoint: The collector's base URL, ``http://`` or ``https://`` with a host, without the signal path.
        headers: HTTP headers for every export request (API keys go here).
        service_name: The ``service.name`` resource attribute every span and metric carries.
        protocol: Only ``"http/protobuf"``; the gRPC exporter is not wired in.
        metric_temporality: ``"delta"`` for backends that want per-interval counts (New Relic); else cumulative.
        export_interval_s: Seconds between metric exports.

    Returns:
        ``(tracer_provider, meter_provider)``, ready for ``instrument(toolbox, tracer_provider=...,
        meter_provider=...)``. They are not installed globally.

    Raises:
        ConfigError: A malformed endpoint, header, protocol, temporality or interval.
        MissingExtraError: The ``otlp`` extra is not installed.

    Example:
        >>> tracer_provider, meter_provider = otlp_providers(
        ...     "http://127.0.0.1:4318", headers={"x-team": "demo"}, service_name="agent")
        >>> tracer_provider.resource.attributes["service.name"]
        'agent'
        >>> meter_provider.shutdown(); tracer_provider.shutdown()
        >>> otlp_providers("localhost:4318")
        Traceback (most recent call last):
        armorer_ray.errors.ConfigError: OTLP endpoint must be an http(s) URL with a host, got 'localhost:4318'
    """
    base = _check_endpoint(endpoint)
    sent = _check_headers(headers or {})
    if protocol != "http/protobuf":
        raise ConfigError(f"OTLP protocol {protocol!r} is not supported; use 'http/protobuf'")
    if metric_temporality not in get_args(Temporality):
        raise ConfigError(f"metric_temporality must be 'cumulative' or 'delta', got {metric_temporality!r}")
    if not export_interval_s > 0:
        raise ConfigError(f"export_interval_s must be positive, got {export_interval_s!r}")
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
        from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise MissingExtraError("OTLP export (armorer_ray.telemetry.otlp_providers)", "otlp") from exc

    resource = Resource.create({"service.name": service_name})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces",
                                                                           headers=sent)))
    # Only the instruments `instrument` creates need a choice: counters and histograms.
    temporality: dict[type, AggregationTemporality] | None = None
    if metric_temporality == "delta":
        temporality = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}
    exporter = OTLPMetricExporter(endpoint=f"{base}/v1/metrics", headers=sent, preferred_temporality=temporality)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=export_interval_s * 1000)
    return tracer_provider, MeterProvider(metric_readers=[reader], resource=resource)


def honeycomb(api_key: str, dataset: str | None = None, *, endpoint: str = HONEYCOMB_US,
              service_name: str = "armorer-ray") -> tuple[TracerProvider, MeterProvider]:
    """`otlp_providers` for Honeycomb: its OTLP endpoint and the ``x-honeycomb-team`` key header.

    Args:
        api_key: A Honeycomb ingest API key.
        dataset: Only for Honeycomb Classic: the dataset, sent as ``x-honeycomb-dataset``. Environments name
            trace datasets after ``service.name`` and need none.
        endpoint: ``HONEYCOMB_US`` (default), ``HONEYCOMB_EU``, or another base URL (a local collector, a test).
        service_name: The ``service.name`` resource attribute.

    Returns:
        ``(tracer_provider, meter_provider)`` as `otlp_providers` returns them.

    Raises:
        ConfigError: An empty key or dataset, or a malformed endpoint.
        MissingExtraError: The ``otlp`` extra is not installed.

    Example:
        >>> providers = honeycomb("hcaik_example")   # doctest: +SKIP
    """
    headers = {"x-honeycomb-team": _required(api_key, "Honeycomb api_key")}
    if dataset is not None:
        headers["x-honeycomb-dataset"] = _required(dataset, "Honeycomb dataset")
    return otlp_providers(endpoint, headers=headers, service_name=service_name)


def new_relic(license_key: str, region: Literal["us", "eu"] = "us", *, endpoint: str | None = None,
              service_name: str = "armorer-ray") -> tuple[TracerProvider, MeterProvider]:
    """`otlp_providers` for New Relic: its regional OTLP endpoint, the ``api-key`` header, delta metrics.

    Args:
        license_key: The New Relic license (ingest) key of the account to report to.
        region: ``"us"`` (``otlp.nr-data.net``) or ``"eu"`` (``otlp.eu01.nr-data.net``).
        endpoint: Overrides the regional endpoint (a local collector, a test).
        service_name: The ``service.name`` resource attribute.

    Returns:
        ``(tracer_provider, meter_provider)`` as `otlp_providers` returns them, with delta metric temporality,
        which New Relic's metric ingest expects.

    Raises:
        ConfigError: An empty key, an unknown region, or a malformed endpoint.
        MissingExtraError: The ``otlp`` extra is not installed.

    Example:
        >>> providers = new_relic("NRAK-example", region="eu")   # doctest: +SKIP
        >>> new_relic("key", region="ap")
        Traceback (most recent call last):
        armorer_ray.errors.ConfigError: New Relic region must be one of ['eu', 'us'], got 'ap'
    """
    if region not in NEW_RELIC_ENDPOINTS:
        raise ConfigError(f"New Relic region must be one of {sorted(NEW_RELIC_ENDPOINTS)}, got {region!r}")
    headers = {"api-key": _required(license_key, "New Relic license_key")}
    return otlp_providers(endpoint or NEW_RELIC_ENDPOINTS[region], headers=headers, service_name=service_name,
                          metric_temporality="delta")


def datadog(agent_url: str = DATADOG_AGENT, *, service_name: str = "armorer-ray") -> tuple[TracerProvider,
                                                                                            MeterProvider]:
    """`otlp_providers` for Datadog through the Datadog Agent's OTLP/HTTP receiver.

    The Agent must have OTLP ingest turned on (it is off by default) and holds the Datadog API key itself, so
    no key is configured here. Datadog documents this setup for an Agent on the same host as the application.

    Args:
        agent_url: The Agent's OTLP/HTTP receiver (default ``http://localhost:4318``).
        service_name: The ``service.name`` resource attribute, which Datadog shows as the service.

    Returns:
        ``(tracer_provider, meter_provider)`` as `otlp_providers` returns them.

    Raises:
        ConfigError: A malformed ``agent_url``.
        MissingExtraError: The ``otlp`` extra is not installed.

    Example:
        >>> tracer_provider, meter_provider = datadog(service_name="checkout-agent")
        >>> meter_provider.shutdown(); tracer_provider.shutdown()
    """
    return otlp_providers(agent_url, service_name=service_name)


def sentry_errors(toolbox: Toolbox, *, categories: Collection[ErrorCategory] = ("internal", "timeout"),
                  capture: Callable[[dict[str, Any]], object] | None = None,
                  include_message: bool = True) -> Callable[[], None]:
    """Report each failed call of ``toolbox`` whose error category is in ``categories`` to Sentry.

    One event per failed call, at level ``error``, grouped by tool and error code, tagged ``armorer.tool``,
    ``armorer.tool_id``, ``armorer.call_id``, ``armorer.tenant_id`` (when the call has one),
    ``armorer.error.code`` and ``armorer.error.category``. The call's arguments and the result are never
    sent, whatever the SDK is configured to add: the event goes to the client without a scope (so no
    breadcrumbs, request data, user, extras or scope event processors are merged in) and with an empty thread
    list (so ``attach_stacktrace`` cannot add frames, nor ``include_local_variables`` their locals). Only your
    own ``before_send`` still sees it. The error message is sent (``include_message``) with every argument
    value of four or more characters that occurs in it replaced by ``[redacted]``; turn it off if your tools
    may echo shorter secrets.

    Args:
        toolbox: The toolbox to watch.
        categories: Error categories to report; the default skips the caller's mistakes (validation,
            permission, not_found, ...) and reports our faults and timeouts.
        capture: Receives each Sentry event dict (default ``sentry_sdk.capture_event``, so the process's
            ``sentry_sdk.init`` decides where events go).
        include_message: Put the error's message, with argument values redacted, in the event.

    Returns:
        A function that stops reporting.

    Raises:
        ConfigError: An unknown category.
        MissingExtraError: ``capture`` is not given and the ``sentry`` extra is not installed.

    Example:
        >>> from armorer_ray import Toolbox, tool
        >>> box = Toolbox([tool(name="div", description="Divide.")(lambda a, b: a / b)])
        >>> sent = []
        >>> stop = sentry_errors(box, capture=sent.append)
        >>> box.execute_sync({"name": "div", "arguments": {"a": 1, "b": 0}}).ok
        False
        >>> sent[0]["tags"]["armorer.tool"], sent[0]["tags"]["armorer.error.category"]
        ('div', 'internal')
        >>> stop()
    """
    chosen = frozenset(categories)
    if not chosen <= _CATEGORIES:
        raise ConfigError(f"unknown error categories {sorted(chosen - _CATEGORIES)}; "
                          f"choose from {sorted(_CATEGORIES)}")
    send = capture if capture is not None else _sentry_capture()

    def on_finished(event: Event) -> None:
        result = event.detail["result"]
        error = result.error
        if error is None or error.category not in chosen:
            return
        call, tool = event.detail["call"], event.detail.get("tool")
        tags = {"armorer.tool": result.tool_name, "armorer.call_id": result.call_id,
                "armorer.error.code": error.code, "armorer.error.category": error.category,
                "armorer.toolbox": toolbox.name}
        if tool is not None:
            tags["armorer.tool_id"] = tool.id
        if call.tenant_id:
            tags["armorer.tenant_id"] = call.tenant_id
        # The code is a tag already; the message replaces it in the title when it may be sent.
        reason = f": {_redact(error.message, call.arguments)}" if include_message else f" ({error.code})"
        send({"level": "error", "logger": "armorer_ray", "message": f"tool {result.tool_name} failed{reason}",
              "tags": tags, "fingerprint": ["armorer", result.tool_name, error.code],
              # Present but empty, so the SDK's attach_stacktrace adds no frames (and no frame locals).
              "threads": {"values": []}})

    return toolbox.on("call.finished", on_finished)


def _sentry_capture() -> Callable[[dict[str, Any]], object]:
    try:
        import sentry_sdk
    except ImportError as exc:
        raise MissingExtraError("Sentry error reports (armorer_ray.telemetry.sentry_errors)", "sentry") from exc

    def capture(event: dict[str, Any]) -> object:
        # Straight to the client with no scope: scopes carry breadcrumbs, request bodies, users and extras
        # that integrations collect from the running call, arguments included (sentry-sdk 3 attaches frames
        # and their locals by default). sentry_sdk types events as a TypedDict; ours is a documented subset.
        return sentry_sdk.get_client().capture_event(cast(Any, event), scope=None)

    return capture


_REDACTED = "[redacted]"


def _redact(message: str, arguments: Mapping[str, object]) -> str:
    """``message`` with each scalar argument value (4+ characters as text, nested ones included) replaced."""
    values: set[str] = set()
    pending: list[object] = [arguments]
    while pending:  # iterative: arguments may nest deeper than the recursion limit
        value = pending.pop()
        if isinstance(value, Mapping):
            pending.extend(value.values())
        elif isinstance(value, (list, tuple)):
            pending.extend(value)
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool) and len(str(value)) >= 4:
            values.add(str(value))
    for text in sorted(values, key=len, reverse=True):  # longest first: a value may contain another
        message = message.replace(text, _REDACTED)
    return message


def _check_endpoint(endpoint: str) -> str:
    parts = urlsplit(endpoint) if isinstance(endpoint, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"OTLP endpoint must be an http(s) URL with a host, got {endpoint!r}")
    return endpoint.rstrip("/")


def _check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise ConfigError(f"invalid HTTP header name {name!r}")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise ConfigError(f"the value of header {name!r} must be a string without line breaks")
    return dict(headers)


def _required(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} must be a non-empty string")
    return value
