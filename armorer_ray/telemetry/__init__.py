"""Telemetry: OpenTelemetry spans and metrics (`instrument`), in-process analytics (`Analytics`), error-rate
alerts (`ErrorRateAlert`), a per-stage profiler (`profile`), and trace-context propagation to actors."""

from armorer_ray.telemetry.alerts import ErrorRateAlert
from armorer_ray.telemetry.analytics import OTHER_TENANTS, Analytics, ResultCost
from armorer_ray.telemetry.instrument import instrument
from armorer_ray.telemetry.profiler import STAGES, Bottleneck, Profiler, ProfileReport, StageProfile, profile
from armorer_ray.telemetry.sketch import LatencySketch
from armorer_ray.telemetry.stats import AnalyticsSnapshot, StatsCell, ToolStats

__all__ = ["OTHER_TENANTS", "STAGES", "Analytics", "AnalyticsSnapshot", "Bottleneck", "ErrorRateAlert",
           "LatencySketch", "ProfileReport", "Profiler", "ResultCost", "StageProfile", "StatsCell", "ToolStats",
           "instrument", "profile"]
