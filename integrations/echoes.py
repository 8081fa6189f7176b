"""Echoes' Signal Releases API (seeds/echoes-releases-api.txt), mounted at /v1/signals/.

An Echoes release declares a deployment: it is stored as a release (its ``deliverables`` are the
release's projects, its ``url`` the release's url) plus a successful deployment of it to the
organization's production environment at the release ``date`` (``release_declare``).
``PATCH /releases/<id>`` (or ``POST /deployments/<id>/status``, Echoes' newer name for the same
signal) sets the outcome on both (``release_outcome_set``). Ids are the release's public UUID.

Every answer carries the HTTP status as a number in ``status``: EchoesHQ's deployments action
reads ``.status`` from whatever it gets back and compares it with ``-ge 400`` to decide that a
call failed, so a string there (or nothing, for a POSIX ``[``) breaks its test. Errors are
``{"status": <code>, "error": "<field>: <reason>"}``.
"""

import re
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.http import JsonResponse
from django.urls import re_path
from rest_framework.exceptions import NotFound

from deployments.models import Deployment
from deployments.selectors import deployment_latest_production, release_get_by_id
from deployments.services import release_declare, release_outcome_set
from integrations.base import Refusal, VendorAPIView, invalid
from releases.models import Project, Release, Source
from releases.services import MAX_COMMITS_PER_REQUEST, MAX_PROJECTS, CommitInput
from releasetracker.api.authentication import RequiredTokenAuthentication
from releasetracker.validation import clean_model_text, clean_sha

# The doc's "simplified extended ISO format": YYYY-MM-DDTHH:mm:ss.sssZ or ±YYYYYY-MM-DDTHH:mm:ss.sssZ.
DATE_RE = re.compile(r"^(?P<year>\d{4}|[+-]\d{6})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z$")
DATE_FORMAT_HELP = "must be YYYY-MM-DDTHH:mm:ss.sssZ (UTC, with milliseconds), for example 2024-05-01T12:00:00.000Z"
# The native API's limit on a release's projects.
EXAMPLE_URL = "https://github.com/acme/api/releases/tag/v1.2.0"
LIST_SEPARATORS = re.compile(r"[\s,]+")
FIELD_NAMES = {"date_released": "date", "projects": "deliverables", "started_at": "date", "deployed_at": "date"}
OPENINGS = {401: "unauthorized: ", 403: "forbidden: "}
RELEASES = "/v1/signals/releases/"
DEPLOYMENTS = "/v1/signals/deployments/"


class EchoesAuthentication(RequiredTokenAuthentication):
    credential_name = "API key"
    usage = "Authorization: Bearer <YOUR_API_KEY>"


def parse_date(value) -> datetime:
    match = DATE_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise invalid("date", DATE_FORMAT_HELP)
    year = int(match.group("year"))
    month, day, hour, minute, second, millis = (int(g) for g in match.groups()[1:])
    try:
        return datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=UTC)
    except ValueError:
        raise invalid("date", f"'{value}' is not a valid date") from None


