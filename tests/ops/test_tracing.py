"""OpenTelemetry: off by default; with OTEL_EXPORTER_OTLP_ENDPOINT, gunicorn's workers send their spans there.

The collector is a few lines here: an HTTP server on a free loopback port that takes OTLP/HTTP
(protobuf) the way a collector's receiver does.
"""

import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.ops.servers import get, manage, org_with_write_token, server_env, start_gunicorn, wait_for


def test_tracing_is_off_without_an_endpoint():
    assert "operations.tracing.QuerySpansMiddleware" not in settings.MIDDLEWARE
    assert not any("opentelemetry" in name for name in settings.MIDDLEWARE)
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


class Receiver(ThreadingHTTPServer):
    """Keeps every span it is sent, as ``(span, {attribute: value}, resource attributes)``."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.spans: list[tuple] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()

    def received(self) -> list[tuple]:
        with self.lock:
            return list(self.spans)


class ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self.server.lock:
            self.server.paths.append(self.path)
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        attributes = {a.key: _value(a.value) for a in span.attributes}
                        self.server.spans.append((span, attributes, resource))
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        pass


def _value(value):
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.mark.slow
def test_requests_and_their_queries_are_traced_with_the_request_id(receiver, tmp_path):
    env = server_env(
        f"sqlite:///{tmp_path / 'tracing.sqlite3'}",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver.server_address[1]}",
        OTEL_SERVICE_NAME="release-tracker-test",
        OTEL_BSP_SCHEDULE_DELAY="100",  # milliseconds between batches: the test waits less
    )
    manage(env, "migrate", "--noinput")
    token = org_with_write_token(env)
    server = start_gunicorn(env, tmp_path, workers=2)
    try:
        request_id = f"trace-{uuid.uuid4().hex}"
        headers = {"Authorization": f"Bearer {token}", "X-Request-ID": request_id}
        status, _ = get(server.port, "/api/v1/deployments/", headers)
        assert status == 200

        def spans_of_the_request():
            return [s for s in receiver.received() if s[1].get("request_id") == request_id]

        def request_and_query_spans():
            spans = spans_of_the_request()
            return any(s[0].kind == s[0].SPAN_KIND_SERVER for s in spans) and any(
                s[0].kind == s[0].SPAN_KIND_CLIENT for s in spans
            )

        wait_for(request_and_query_spans, timeout=30, what="the request's spans at the receiver")
        spans = spans_of_the_request()
        (server_span,) = [s for s in spans if s[0].kind == s[0].SPAN_KIND_SERVER]
        queries = [s for s in spans if s[0].kind == s[0].SPAN_KIND_CLIENT]
        request_span, attributes, resource = server_span
        assert request_span.name == "GET api/v1/deployments/"  # the route as /metrics labels it
        assert resource["service.name"] == "release-tracker-test"
        assert attributes.get("http.response.status_code", attributes.get("http.status_code")) == 200
        for span, query_attributes, _ in queries:
            assert span.trace_id == request_span.trace_id
            assert query_attributes["db.system.name"] == "sqlite"
            assert query_attributes["db.query.text"].split()[0] == query_attributes["db.operation.name"]
        assert all(path == "/v1/traces" for path in receiver.paths)
    finally:
        server.stop()
