"""Prometheus metrics, served at ``/metrics`` in the text format.

Several gunicorn workers answer ``/metrics`` in turn, so each must report the same totals:
gunicorn.conf.py sets ``PROMETHEUS_MULTIPROC_DIR`` before anything imports prometheus-client,
every worker then writes its values to files there, and a scrape adds up the files of every
worker, live or gone (prometheus-client's multiprocess mode). A single process (``runserver``,
the tests) keeps its values in memory and reports those.

The webhook delivery backlog is read from the database at scrape time, so every worker reports
the same figures; it is one indexed query (``webhooks_delivery_queue`` on state, next attempt).
"""

import hmac
import ipaddress
import os
from collections.abc import Iterator

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Min, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram, exposition, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

# Our own registry: nothing a library registers on prometheus-client's global one leaks in.
REGISTRY = CollectorRegistry()

HTTP_REQUESTS = Counter(
    "releasetracker_http_requests",
    "HTTP requests answered, by route template (unmatched: no route), method and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_REQUEST_DURATION = Histogram(
    "releasetracker_http_request_duration_seconds",
    "Time from a request's arrival in the app to its response, by route template and method.",
    ["route", "method"],
    registry=REGISTRY,
)
DEPLOYMENTS_RECORDED = Counter(
    "releasetracker_deployments_recorded",
    "Deployments recorded (committed), by source (api, echoes, aviator, ...) and status when recorded.",
    ["source", "status"],
    registry=REGISTRY,
)
RELEASES_RECORDED = Counter(
    "releasetracker_releases_recorded",
    "Releases recorded (committed), by source (api, echoes, sentry, ...) and status when recorded.",
    ["source", "status"],
    registry=REGISTRY,
)
DATABASE_ERRORS = Counter(
    "releasetracker_database_errors",
    "Database errors that reached a request's outcome or a probe, by exception class.",
    ["error"],
    registry=REGISTRY,
)

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def count_database_error(exc: DatabaseError) -> None:
    DATABASE_ERRORS.labels(error=type(exc).__name__).inc()


def observe_request(*, route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in KNOWN_METHODS else "other"  # a client picks the method: keep the label set small
    HTTP_REQUESTS.labels(route=route, method=method, status=str(status)).inc()
    HTTP_REQUEST_DURATION.labels(route=route, method=method).observe(seconds)


class WebhookBacklogCollector:
    """Outgoing webhook deliveries waiting or given up, and how long the oldest has waited."""

    def collect(self) -> Iterator[Metric]:
        delivery = apps.get_model("webhooks", "WebhookDelivery")
        now = timezone.now()
        try:
            figures = delivery.objects.filter(state__in=["pending", "failed"]).aggregate(
                pending=Count("pk", filter=Q(state="pending")),
                failed=Count("pk", filter=Q(state="failed")),
                oldest_pending=Min("created_at", filter=Q(state="pending")),
                first_due=Min("next_attempt_at", filter=Q(state="pending")),
            )
        except DatabaseError as exc:  # the rest of the scrape is still worth having
            count_database_error(exc)
            return
        by_state = GaugeMetricFamily(
            "releasetracker_webhook_deliveries",
            "Outgoing webhook deliveries by state: pending (waiting for a first try or a retry), "
            "failed (attempts exhausted).",
            labels=["state"],
        )
        by_state.add_metric(["pending"], figures["pending"])
        by_state.add_metric(["failed"], figures["failed"])
        yield by_state
        oldest = figures["oldest_pending"]
        yield GaugeMetricFamily(
            "releasetracker_webhook_oldest_pending_age_seconds",
            "Age of the oldest pending webhook delivery (0 when none is pending).",
            value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        )
        due = figures["first_due"]
        yield GaugeMetricFamily(
            "releasetracker_webhook_overdue_seconds",
            "How long the most overdue pending delivery has been due without being sent (0 when none "
            "is due): a worker that is not running shows here first.",
            value=max(0.0, (now - due).total_seconds()) if due else 0.0,
        )


class _Forward:
    """This process's own metrics, when there is no multiprocess directory (runserver, tests)."""

    def collect(self) -> Iterator[Metric]:
        return REGISTRY.collect()


def scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward())
    registry.register(WebhookBacklogCollector())
    return registry


def _bearer_token(request: HttpRequest) -> str:
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def _address_allowed(request: HttpRequest) -> bool:
    networks = settings.METRICS_ALLOWED_IPS
    if not networks:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in networks)


def refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the scraper may read the metrics; otherwise the 401 or 403 to answer."""
    token = settings.METRICS_TOKEN
    offered = _bearer_token(request)
    if token and offered and hmac.compare_digest(offered.encode(), token.encode()):
        return None
    if _address_allowed(request):
        return None
    if token:
        response = JsonResponse(
            {"error": "Authorization: send the metrics token as a bearer token", "code": "not_authenticated"},
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    reason = (
        "this address is not in METRICS_ALLOWED_IPS"
        if settings.METRICS_ALLOWED_IPS
        else "metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_IPS"
    )
    return JsonResponse({"error": reason, "code": "permission_denied"}, status=403)


def metrics_view(request: HttpRequest) -> HttpResponse:
    refused = refusal(request)
    if refused is not None:
        return refused
    encoder, content_type = exposition.choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(scrape_registry()), content_type=content_type)
