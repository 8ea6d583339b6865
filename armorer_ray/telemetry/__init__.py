"""Telemetry: OpenTelemetry spans and metrics (`instrument`), in-process analytics (`Analytics`), error-rate
alerts (`ErrorRateAlert`), a per-stage profiler (`profile`), trace-context propagation to actors, and
observability platforms (`otlp_providers` with Honeycomb, New Relic and Datadog presets; `sentry_errors`)."""

from armorer_ray.deprecations import moved_names
from armorer_ray.telemetry.alerts import ErrorRateAlert
from armorer_ray.telemetry.analytics import OTHER_TENANTS, Analytics, ResultCost
from armorer_ray.telemetry.instrument import instrument
from armorer_ray.telemetry.platforms import datadog, honeycomb, new_relic, otlp_providers, sentry_errors
from armorer_ray.telemetry.profiler import STAGES, Bottleneck, Profiler, ProfileReport, StageProfile, profile
from armorer_ray.telemetry.sketch import LatencySketch
from armorer_ray.telemetry.stats import AnalyticsSnapshot, StatsCell, ToolStats

__all__ = ["OTHER_TENANTS", "STAGES", "Analytics", "AnalyticsSnapshot", "Bottleneck", "ErrorRateAlert",
           "LatencySketch", "ProfileReport", "Profiler", "ResultCost", "StageProfile", "StatsCell", "ToolStats",
           "datadog", "honeycomb", "instrument", "new_relic", "otlp_providers", "profile", "sentry_errors"]

__getattr__ = moved_names(__name__)  # renamed names still import, with a warning naming the fix
