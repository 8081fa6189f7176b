"""The floor the ingest benchmark compares the product with. Not part of the product.

A bare Django app that does the minimum each benchmarked request needs, under the same gunicorn
config and database as the product: authenticate one hashed token with one query, validate the
JSON with a DRF serializer, and write or read the rows. No middleware, no sessions, no idempotency,
no history, no rollback detection. ``gunicorn -c gunicorn.conf.py bench.bare_app:application``.

It writes only to its own ``bench_bare_*`` tables (created by ``ensure_tables``) and reads the
product's token table, so the product's data and the bare app's never mix.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import dj_database_url
import django
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-bare-app"),
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=["rest_framework"],
        # The same connection policy as the product: persistent, health-checked connections.
        DATABASES={
            "default": dj_database_url.config(
                default=os.environ.get("DATABASE_URL", ""), conn_max_age=600, conn_health_checks=True
            )
        },
        USE_TZ=True,
        TIME_ZONE="UTC",
        REST_FRAMEWORK={"UNAUTHENTICATED_USER": None},
        LOGGING_CONFIG=None,
    )
    django.setup()

from django.db import connection, transaction  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework import serializers  # noqa: E402

TABLES = """
CREATE TABLE IF NOT EXISTS bench_bare_deployment (
    id bigserial PRIMARY KEY,
    organization_id bigint NOT NULL,
    environment varchar(100) NOT NULL,
    release varchar(200) NOT NULL,
    commit_sha varchar(64) NOT NULL,
    status varchar(16) NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS bench_bare_release (
    id bigserial PRIMARY KEY,
    organization_id bigint NOT NULL,
    version varchar(200) NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (organization_id, version)
);
CREATE INDEX IF NOT EXISTS bench_bare_release_time ON bench_bare_release (organization_id, created_at);
CREATE TABLE IF NOT EXISTS bench_bare_commit (
    id bigserial PRIMARY KEY,
    release_id bigint NOT NULL REFERENCES bench_bare_release (id),
    sha varchar(64) NOT NULL,
    message text NOT NULL
);
CREATE INDEX IF NOT EXISTS bench_bare_commit_release ON bench_bare_commit (release_id);
"""


def ensure_tables() -> None:
    with connection.cursor() as cursor:
        cursor.execute(TABLES)


class DeploymentIn(serializers.Serializer):
    environment = serializers.CharField(max_length=100)
    release = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    commit_sha = serializers.RegexField(r"^[0-9a-fA-F]{7,64}$", required=False, allow_blank=True, default="")
    status = serializers.CharField(max_length=16, default="success")


class CommitIn(serializers.Serializer):
    sha = serializers.RegexField(r"^[0-9a-fA-F]{7,64}$")
    message = serializers.CharField(required=False, allow_blank=True, default="")


class ReleaseIn(serializers.Serializer):
    version = serializers.CharField(max_length=200)
    commits = CommitIn(many=True, required=False, default=list)


def _organization_id(request: HttpRequest) -> int | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, clear = header.partition(" ")
    if scheme.lower() != "bearer" or not clear:
        return None
    digest = hashlib.sha256(clear.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT organization_id FROM releasetracker_apitoken WHERE token_hash = %s AND revoked_at IS NULL",
            [digest],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _body(request: HttpRequest, serializer_class: type[serializers.Serializer]):
    try:
        data = json.loads(request.body)
    except ValueError:
        return None, JsonResponse({"error": "invalid JSON"}, status=400)
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        return None, JsonResponse({"error": "invalid", "fields": serializer.errors}, status=400)
    return serializer.validated_data, None


def deployments(request: HttpRequest) -> HttpResponse:
    org = _organization_id(request)
    if org is None:
        return JsonResponse({"error": "invalid token"}, status=401)
    data, error = _body(request, DeploymentIn)
    if error:
        return error
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_bare_deployment (organization_id, environment, release, commit_sha, status, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            [org, data["environment"], data["release"], data["commit_sha"], data["status"], timezone.now()],
        )
        pk = cursor.fetchone()[0]
    return JsonResponse({"id": pk, **data}, status=201)


def releases(request: HttpRequest) -> HttpResponse:
    org = _organization_id(request)
    if org is None:
        return JsonResponse({"error": "invalid token"}, status=401)
    if request.method == "GET":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT r.id, r.version, r.created_at,"
                " (SELECT count(*) FROM bench_bare_commit c WHERE c.release_id = r.id)"
                " FROM bench_bare_release r WHERE r.organization_id = %s"
                " ORDER BY r.created_at DESC, r.id DESC LIMIT 50",
                [org],
            )
            rows = cursor.fetchall()
        results = [{"id": r[0], "version": r[1], "created_at": r[2].isoformat(), "commit_count": r[3]} for r in rows]
        return JsonResponse({"next": None, "previous": None, "results": results})
    data, error = _body(request, ReleaseIn)
    if error:
        return error
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_bare_release (organization_id, version, created_at) VALUES (%s, %s, %s) RETURNING id",
            [org, data["version"], timezone.now()],
        )
        pk = cursor.fetchone()[0]
        commits = data["commits"]
        if commits:
            values = ", ".join(["(%s, %s, %s)"] * len(commits))
            params = [v for c in commits for v in (pk, c["sha"].lower(), c["message"])]
            cursor.execute(f"INSERT INTO bench_bare_commit (release_id, sha, message) VALUES {values}", params)  # noqa: S608
    return JsonResponse({"id": pk, "version": data["version"], "commit_count": len(commits)}, status=201)


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [
    path("api/v1/deployments/", deployments),
    path("api/v1/releases/", releases),
    path("healthz", healthz),
]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
