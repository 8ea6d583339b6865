"""Observability platforms: spans and metrics of real toolbox calls reach a loopback OTLP/HTTP receiver with
each preset's headers; Sentry gets one event per failed call with tags and never the arguments.

No vendor is contacted: the OTLP receiver is an http.server on 127.0.0.1 and Sentry events go to an in-memory
transport.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("opentelemetry.exporter.otlp.proto.http", reason="pip install 'armorer-ray[otlp]'")
pytest.importorskip("sentry_sdk", reason="pip install 'armorer-ray[sentry]'")

import sentry_sdk
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from armorer_ray import CallContext, Toolbox, ToolCall, tool
from armorer_ray.errors import ConfigError, MissingExtraError
from armorer_ray.telemetry import datadog, honeycomb, instrument, new_relic, otlp_providers, sentry_errors

# -- a loopback OTLP/HTTP receiver ---------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """Every span posted to /v1/traces, with its resource attributes."""
        out = []
        for request in self.on("/v1/traces"):
            export = ExportTraceServiceRequest.FromString(request.body)
            for resource_spans in export.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                out += [(resource, span) for scope in resource_spans.scope_spans for span in scope.spans]
        return out

    def metrics(self) -> dict[str, Any]:
        """Every metric posted to /v1/metrics, by name (the last export wins)."""
        out = {}
        for request in self.on("/v1/metrics"):
            export = ExportMetricsServiceRequest.FromString(request.body)
            for resource_metrics in export.resource_metrics:
                for scope in resource_metrics.scope_metrics:
                    out.update({metric.name: metric for metric in scope.metrics})
        return out

    def on(self, path: str) -> list[Received]:
        return [request for request in self.requests if request.path == path]


def attributes(pairs: Any) -> dict[str, Any]:
    def value(kv: KeyValue) -> Any:
        return getattr(kv.value, str(kv.value.WhichOneof("value")))
    return {kv.key: value(kv) for kv in pairs}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            got.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}", got)
    finally:
        server.shutdown()
        server.server_close()


def toolbox() -> Toolbox:
    ok = tool(name="lookup", description="Look up.")(lambda key: f"value of {key}")
    bad = tool(name="divide", description="Divide.")(lambda a, b: a / b)
    return Toolbox([ok, bad])


def run_calls(providers: tuple[Any, Any]) -> None:
    tracer_provider, meter_provider = providers
    box = toolbox()
    stop = instrument(box, tracer_provider=tracer_provider, meter_provider=meter_provider)
    box.execute_sync(ToolCall(id="c1", name="lookup", arguments={"key": "k"}, tenant_id="acme"))
    box.execute_sync(ToolCall(id="c2", name="divide", arguments={"a": 1, "b": 0}))
    stop()
    # shutdown flushes: the batch span processor and the periodic metric reader export what they hold.
    tracer_provider.shutdown()
    meter_provider.shutdown()


# -- OTLP presets ------------------------------------------------------------------------------------------


def test_honeycomb_spans_and_metrics_reach_the_endpoint_with_its_headers(receiver: Receiver) -> None:
    run_calls(honeycomb("hc-key", dataset="agents", endpoint=receiver.url, service_name="support-bot"))
    spans = {span.attributes and attributes(span.attributes)["gen_ai.tool.call.id"]: (resource, span)
             for resource, span in receiver.spans()}
    assert set(spans) == {"c1", "c2"}
    resource, ok = spans["c1"]
    assert resource["service.name"] == "support-bot"
    assert ok.name == "execute_tool lookup"
    assert attributes(ok.attributes)["gen_ai.tool.name"] == "lookup"
    assert attributes(ok.attributes)["armorer.tenant_id"] == "acme"
    _, failed = spans["c2"]
    assert failed.status.code == Status.STATUS_CODE_ERROR
    assert attributes(failed.attributes)["error.type"] == "ZeroDivisionError"
    for request in receiver.requests:
        assert request.headers["x-honeycomb-team"] == "hc-key"
        assert request.headers["x-honeycomb-dataset"] == "agents"
        assert request.headers["content-type"] == "application/x-protobuf"
    calls = receiver.metrics()["armorer.tool.calls"]
    counted = {(attributes(p.attributes)["gen_ai.tool.name"], attributes(p.attributes)["armorer.outcome"]): p.as_int
               for p in calls.sum.data_points}
    assert counted == {("lookup", "success"): 1, ("divide", "error"): 1}
    assert calls.sum.aggregation_temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


def test_honeycomb_environments_send_no_dataset_header(receiver: Receiver) -> None:
    run_calls(honeycomb("hc-key", endpoint=receiver.url))
    assert receiver.requests
    assert all("x-honeycomb-dataset" not in request.headers for request in receiver.requests)


def test_new_relic_sends_its_api_key_and_delta_metrics(receiver: Receiver) -> None:
    run_calls(new_relic("nr-license", region="eu", endpoint=receiver.url))
    assert {request.path for request in receiver.requests} == {"/v1/traces", "/v1/metrics"}
    assert all(request.headers["api-key"] == "nr-license" for request in receiver.requests)
    assert {span.name for _, span in receiver.spans()} == {"execute_tool lookup", "execute_tool divide"}
    metrics = receiver.metrics()
    assert metrics["armorer.tool.calls"].sum.aggregation_temporality == \
        AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    assert metrics["armorer.tool.duration"].histogram.aggregation_temporality == \
        AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA


def test_datadog_agent_gets_spans_without_any_api_key(receiver: Receiver) -> None:
    run_calls(datadog(f"{receiver.url}/", service_name="checkout"))
    assert {resource["service.name"] for resource, _ in receiver.spans()} == {"checkout"}
    for request in receiver.requests:
        assert not {"api-key", "x-honeycomb-team", "dd-api-key", "authorization"} & set(request.headers)


def test_otlp_providers_send_arbitrary_headers(receiver: Receiver) -> None:
    run_calls(otlp_providers(receiver.url, headers={"authorization": "Bearer t0ken", "x-scope": "tenant-a"}))
    assert receiver.on("/v1/traces")
    assert all(r.headers["authorization"] == "Bearer t0ken" and r.headers["x-scope"] == "tenant-a"
               for r in receiver.requests)


def test_the_presets_default_to_the_documented_vendor_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    from armorer_ray.telemetry import platforms

    seen: list[tuple[str, dict[str, str]]] = []
    monkeypatch.setattr(platforms, "otlp_providers",
                        lambda endpoint, *, headers=None, **_: seen.append((endpoint, dict(headers or {}))))
    honeycomb("k")
    new_relic("k")
    new_relic("k", region="eu")
    datadog()
    assert seen == [("https://api.honeycomb.io", {"x-honeycomb-team": "k"}),
                    ("https://otlp.nr-data.net", {"api-key": "k"}),
                    ("https://otlp.eu01.nr-data.net", {"api-key": "k"}),
                    ("http://localhost:4318", {})]


@pytest.mark.parametrize("make", [
    lambda: otlp_providers("localhost:4318"),
    lambda: otlp_providers("ftp://collector"),
    lambda: otlp_providers("http://"),
    lambda: otlp_providers("http://c:4318?x=1"),
    lambda: otlp_providers("http://c:4318", headers={"bad name": "v"}),
    lambda: otlp_providers("http://c:4318", headers={"x": "a\r\nInjected: 1"}),
    lambda: otlp_providers("http://c:4318", protocol="grpc"),  # type: ignore[arg-type]
    lambda: otlp_providers("http://c:4318", metric_temporality="weekly"),  # type: ignore[arg-type]
    lambda: otlp_providers("http://c:4318", export_interval_s=0),
    lambda: honeycomb(""),
    lambda: honeycomb("k", dataset=" "),
    lambda: new_relic("k", region="ap"),  # type: ignore[arg-type]
    lambda: new_relic("  "),
])
def test_bad_configuration_is_a_config_error(make: Any) -> None:
    with pytest.raises(ConfigError):
        make()


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_endpoint_without_an_http_scheme_is_refused(endpoint: str) -> None:
    if endpoint.lower().startswith(("http://", "https://")):
        return
    with pytest.raises(ConfigError, match="OTLP endpoint"):
        otlp_providers(endpoint)


@settings(max_examples=100, deadline=None)
@given(st.tuples(st.text(), st.sampled_from("\r\n\0"), st.text()).map("".join))
def test_header_values_that_could_split_the_request_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="line breaks"):
        otlp_providers("http://127.0.0.1:4318", headers={"x-key": value})


def test_a_missing_otlp_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'armorer-ray\[otlp\]'"):
        honeycomb("k")


# -- Sentry ------------------------------------------------------------------------------------------------


class CapturingTransport(Transport):
    """Keeps envelopes in memory: nothing leaves the process."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


