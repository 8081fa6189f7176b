"""The documented limits hold across gunicorn workers with the production default store (no CACHE_URL).

Each worker is its own process; the counters are rows of the ``rt_cache`` table that ``migrate``
made, so 60 requests a minute per address and 5 sign-in failures per account are totals, not
per-worker figures. Requests are sent from several threads at once so that several workers
answer them (the access log names the pid of each).
"""

import http.client
import re
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest

from tests.ops.servers import manage, server_env, start_gunicorn, wait_for

pytestmark = pytest.mark.slow

PER_IP = 60
LOGIN_FAILURES = 5
PASSWORD = "a-long-and-correct-password-41"


def send(port: int, method: str, path: str, body: str = "", headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def answered_by(access_log, request_line: str) -> set[str]:
    return {line.split()[0] for line in access_log.read_text().splitlines() if request_line in line}


@pytest.fixture(scope="module")
def server(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rate-limits")
    env = server_env(
        cluster.database_url("rt_rate_workers"),
        GUNICORN_CMD_ARGS="--access-logformat '%(p)s %(r)s %(s)s'",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        # The sign-in page names its stylesheet through the production manifest: a copy of its own.
        STATIC_ROOT=str(workdir / "static"),
    )
    env.pop("CACHE_URL", None)  # the production default
    env.pop("RATE_LIMIT_PER_IP", None)
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    manage(env, "createsuperuser", "--noinput", "--username", "alice", "--email", "alice@example.com")
    instance = start_gunicorn(env, workdir, workers=3)
    instance.access_log = workdir / "access.log"
    try:
        yield instance
    finally:
        instance.stop()


def test_sixty_one_requests_without_a_token_across_workers_meet_the_per_ip_limit(server):
    # The limit's windows start on the minute: the burst is sent early in one, so that all of it
    # is counted in the same window.
    wait_for(lambda: time.time() % 60 < 40, timeout=25, what="the first 40 seconds of a minute")
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: send(server.port, "GET", "/api/v1/releases/")[0], range(PER_IP + 1)))
    # Exactly 60 pass, whichever workers count them and however they interleave.
    assert sorted(statuses) == [401] * PER_IP + [429], "61 requests a minute from one address all passed"
    assert len(answered_by(server.access_log, "GET /api/v1/releases/")) >= 2, "one worker answered everything"

    status, headers, body = send(server.port, "GET", "/api/v1/releases/")
    assert status == 429
    assert b'"code":"throttled"' in body.replace(b" ", b"")
    assert 1 <= int(dict(headers)["Retry-After"]) <= 60


def test_sign_in_locks_after_five_failures_whichever_workers_count_them(server):
    status, headers, page = send(server.port, "GET", "/accounts/login/")
    assert status == 200
    cookie = re.search(r"csrftoken=([^;]+)", dict(headers)["Set-Cookie"]).group(1)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()

    def sign_in(password: str) -> int:
        body = urlencode({"csrfmiddlewaretoken": token, "username": "alice", "password": password})
        return send(
            server.port,
            "POST",
            "/accounts/login/",
            body,
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookie}"},
        )[0]

    with ThreadPoolExecutor(max_workers=LOGIN_FAILURES) as pool:
        failures = list(pool.map(lambda n: sign_in(f"wrong-password-{n}"), range(LOGIN_FAILURES)))
    assert failures == [200] * LOGIN_FAILURES  # the form again, with its error
    assert len(answered_by(server.access_log, "POST /accounts/login/")) >= 2, "one worker counted every failure"
    # The sixth try is refused before the password is checked, the right one included.
    assert sign_in(PASSWORD) == 429
