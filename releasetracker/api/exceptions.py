"""The one exception handler of the native API: every 4xx is {"error", "code", "fields"}."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from releasetracker.errors import DomainError

CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.ValidationError: "validation_error",
    exceptions.ParseError: "malformed_request",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.Throttled: "throttled",
}


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into {"commits.3.sha": ["..."]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = str(key) if key != "non_field_errors" else ""
            path = f"{prefix}.{name}" if prefix and name else (name or prefix)
            for k, v in flatten_errors(value, path).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out.setdefault(prefix, []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                if item in ({}, [], None):
                    continue
                path = f"{prefix}.{index}" if prefix else str(index)
                for k, v in flatten_errors(item, path).items():
                    out.setdefault(k, []).extend(v)
    else:
        out.setdefault(prefix, []).append(str(detail))
    return out


def error_body(message: str, code: str, fields: dict | None = None) -> dict:
    body = {"error": message, "code": code}
    if fields:
        body["fields"] = fields
    return body


def summarize(fields: dict[str, list[str]]) -> str:
    parts = [f"{name}: {messages[0]}" if name else messages[0] for name, messages in fields.items() if messages]
    return "; ".join(parts) if parts else "invalid request"


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        fields = {k: list(v) for k, v in exc.fields.items()}
        return Response(error_body(str(exc), exc.code, fields), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("body: request body exceeds the configured maximum size", "payload_too_large"),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    code = next((c for cls, c in CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        if "" in fields:
            # Errors about the body as a whole (not an object, ...) still name what is at fault.
            fields["body"] = fields.pop("")
        body = error_body(summarize(fields), code, fields)
    elif isinstance(exc, exceptions.ParseError):
        body = error_body(f"body: {exc.detail}", code)
    elif isinstance(exc, exceptions.NotAuthenticated):
        body = error_body("authentication required: send 'Authorization: Bearer <token>'", code)
    else:
        body = error_body(str(exc.detail), code)
    return Response(body, status=exc.status_code, headers=headers)
