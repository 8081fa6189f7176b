"""OpenTelemetry traces, on only when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

Then every Django request is a span (OpenTelemetry's Django instrumentation: named by method
and route template, with a W3C ``traceparent`` from the caller honoured), each database query
inside it is a child span, and both carry the request's ``X-Request-ID`` as ``request_id``, the
name the JSON log lines give it. Spans go in batches to the collector over OTLP/HTTP; the other
``OTEL_*`` variables (``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_TRACES_SAMPLER``,
...) keep their standard meaning. The probes and ``/metrics`` are not traced.
"""

import os
from collections.abc import Callable
from contextlib import ExitStack

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse

from operations.middleware import route_label
from releasetracker.logging import current_request_id

# Polled every few seconds by orchestrators and Prometheus: spans of these would drown the rest.
UNTRACED_PATHS = r"/(livez|readyz|healthz|metrics)$"
SPAN_REQUEST_ID = "request_id"


def enabled() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure() -> None:
    """Install the tracer provider and the request and query spans: once, from ``AppConfig.ready``.

    Under gunicorn this runs in the master before it forks (``preload_app``); the SDK's batch
    processor restarts its export thread in each worker.
    """
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "release-tracker"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument(
        tracer_provider=provider,
        response_hook=_tag_request_span,
        excluded_urls=os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", UNTRACED_PATHS),
    )
    # The query spans need the request id, which RequestIdMiddleware sets: they go right after it.
    middleware = list(settings.MIDDLEWARE)
    position = middleware.index("releasetracker.middleware.RequestIdMiddleware") + 1
    middleware.insert(position, "operations.tracing.QuerySpansMiddleware")
    settings.MIDDLEWARE = middleware


def _tag_request_span(span, request: HttpRequest, response: HttpResponse) -> None:
    if not span.is_recording():
        return
    request_id = getattr(request, "request_id", None)
    if request_id:
        span.set_attribute(SPAN_REQUEST_ID, request_id)
    match = getattr(request, "resolver_match", None)
    if match is not None and match.route:
        # The route as /metrics labels it, so a slow route in a dashboard is found among the traces.
        span.update_name(f"{request.method} {route_label(match.route)}")


def _query_span(execute: Callable, sql, params, many: bool, context: dict):
    from opentelemetry import trace

    connection = context["connection"]
    text = str(sql)
    operation = text.split(None, 1)[0].upper() if text.strip() else "QUERY"
    database = os.path.basename(str(connection.settings_dict.get("NAME") or ""))  # SQLite's is a path
    attributes = {
        "db.system.name": connection.vendor,
        "db.namespace": database,
        "db.operation.name": operation,
        "db.query.text": text,  # with its placeholders: parameter values never leave the process
    }
    request_id = current_request_id()
    if request_id:
        attributes[SPAN_REQUEST_ID] = request_id
    tracer = trace.get_tracer(__name__)
    with tracer.start_as_current_span(f"{operation} {database}", kind=trace.SpanKind.CLIENT, attributes=attributes):
        return execute(sql, params, many, context)


class QuerySpansMiddleware:
    """One child span per database query of the request, on every configured database."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with ExitStack() as stack:
            for alias in connections:
                stack.enter_context(connections[alias].execute_wrapper(_query_span))
            return self.get_response(request)