def format_date(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def _url(data: dict) -> str:
    """The ``url`` EchoesHQ's action sends (a tag's page, an artefact's), a URL as the release's
    url field takes them (its length is the service's check); the action sends ``""`` when it
    has none."""
    value = data.get("url")
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise invalid("url", "must be a string")
    try:
        URLValidator()(value.strip())
    except ValidationError:
        raise invalid("url", f"must be a URL, for example {EXAMPLE_URL}") from None
    return value


def _string_list(data: dict, name: str, *, limit: int) -> list[tuple[str, str]]:
    """``(field, value)`` for each value of the array ``name``, its items split on commas and
    whitespace: EchoesHQ's action takes its commits and deliverables as newline- or
    comma-separated lists and sends each list as one item (its trimming joins the lines with
    spaces), so ``["c1 c2,c3"]`` is three values. A sha holds neither, and neither does a
    deliverable's name here. An item with no value in it stays one empty value, for the caller
    to refuse. More than ``limit`` values are refused as soon as they are counted."""
    if name not in data:
        raise invalid(name, "this field is required")
    value = data[name]
    if not isinstance(value, list):
        raise invalid(name, "must be an array of strings")
    too_many = invalid(name, f"at most {limit} per release")
    if len(value) > limit:
        raise too_many
    values: list[tuple[str, str]] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise invalid(name, "must be an array of strings")
        parts = [part for part in LIST_SEPARATORS.split(item, maxsplit=limit) if part] or [""]
        values.extend((f"{name}[{i}]", part) for part in parts)
        if len(values) > limit:
            raise too_many
    return values


class EchoesView(VendorAPIView):
    authentication_classes = [EchoesAuthentication]
    field_names = FIELD_NAMES
    base = RELEASES  # where a release's id is found: its Location

    def render_error(self, refusal: Refusal) -> JsonResponse:
        message = OPENINGS.get(refusal.status, "") + str(refusal)
        body = {"status": refusal.status, "error": message}
        return JsonResponse(body, status=refusal.status, headers=refusal.headers)

    def location(self, release: Release) -> str:
        # Absolute, as in the doc's example (https://api.echoeshq.com/v1/signals/releases/<id>).
        return self.request.build_absolute_uri(f"{self.base}{release.public_id}")

    def answer(self, release: Release, deployment: Deployment | None, *, status: int = 200) -> JsonResponse:
        """The release as declared, with the HTTP status repeated as a number (see the module docstring)."""
        body = {
            "status": status,
            "id": str(release.public_id),
            "location": self.location(release),
            "version": release.version,
            "name": release.name,
            "ref": release.ref,
            "url": release.url,
            "date": format_date(release.date_released),
            "commits": [link.commit.sha for link in release.commit_links],
            "deliverables": sorted(p.name for p in release.projects_by_name),
            # The outcome posted for the release: pending until one is.
            "outcome": release.status,
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
        headers = {"Location": body["location"]} if status in (201, 303) else None
        return JsonResponse(body, status=status, headers=headers)


class Declare(EchoesView):
    def post(self, request) -> JsonResponse:
        data = self.body()
        shas = [
            clean_sha(sha, field=field) for field, sha in _string_list(data, "commits", limit=MAX_COMMITS_PER_REQUEST)
        ]
        deliverables = [
            clean_model_text(Project, "name", name, field=field, required=True)
            for field, name in _string_list(data, "deliverables", limit=MAX_PROJECTS)
        ]
        release, deployment, created = release_declare(
            organization=self.organization,
            version=data.get("version"),
            commits=[CommitInput(sha=sha) for sha in shas],
            projects=deliverables,
            name=data.get("name"),
            ref=data.get("ref"),
            url=_url(data),
            date_released=parse_date(data["date"]) if data.get("date") is not None else None,
            source=Source.ECHOES,
            created_by=self.created_by,
        )
        return self.answer(release, deployment, status=201 if created else 303)


class Declared(EchoesView):
    def release(self, release_id: str) -> Release:
        """The token organization's release; another's, or a malformed id, is not found."""
        release = release_get_by_id(organization=self.organization, public_id=release_id)
        if release is None:
            raise NotFound(f"release not found: {release_id}")
        return release

    def get(self, request, release_id: str) -> JsonResponse:
        # The 303 of a repeated declaration points here; HTTP clients follow it with a GET.
        release = self.release(release_id)
        deployment = deployment_latest_production(organization=self.organization, release=release)
        return self.answer(release, deployment)

    def patch(self, request, release_id: str) -> JsonResponse:
        release = self.release(release_id)
        release, deployment = release_outcome_set(
            organization=self.organization,
            release=release,
            status=self.body().get("status"),
            source=Source.ECHOES,
            created_by=self.created_by,
        )
        return self.answer(release, deployment)


class Outcome(Declared):
    """``POST /deployments/<id>/status``: Echoes' newer name for the PATCH."""

    http_method_names = ["post"]

    def post(self, request, release_id: str) -> JsonResponse:
        return self.patch(request, release_id)


ID = r"(?P<release_id>[^/]+)"

urlpatterns = [
    # Echoes' clients post without a trailing slash; accept both rather than redirect a POST.
    re_path(r"^releases/?$", Declare.as_view(), name="echoes-releases"),
    re_path(rf"^releases/{ID}/?$", Declared.as_view(), name="echoes-release"),
    re_path(r"^deployments/?$", Declare.as_view(base=DEPLOYMENTS), name="echoes-deployments"),
    re_path(rf"^deployments/{ID}/?$", Declared.as_view(base=DEPLOYMENTS), name="echoes-deployment"),
    re_path(rf"^deployments/{ID}/status/?$", Outcome.as_view(base=DEPLOYMENTS), name="echoes-deployment-status"),
    EchoesView.unknown_paths("echoes-unknown"),
]
