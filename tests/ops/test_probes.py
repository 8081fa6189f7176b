"""/livez and /readyz in process: what an orchestrator's probe gets (the server tests stop a real database)."""

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder


def test_livez_answers_without_touching_the_database(client):
    # No db fixture: any query here would fail the test ("Database access not allowed").
    response = client.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]
    assert response["X-Request-ID"]


@pytest.mark.django_db
def test_readyz_is_ok_with_every_migration_applied(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "migrations": "ok"}


@pytest.mark.django_db
def test_readyz_names_the_migrations_that_are_not_applied(client):
    # The app's latest migration, forgotten by the database (rolled back with the test's
    # transaction): the code is ahead of it.
    latest = MigrationLoader(connection).graph.leaf_nodes("releasetracker")[0][1]
    MigrationRecorder(connection).record_unapplied("releasetracker", latest)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "database": "ok",
        "migrations": "1 unapplied",
        "reason": f"unapplied migrations: releasetracker.{latest}; run manage.py migrate",
    }


@pytest.mark.django_db
def test_probes_answer_whatever_host_the_orchestrator_sends(client):
    # Kubernetes and Prometheus address a pod by its IP, which ALLOWED_HOSTS does not list.
    for path in ("/livez", "/readyz"):
        assert client.get(path, HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/api/v1/organization/", HTTP_HOST="10.1.2.3:8000").status_code == 400


def test_probes_refuse_other_methods(client):
    response = client.post("/livez")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_healthz_stays(client, db):
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
