"""Echoes' Signal Releases API (seeds/echoes-releases-api.txt), mounted at /v1/signals/.

An Echoes release declares a deployment: it is stored as a release (its ``deliverables`` are the
release's projects) plus a deployment of it to the organization's production environment. The
deployment starts ``in_progress`` at the release ``date``; ``PATCH /releases/<id>`` (or
``POST /deployments/<id>/status``, Echoes' newer name for the same signal) sets the outcome on both.
Ids are the release's public UUID.

Errors are ``{"error": "<field>: <reason>"}``; the native API's error handler is not used here.
"""

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import re_path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from deployments import selectors as deployment_selectors
from deployments.models import Deployment, DeploymentStatus
from deployments.services import deployment_record, deployment_update, environment_production_get_or_create
from releases.models import Release, Source
from releases.services import CommitInput, release_create, release_set_status, release_update
from releasetracker.api.authentication import authenticate_request
from releasetracker.errors import Conflict, DomainError
from releasetracker.models import ApiToken
from releasetracker.services import TokenRejected
from releasetracker.validation import clean_sha, clean_text, clean_time
from releasetracker.vendor import body_json_object

# The doc's "simplified extended ISO format": YYYY-MM-DDTHH:mm:ss.sssZ or ±YYYYYY-MM-DDTHH:mm:ss.sssZ.
DATE_RE = re.compile(r"^(?P<year>\d{4}|[+-]\d{6})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z$")
DATE_FORMAT_HELP = "must be YYYY-MM-DDTHH:mm:ss.sssZ (UTC, with milliseconds), for example 2024-05-01T12:00:00.000Z"
OUTCOMES = ("success", "failure")
# The native API's limit on a release's projects.
MAX_DELIVERABLES = 100
# Service field names that Echoes calls differently, for error messages.
FIELD_NAMES = {"date_released": "date", "projects": "deliverables", "started_at": "date", "deployed_at": "date"}


class EchoesError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, headers: dict | None = None) -> JsonResponse:
    return JsonResponse({"error": message}, status=status, headers=headers)


def _vendor_field(name: str) -> str:
    head, _, rest = name.partition(".")
    return FIELD_NAMES.get(head, head) + (f".{rest}" if rest else "")


def _domain_error_message(exc: DomainError) -> str:
    if isinstance(exc, Conflict):
        message = exc.message
        for ours, theirs in FIELD_NAMES.items():
            message = message.replace(ours, theirs)
        return message
    return f"{_vendor_field(exc.field)}: {exc.message}" if exc.field else exc.message


def echoes_view(methods: dict[str, tuple[str, Callable]]) -> Callable:
    """One URL: authenticate with the scope each method needs, dispatch, render errors Echoes' way."""

    @csrf_exempt
    def view(request: HttpRequest, **kwargs) -> JsonResponse:
        if request.method not in methods:
            return _error(405, f"method {request.method} is not allowed here", {"Allow": ", ".join(methods)})
        scope, handler = methods[request.method]
        try:
            token = _authenticate(request, scope)
            return handler(request, token, **kwargs)
        except EchoesError as exc:
            return _error(exc.status, exc.message)
        except DomainError as exc:
            return _error(exc.status, _domain_error_message(exc))
        except RequestDataTooBig:
            return _error(413, "body: the request body is too large")

    return view


def _authenticate(request: HttpRequest, scope: str) -> ApiToken:
    try:
        token = authenticate_request(request)
    except TokenRejected as exc:
        raise EchoesError(401, f"unauthorized: {exc}") from None
    if token is None:
        raise EchoesError(401, "unauthorized: send 'Authorization: Bearer <YOUR_API_KEY>'")
    if not token.has_scope(scope):
        raise EchoesError(403, f"forbidden: this API key lacks the '{scope}' scope")
    return token


def _json_object(request: HttpRequest) -> dict:
    data = body_json_object(request)
    if data is None:
        raise EchoesError(400, "body: must be a JSON object")
    return data


def parse_date(value) -> datetime:
    if not isinstance(value, str):
        raise EchoesError(400, f"date: {DATE_FORMAT_HELP}")
    match = DATE_RE.match(value)
    if match is None:
        raise EchoesError(400, f"date: {DATE_FORMAT_HELP}")
    year = int(match.group("year"))
    month, day, hour, minute, second, millis = (int(g) for g in match.groups()[1:])
    try:
        parsed = datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=UTC)
    except ValueError:
        raise EchoesError(400, f"date: '{value}' is not a valid date") from None
    return clean_time(parsed, field="date")


