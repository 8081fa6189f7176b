"""Where a deployment POST's CPU goes, part by part, in one process (no load generator).

    .venv/bin/python bench/ingest_profile.py [--calls 300]

Against the benchmark database (``BENCH_DATABASE_URL``, as bench/ingest.py, whose organization
and release it reuses), it times with ``time.process_time()`` each part of ``POST
/api/v1/deployments/`` called alone ``--calls`` times (the token lookup, validation, the service,
its queries, the answer), then the whole request through Django's test client. CPU time in this
process only: PostgreSQL's own work is not counted, and the figures move with the machine's load,
so compare parts within one run. Prints a Markdown table; writes nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database_url, ensure_database, migrate, setup_django  # noqa: E402
from bench.ingest import BASE_RELEASE, seed_ingest  # noqa: E402

ENV = "production"
BODY = {"environment": ENV, "release": BASE_RELEASE, "project": "api", "status": "success"}


def cpu_ms(call, calls: int) -> float:
    for _ in range(10):
        call()
    started = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - started) / calls * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    url = database_url()
    ensure_database(url)
    migrate(url)
    clear = seed_ingest(url)
    setup_django(url)

    from django.test import Client

    from deployments.models import Deployment, Environment
    from deployments.serializers import DeploymentCreateSerializer, DeploymentSerializer
    from deployments.services import _is_rollback, deployment_record
    from releases.models import Project, Release
    from releasetracker.models import Organization
    from releasetracker.services import token_authenticate
    from webhooks.services import webhook_emit

    org = Organization.objects.get(slug="bench-ingest")

    def validated() -> dict:
        serializer = DeploymentCreateSerializer(data=BODY)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    data = validated()
    deployment, _ = deployment_record(organization=org, **data)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {clear}")
    parts = [
        ("token lookup (`token_authenticate`)", lambda: token_authenticate(clear)),
        ("validation (`DeploymentCreateSerializer`)", validated),
        ("`deployment_record` in all", lambda: deployment_record(organization=org, **data)),
        (
            "  the release by version",
            lambda: Release.objects.for_organization(org).filter(version=BASE_RELEASE).first(),
        ),
        (
            "  the environment (`get_or_create`)",
            lambda: Environment.objects.get_or_create(organization=org, name="production"),
        ),
        ("  the project (`get_or_create`)", lambda: Project.objects.get_or_create(organization=org, name="api")),
        ("  the rollback check", lambda: _is_rollback(deployment)),
        (
            "  the webhook endpoints' query",
            lambda: webhook_emit(organization=org, events=["deployment.created"], data={}),
        ),
        ("  one INSERT (`Deployment.save`)", lambda: Deployment(**_copy(deployment)).save(force_insert=True)),
        ("the answer (`DeploymentSerializer(...).data`)", lambda: DeploymentSerializer(deployment).data),
        (
            "the whole POST through the test client",
            lambda: client.post("/api/v1/deployments/", BODY, content_type="application/json"),
        ),
    ]
    print(f"CPU per call in this process, {args.calls} calls each (run {uuid.uuid4().hex[:6]}):\n")
    print("| part | ms |\n|---|---:|")
    for name, call in parts:
        print(f"| {name} | {cpu_ms(call, args.calls):.2f} |", flush=True)
    return 0


def _copy(deployment) -> dict:
    """The fields of ``deployment`` for a new row (a new public id, no primary key)."""
    return {
        field.attname: getattr(deployment, field.attname)
        for field in deployment._meta.concrete_fields
        if not field.primary_key and field.name != "public_id"
    }


if __name__ == "__main__":
    sys.exit(main())
