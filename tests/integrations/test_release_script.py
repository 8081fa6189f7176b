"""scripts/release.sh against a live server: the release, its commits, deployments, refusals and retries."""

import json
import socket
import subprocess
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deployments.models import Deployment
from releases.models import Release
from tests.factories import issue_token

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "release.sh"

pytestmark = pytest.mark.slow


def run(repo, *args, url: str, token: str = "", shell: str = "bash", **env) -> subprocess.CompletedProcess:
    environment = {
        **repo.env,
        "RELEASE_TRACKER_URL": url,
        "RELEASE_TRACKER_TOKEN": token,
        "RELEASE_TRACKER_BACKOFF": "0",
        **env,
    }
    return subprocess.run(
        [shell, str(SCRIPT), *args], cwd=repo.path, env=environment, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def at_v110(history):
    """The checkout a CI job building tag v1.1.0 has."""
    history.git("checkout", "-q", "v1.1.0")
    return history


@pytest.fixture
def token(org):
    return issue_token(org, scopes=["write"], name="ci")[1]


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_it_reports_the_release_with_the_commits_since_the_previous_tag(live_server, org, token, at_v110, shell):
    result = run(
        at_v110,
        "release",
        "--project",
        "web",
        "--repository",
        "acme/web",
        url=live_server.url,
        token=token,
        shell=shell,
    )

    assert result.returncode == 0, result.stderr
    assert "release v1.1.0 (2 commits since v1.0.0) recorded (HTTP 201)" in result.stderr
    release = Release.objects.for_organization(org).get(version="v1.1.0")
    commits = {c.sha: c for c in release.commits.select_related("repository")}
    assert set(commits) == {at_v110.shas["fix"], at_v110.shas["search"]}
    fix = commits[at_v110.shas["fix"]]
    assert fix.message == 'Fix "quoted" crash\n\nThe body\tline.'
    assert fix.author_name == "Alice"
    assert fix.author_email == "alice@example.com"
    assert fix.timestamp == datetime(2024, 3, 6, 9, 0, tzinfo=UTC)
    assert fix.repository.name == "acme/web"
    assert [p.name for p in release.projects.all()] == ["web"]
    ref = release.refs.get()
    assert (ref.commit, ref.previous_commit) == (at_v110.shas["search"], at_v110.shas["login"])


def test_the_first_release_sends_the_whole_history_with_unicode_authors(live_server, org, token, history):
    history.git("checkout", "-q", "v1.0.0")
    result = run(history, "release", url=live_server.url, token=token)

    assert result.returncode == 0, result.stderr
    release = Release.objects.for_organization(org).get(version="v1.0.0")
    assert sorted(c.author_name for c in release.commits.all()) == ["Alice", "Zoë Ünal"]


def test_a_repeat_is_answered_303_and_treated_as_success(live_server, org, token, at_v110):
    assert run(at_v110, "release", "--project", "web", url=live_server.url, token=token).returncode == 0

    again = run(at_v110, "release", "--project", "web", url=live_server.url, token=token)

    assert again.returncode == 0, again.stderr
    assert "already recorded (HTTP 303)" in again.stderr
    assert Release.objects.for_organization(org).count() == 1


def test_a_refusal_prints_the_servers_error_and_exits_non_zero(live_server, org, token, at_v110):
    assert run(at_v110, "release", "--project", "web", url=live_server.url, token=token).returncode == 0

    # The same version with other commits: the server refuses with a 409 saying what differs.
    result = run(
        at_v110, "release", "--project", "web", "--previous", at_v110.shas["init"], url=live_server.url, token=token
    )

    assert result.returncode == 1
    assert "refused (HTTP 409): version: release 'v1.1.0' already exists with different commits" in result.stderr
    assert Release.objects.get().commits.count() == 2


def test_a_bad_token_is_refused_with_the_servers_reason(live_server, org, at_v110):
    result = run(at_v110, "release", url=live_server.url, token="rt_not_a_real_token")
    assert result.returncode == 1
    assert "refused (HTTP 401): invalid token" in result.stderr
    assert Release.objects.count() == 0


def test_a_deployment_is_reported_with_the_jobs_outcome_and_is_idempotent_per_run(live_server, org, token, at_v110):
    ci = {
        "GITHUB_RUN_ID": "9123",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_JOB": "deploy",
        "GITHUB_REPOSITORY": "acme/web",
        "GITHUB_ACTOR": "alice",
        "GITHUB_REF_TYPE": "tag",
        "GITHUB_REF_NAME": "v1.1.0",
    }
    assert run(at_v110, "release", "--project", "web", url=live_server.url, token=token, **ci).returncode == 0

    result = run(
        at_v110,
        "deployment",
        "--environment",
        "production",
        "--status",
        "failed",
        url=live_server.url,
        token=token,
        **ci,
    )

    assert result.returncode == 0, result.stderr
    deployment = Deployment.objects.for_organization(org).select_related("release", "environment").get()
    assert deployment.release.version == "v1.1.0"
    assert deployment.environment.name == "production"
    assert deployment.status == "failure"
    assert deployment.commit_sha == at_v110.shas["search"]
    assert deployment.external_id == "github-9123-2-deploy"
    assert deployment.url == "https://github.com/acme/web/actions/runs/9123"
    assert deployment.triggered_by == "alice"

    again = run(
        at_v110,
        "deployment",
        "--environment",
        "production",
        "--status",
        "failed",
        url=live_server.url,
        token=token,
        **ci,
    )
    assert again.returncode == 0
    assert "already recorded (HTTP 303)" in again.stderr
    assert Deployment.objects.count() == 1


def test_a_deployment_of_an_unknown_release_fails_with_the_reason(live_server, org, token, at_v110):
    result = run(
        at_v110, "deployment", "--environment", "production", "--version", "v9.9.9", url=live_server.url, token=token
    )
    assert result.returncode == 1
    assert "release: no release with version 'v9.9.9'" in result.stderr


def test_a_skipped_job_reports_nothing(at_v110):
    result = run(at_v110, "deployment", "--environment", "production", "--status", "skipped", url="http://127.0.0.1:9")
    assert result.returncode == 0
    assert "skipped: nothing reported" in result.stderr


def test_missing_settings_are_named(at_v110):
    result = run(at_v110, "release", url="")
    assert result.returncode == 2
    assert "RELEASE_TRACKER_URL is not set" in result.stderr


class FlakyTracker(BaseHTTPRequestHandler):
    """Answers 503 twice, then 201: what a tracker behind a restarting load balancer looks like."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((self.headers["Idempotency-Key"], json.loads(body)))
        status = 503 if len(self.server.requests) < 3 else 201
        payload = json.dumps({"error": "warming up"} if status == 503 else {"version": "v1.1.0"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_it_retries_server_errors_with_the_same_idempotency_key(at_v110):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyTracker)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = run(at_v110, "release", url=f"http://127.0.0.1:{server.server_port}", token="rt_x")
    finally:
        server.shutdown()
        server.server_close()

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("retrying") == 2
    keys = {key for key, _ in server.requests}
    assert len(server.requests) == 3 and len(keys) == 1 and None not in keys
    assert all(body["version"] == "v1.1.0" for _, body in server.requests)


def test_it_gives_up_after_bounded_retries_when_the_server_is_unreachable(at_v110):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run(at_v110, "release", url=f"http://127.0.0.1:{port}", token="rt_x", RELEASE_TRACKER_RETRIES="3")

    assert result.returncode == 3
    assert result.stderr.count("retrying") == 2
    assert "gave up after 3 attempt(s)" in result.stderr