@pytest.fixture
def sentry() -> Iterator[CapturingTransport]:
    sentry_sdk.init(dsn="http://public@127.0.0.1:9/1", transport=CapturingTransport, default_integrations=False)
    transport = sentry_sdk.get_client().transport
    assert isinstance(transport, CapturingTransport)
    try:
        yield transport
    finally:
        sentry_sdk.init(dsn=None)


def events(transport: CapturingTransport) -> list[dict[str, Any]]:
    sentry_sdk.flush()
    return [dict(event) for envelope in transport.envelopes if (event := envelope.get_event()) is not None]


def sentry_toolbox() -> Toolbox:
    @tool(timeout_s=0.05)
    async def hang(ctx: CallContext) -> None:
        "Wait forever."
        await asyncio.Event().wait()

    @tool
    def charge(card: str, amount: int) -> str:
        "Charge a card."
        raise RuntimeError(f"card {card} declined for {amount}")

    lookup = tool(name="lookup", description="Look up.")(lambda key: key)
    return Toolbox([hang, charge, lookup])


SECRET = "4111-1111-1111-1111"


def test_one_sentry_event_per_failed_call_with_tags(sentry: CapturingTransport) -> None:
    box = sentry_toolbox()
    stop = sentry_errors(box)
    box.execute_sync(ToolCall(id="ok", name="lookup", arguments={"key": SECRET}, tenant_id="acme"))
    invalid = box.execute_sync(ToolCall(id="bad-args", name="charge", arguments={"card": SECRET}))  # no amount
    assert invalid.error is not None and invalid.error.category == "validation"
    box.execute_sync(ToolCall(id="t1", name="hang", tenant_id="acme"))
    box.execute_sync(ToolCall(id="c1", name="charge", arguments={"card": "x", "amount": 5}, tenant_id="beta"))
    stop()
    box.execute_sync(ToolCall(id="after", name="hang"))  # detached: not reported
    got = events(sentry)
    assert [event["tags"]["armorer.call_id"] for event in got] == ["t1", "c1"]
    timeout, failure = got
    assert timeout["tags"] == {"armorer.tool": "hang", "armorer.tool_id": "default:hang", "armorer.call_id": "t1",
                               "armorer.tenant_id": "acme", "armorer.error.code": "TIMEOUT",
                               "armorer.error.category": "timeout", "armorer.toolbox": box.name}
    assert timeout["level"] == "error" and timeout["fingerprint"] == ["armorer", "hang", "TIMEOUT"]
    assert failure["tags"]["armorer.error.category"] == "internal"
    assert failure["tags"]["armorer.tenant_id"] == "beta"
    assert "declined" in failure["message"]
    assert SECRET not in json.dumps(got, default=str)


