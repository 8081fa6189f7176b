"""Probes for an orchestrator: ``/livez`` (the process answers) and ``/readyz`` (it can serve).

Liveness touches no database: a database outage must not get every app container restarted,
which would not bring the database back. Readiness needs the database to answer and every
migration of this code to be applied, so a new version takes no traffic before ``migrate``.
"""

import logging

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse

from operations.prometheus import count_database_error

log = logging.getLogger(__name__)

# Names listed in a 503's reason; the count says how many more there are.
LISTED_MIGRATIONS = 5


def livez(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def unapplied_migrations() -> list[str]:
    """The migrations on disk that the database has not applied, in the order ``migrate`` runs them."""
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, backwards in plan if not backwards]


def readyz(request: HttpRequest) -> JsonResponse:
    try:
        unapplied = unapplied_migrations()
    except DatabaseError as exc:
        count_database_error(exc)
        log.warning("not ready: the database is not answering: %s", exc)
        # The driver's message names hosts and ports: it goes to the log, not to this public answer.
        return JsonResponse(
            {"status": "error", "database": "unreachable", "reason": "the database is not answering"}, status=503
        )
    if unapplied:
        listed = ", ".join(unapplied[:LISTED_MIGRATIONS])
        if len(unapplied) > LISTED_MIGRATIONS:
            listed += f" and {len(unapplied) - LISTED_MIGRATIONS} more"
        return JsonResponse(
            {
                "status": "error",
                "database": "ok",
                "migrations": f"{len(unapplied)} unapplied",
                "reason": f"unapplied migrations: {listed}; run manage.py migrate",
            },
            status=503,
        )
    return JsonResponse({"status": "ok", "database": "ok", "migrations": "ok"})
