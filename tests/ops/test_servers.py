"""Probes and /metrics of a real gunicorn with several workers, over a PostgreSQL cluster of the test's own.

The cluster is stopped and started again here, so it is never the machine's shared server.
"""

import re

import pytest

from tests.ops.servers import (
    METRICS_TOKEN,
    answers,
    get,
    get_json,
    manage,
    metric_values,
    org_with_write_token,
    post_json,
    server_env,
    start_gunicorn,
    wait_for,
)

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}
DEPLOYMENTS_POSTED = 'route="api/v1/deployments/",status="201"'


def scrape(port: int) -> str:
    status, body = get(port, "/metrics", AUTH)
    assert status == 200, body
    return body.decode()


def test_readyz_follows_migrations_and_the_database_while_livez_stays_up(cluster, tmp_path):
    env = server_env(cluster.database_url("rt_ready"))
    server = start_gunicorn(env, tmp_path, workers=2)
    try:
        status, body = get_json(server.port, "/readyz")
        assert status == 503
        assert body["database"] == "ok"
        assert body["reason"].startswith("unapplied migrations: ")
        assert "run manage.py migrate" in body["reason"]

        manage(env, "migrate", "--noinput")
        assert get_json(server.port, "/readyz") == (200, {"status": "ok", "database": "ok", "migrations": "ok"})

        cluster.stop()
        # Every worker holds its own connection: each finds the database gone on its next request.
        wait_for(lambda: answers(server.port, "/readyz", 503), timeout=30, what="/readyz to answer 503")
        status, body = get_json(server.port, "/readyz")
        assert (status, body["database"], body["reason"]) == (503, "unreachable", "the database is not answering")
        assert get_json(server.port, "/livez") == (200, {"status": "ok"})
        errors = metric_values(scrape(server.port), "releasetracker_database_errors_total")
        assert errors.get('{error="OperationalError"}', 0) >= 1

        cluster.start()
        wait_for(lambda: answers(server.port, "/readyz", 200), timeout=30, what="/readyz to answer 200 again")
    finally:
        server.stop()
        if not cluster.is_up():
            cluster.start()


def test_metrics_totals_are_the_same_whichever_worker_answers(cluster, tmp_path):
    env = server_env(
        cluster.database_url("rt_metrics"),
        # The worker's pid on each access line, to see that several workers answered.
        GUNICORN_CMD_ARGS="--access-logformat '%(p)s %(r)s %(s)s'",
    )
    manage(env, "migrate", "--noinput")
    token = org_with_write_token(env)
    server = start_gunicorn(env, tmp_path, workers=3)
    try:
        assert get(server.port, "/metrics")[0] == 401
        assert get(server.port, "/metrics", {"Authorization": "Bearer not-the-token"})[0] == 401

        posted = 12
        for number in range(posted):
            status = post_json(
                server.port,
                "/api/v1/deployments/",
                {"environment": "production", "commit_sha": f"{number:040x}"},
                token,
            )
            assert status == 201
        assert post_json(server.port, "/api/v1/releases/", {"version": "1.0.0"}, token) == 201

        pids = set()
        for _ in range(200):
            text = scrape(server.port)
            requests = metric_values(text, "releasetracker_http_requests_total")
            assert sum(v for k, v in requests.items() if DEPLOYMENTS_POSTED in k) == posted
            releases = metric_values(text, "releasetracker_releases_recorded_total")
            assert releases == {'{source="api",status="pending"}': 1.0}
            pids = {
                line.split()[0] for line in (tmp_path / "access.log").read_text().splitlines() if " /metrics " in line
            }
            if len(pids) >= 2:
                break
        assert len(pids) >= 2, "every scrape was answered by one worker"
        assert re.search(r"^# TYPE releasetracker_http_request_duration_seconds histogram$", text, re.M)
        assert re.search(r"^releasetracker_webhook_deliveries\{state=\"pending\"\} 0\.0$", text, re.M)
    finally:
        server.stop()