def test_messages_can_be_left_out_when_tools_echo_arguments(sentry: CapturingTransport) -> None:
    box = sentry_toolbox()
    sentry_errors(box, include_message=False)
    box.execute_sync(ToolCall(name="charge", arguments={"card": SECRET, "amount": 5}))
    got = events(sentry)
    assert len(got) == 1 and got[0]["tags"]["armorer.tool"] == "charge"
    assert SECRET not in json.dumps(got, default=str)


SDK_MAJOR = int(sentry_sdk.VERSION.split(".")[0])
# Every option that adds call data to events, spelled as the installed SDK spells it (3.x folds the 2.x
# switches into data_collection).
EVERYTHING_ON: dict[str, Any] = {"attach_stacktrace": True, "max_request_body_size": "always",
                                 "default_integrations": True}
if SDK_MAJOR >= 3:
    EVERYTHING_ON["data_collection"] = {"user_info": True, "stack_frame_variables": True, "frame_context_lines": 5}
else:
    EVERYTHING_ON.update(include_local_variables=True, send_default_pii=True)
SDK_CONFIGURATIONS: dict[str, dict[str, Any]] = {"defaults": {}, "everything_on": EVERYTHING_ON}


@pytest.mark.parametrize("include_message", [True, False])
@pytest.mark.parametrize("configuration", sorted(SDK_CONFIGURATIONS))
def test_sentry_never_receives_arguments_whatever_the_sdk_adds(configuration: str, include_message: bool) -> None:
    """Everything the transport receives, serialised, never contains an argument value."""
    sentry_sdk.init(dsn="http://public@127.0.0.1:9/1", transport=CapturingTransport,
                    **SDK_CONFIGURATIONS[configuration])
    transport = sentry_sdk.get_client().transport
    assert isinstance(transport, CapturingTransport)
    try:
        box = sentry_toolbox()
        sentry_errors(box, include_message=include_message)
        # What integrations and user code put on the scopes while a call runs: all of it must stay out.
        sentry_sdk.add_breadcrumb(message=f"charging {SECRET}")
        sentry_sdk.set_extra("card", SECRET)
        sentry_sdk.set_user({"id": SECRET})
        logging.getLogger("checkout").warning("about to charge %s", SECRET)
        result = box.execute_sync(ToolCall(name="charge", arguments={"card": SECRET, "amount": 1234}))
        assert result.error is not None and result.error.category == "internal"
        sentry_sdk.flush()
        sent = b"".join(envelope.serialize() for envelope in transport.envelopes)
        got = events(transport)
    finally:
        sentry_sdk.init(dsn=None)
    assert len(got) == 1 and got[0]["tags"]["armorer.tool"] == "charge"
    assert SECRET.encode() not in sent and b"1234" not in sent
    assert got[0]["threads"] == {"values": []}
    assert not got[0].get("breadcrumbs", {}).get("values") and "user" not in got[0] and "extra" not in got[0]
    if include_message:
        assert got[0]["message"].endswith("card [redacted] declined for [redacted]")
    else:
        assert got[0]["message"] == f"tool charge failed ({result.error.code})"


