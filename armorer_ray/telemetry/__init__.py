"""Telemetry: OpenTelemetry spans and metrics for every call, and trace-context propagation to actors."""

from armorer_ray.telemetry.instrument import instrument

__all__ = ["instrument"]
