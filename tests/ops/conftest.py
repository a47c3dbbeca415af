"""Fixtures for the operations suite: in-memory OpenTelemetry exporters, traced Databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.engine import URL

import sqlops
from tests.models import Base

otel_sdk = pytest.importorskip("opentelemetry.sdk", reason="opentelemetry-sdk is a dev dependency")

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

FIGURES: dict[str, str] = {}


def record(name: str, value: str) -> None:
    """Keep a measured figure for the end-of-run summary (docs/operations.md quotes them)."""
    FIGURES[name] = value


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the operations tests measured."""
    if FIGURES:
        terminalreporter.section("operations figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")


@dataclass
class Otel:
    """A tracer and a meter provider whose output stays in memory, for the test to read."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def finished(self) -> list[Any]:
        return list(self.spans.get_finished_spans())

    def named(self, name: str) -> list[Any]:
        return [s for s in self.finished() if s.name == name]

    def metric_points(self, name: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
        points: list[Any] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points

    def everything(self) -> str:
        """Every exported span and metric, as the exporters would send them (JSON)."""
        texts = [span.to_json() for span in self.finished()]
        data = self.metrics.get_metrics_data()
        if data is not None:
            texts.append(data.to_json())
        return "\n".join(texts)


@pytest.fixture
def otel() -> Otel:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    return Otel(tracer_provider, MeterProvider(metric_readers=[reader]), spans, reader)


@pytest.fixture
async def traced(url: URL | str, otel: Otel) -> AsyncIterator[sqlops.Database]:
    """A Database reporting to ``otel``, with the test schema; the setup spans are cleared."""
    db = sqlops.Database(
        url, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
    )
    await db.drop_all(Base.metadata)
    await db.create_all(Base.metadata)
    otel.spans.clear()
    try:
        yield db
    finally:
        await db.drop_all(Base.metadata)
        await db.dispose()