def test_only_the_chosen_categories_are_reported(sentry: CapturingTransport) -> None:
    box = sentry_toolbox()
    sentry_errors(box, categories=["validation"])
    box.execute_sync(ToolCall(name="charge", arguments={"card": "x", "amount": 5}))
    box.execute_sync(ToolCall(name="charge", arguments={"card": "x"}))
    got = events(sentry)
    assert [event["tags"]["armorer.error.category"] for event in got] == ["validation"]


def test_successes_send_nothing(sentry: CapturingTransport) -> None:
    box = sentry_toolbox()
    sentry_errors(box)
    for n in range(3):
        assert box.execute_sync(ToolCall(name="lookup", arguments={"key": str(n)})).ok
    assert events(sentry) == []


def test_a_custom_capture_gets_the_event_dicts() -> None:
    box = sentry_toolbox()
    sent: list[dict[str, Any]] = []
    sentry_errors(box, capture=sent.append)
    box.execute_sync(ToolCall(name="charge", arguments={"card": "x", "amount": 1}))
    assert [event["tags"]["armorer.tool"] for event in sent] == ["charge"]


def test_unknown_categories_and_a_missing_extra_are_typed_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="unknown error categories"):
        sentry_errors(toolbox(), categories=["internal", "oops"])  # type: ignore[list-item]
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'armorer-ray\[sentry\]'"):
        sentry_errors(toolbox())