def format_date(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def _string_list(data: dict, name: str) -> list[str]:
    if name not in data:
        raise EchoesError(400, f"{name}: this field is required")
    value = data[name]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise EchoesError(400, f"{name}: must be an array of strings")
    return value


def _release(token: ApiToken, release_id: str) -> Release:
    """The token organization's release with this id; anything else (another org's, malformed) is a 404."""
    try:
        public_id = uuid.UUID(release_id)
    except ValueError:
        public_id = None
    release = (
        deployment_selectors.release_detail(organization=token.organization).filter(public_id=public_id).first()
        if public_id
        else None
    )
    if release is None:
        raise EchoesError(404, f"release not found: {release_id}")
    return release


def _latest_production_deployment(release: Release) -> Deployment | None:
    return (
        Deployment.objects.for_organization(release.organization)
        .filter(release=release, environment__is_production=True)
        .select_related("environment")
        .order_by("-occurred_at", "-id")
        .first()
    )


def render_release(request: HttpRequest, release: Release, base: str) -> dict:
    deployment = _latest_production_deployment(release)
    return {
        "id": str(release.public_id),
        "url": request.build_absolute_uri(f"{base}{release.public_id}"),
        "version": release.version,
        "name": release.name,
        "ref": release.ref,
        "date": format_date(release.date_released),
        "commits": [rc.commit.sha for rc in release.release_commits.all()],
        "deliverables": sorted(p.name for p in release.projects_by_name),
        "status": release.status,
        "deployment": (
            {
                "environment": deployment.environment.name,
                "status": deployment.status,
                "started_at": format_date(deployment.started_at),
                "finished_at": format_date(deployment.finished_at),
            }
            if deployment
            else None
        ),
    }


def _creator(token: ApiToken) -> str:
    return f"token {token.name} ({token.prefix})"


def _create(request: HttpRequest, token: ApiToken, *, base: str) -> JsonResponse:
    data = _json_object(request)
    organization = token.organization
    if "version" not in data:
        raise EchoesError(400, "version: this field is required")
    if not isinstance(data["version"], str):
        raise EchoesError(400, "version: must be a string")
    version = clean_text(data["version"], field="version", max_length=200, required=True)
    shas = [clean_sha(sha, field=f"commits[{i}]") for i, sha in enumerate(_string_list(data, "commits"))]
    deliverables = [
        clean_text(name, field=f"deliverables[{i}]", max_length=200, required=True)
        for i, name in enumerate(_string_list(data, "deliverables"))
    ]
    if len(deliverables) > MAX_DELIVERABLES:
        raise EchoesError(400, f"deliverables: at most {MAX_DELIVERABLES} per release")
    for name in ("name", "ref"):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise EchoesError(400, f"{name}: must be a string")
    date = parse_date(data["date"]) if data.get("date") is not None else None

    with transaction.atomic():
        # Without a date the release is created undated and then given the reception time, so
        # a retry of the same payload (also undated) still compares equal and answers 303.
        release, created = release_create(
            organization=organization,
            version=version,
            projects=deliverables,
            commits=[CommitInput(sha=sha) for sha in shas],
            name=data.get("name") or "",
            ref=data.get("ref") or "",
            date_released=date,
            source=Source.ECHOES,
            created_by=_creator(token),
        )
        if created:
            when = date or timezone.now()
            if date is None:
                release_update(organization=organization, release=release, date_released=when)
            deployment_record(
                organization=organization,
                environment=environment_production_get_or_create(organization=organization).name,
                release=release,
                status=DeploymentStatus.IN_PROGRESS,
                started_at=when,
                deployed_at=when,
                source=Source.ECHOES,
                created_by=_creator(token),
            )
    release = deployment_selectors.release_detail(organization=organization).get(pk=release.pk)
    # Absolute, as in the doc's example (https://api.echoeshq.com/v1/signals/releases/<id>).
    location = request.build_absolute_uri(f"{base}{release.public_id}")
    body = render_release(request, release, base)
    return JsonResponse(body, status=201 if created else 303, headers={"Location": location})


def _set_outcome(request: HttpRequest, token: ApiToken, *, release_id: str, base: str) -> JsonResponse:
    organization = token.organization
    release = _release(token, release_id)
    data = _json_object(request)
    status = data.get("status")
    if status is None:
        raise EchoesError(400, "status: this field is required")
    if status not in OUTCOMES:
        raise EchoesError(400, "status: must be either `failure` or `success`")
    with transaction.atomic():
        release_set_status(organization=organization, release=release, status=status)
        deployment = _latest_production_deployment(release)
        if deployment is None:
            # A release created elsewhere (native API, Aviator) gets its production deployment now.
            deployment_record(
                organization=organization,
                environment=environment_production_get_or_create(organization=organization).name,
                release=release,
                status=status,
                source=Source.ECHOES,
                created_by=_creator(token),
            )
        else:
            deployment_update(organization=organization, deployment=deployment, status=status)
    release = deployment_selectors.release_detail(organization=organization).get(pk=release.pk)
    return JsonResponse(render_release(request, release, base))


def _show(request: HttpRequest, token: ApiToken, *, release_id: str, base: str) -> JsonResponse:
    # The 303 of a repeated create points here; HTTP clients follow it with a GET.
    return JsonResponse(render_release(request, _release(token, release_id), base))


READ, WRITE = ApiToken.Scope.READ, ApiToken.Scope.WRITE
RELEASES = "/v1/signals/releases/"
DEPLOYMENTS = "/v1/signals/deployments/"
ID = r"(?P<release_id>[^/]+)"


def _bind(handler: Callable, base: str) -> Callable:
    return lambda request, token, **kwargs: handler(request, token, base=base, **kwargs)


urlpatterns = [
    # Echoes' clients post without a trailing slash; accept both rather than redirect a POST.
    re_path(r"^releases/?$", echoes_view({"POST": (WRITE, _bind(_create, RELEASES))}), name="echoes-releases"),
    re_path(
        rf"^releases/{ID}/?$",
        echoes_view({"PATCH": (WRITE, _bind(_set_outcome, RELEASES)), "GET": (READ, _bind(_show, RELEASES))}),
        name="echoes-release",
    ),
    re_path(r"^deployments/?$", echoes_view({"POST": (WRITE, _bind(_create, DEPLOYMENTS))}), name="echoes-deployments"),
    re_path(
        rf"^deployments/{ID}/?$",
        echoes_view({"GET": (READ, _bind(_show, DEPLOYMENTS)), "PATCH": (WRITE, _bind(_set_outcome, DEPLOYMENTS))}),
        name="echoes-deployment",
    ),
    re_path(
        rf"^deployments/{ID}/status/?$",
        echoes_view({"POST": (WRITE, _bind(_set_outcome, DEPLOYMENTS))}),
        name="echoes-deployment-status",
    ),
]
