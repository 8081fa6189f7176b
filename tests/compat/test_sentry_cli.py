"""The real ``sentry-cli`` (3.x and 2.x, installed by ``make tools``) against a live server.

2.x calls project-scoped URLs when one project is configured, 3.x organization URLs, so running
both covers both route families. Each test asserts what the CLI prints and what we stored.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from deployments.models import Deployment, DeploymentStatus
from releases.models import Commit, Release, ReleaseRef, Repository, Source
from tests.compat import metric_counts
from tests.factories import OrganizationFactory, RepositoryFactory, issue_token

pytestmark = pytest.mark.slow

TOOLS = Path(__file__).resolve().parents[2] / ".tools"
VERSIONS = ["3.8.2", "2.58.6"]

HEAD = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
PREV = "0f1e2d3c4b5a69788796a5b4c3d2e1f001234567"
# sentry-cli percent-encodes versions in paths: this one arrives as web@1.2.3%2Bbuild%205.
VERSION = "web@1.2.3+build 5"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Cli:
    binary: Path
    version: str
    env: dict[str, str]
    cwd: Path

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def __call__(self, *args: str, project: str | None = "web", cwd: Path | None = None, **extra_env: str) -> Result:
        env = dict(self.env, **extra_env)
        if project:
            env["SENTRY_PROJECT"] = project
        done = subprocess.run(  # noqa: S603 - our own pinned binary, fixed arguments
            [str(self.binary), *args],
            env=env,
            cwd=cwd or self.cwd,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, **kwargs) -> str:
        result = self(*args, **kwargs)
        assert result.returncode == 0, f"sentry-cli {' '.join(args)} failed:\n{result.output}"
        return result.stdout


@pytest.fixture(params=VERSIONS, ids=lambda v: f"sentry-cli-{v}")
def cli(request, live_server, tmp_path) -> Cli:
    version = request.param
    binary = TOOLS / f"sentry-cli-{version.split('.')[0]}" / "bin" / "sentry-cli"
    if not binary.exists():
        pytest.skip(f"sentry-cli {version} is not installed at {binary}: run `make tools` (needs PyPI access)")
    found = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False).stdout.strip()  # noqa: S603
    if found != f"sentry-cli {version}":
        pytest.skip(f"{binary} is '{found}', not sentry-cli {version}: run `make tools`")
    org = OrganizationFactory(slug="acme", name="Acme")
    _, clear = issue_token(org, scopes=["write"], name="sentry-cli")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        # Nothing from the caller's environment or ~/.sentryclirc: only what a CI step would set.
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "SENTRY_URL": live_server.url,
        "SENTRY_AUTH_TOKEN": clear,
        "SENTRY_ORG": "acme",
        "SENTRY_DISABLE_UPDATE_CHECK": "1",
        "SENTRY_LOAD_DOTENV": "0",
        "SENTRY_NO_PROGRESS_BARS": "1",
        "SENTRY_HTTP_MAX_RETRIES": "0",
    }
    return Cli(binary=binary, version=version, env=env, cwd=tmp_path)


@pytest.fixture
def native(cli) -> APIClient:
    """The native API with the CLI's token: what a person registers, and the DORA metrics."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {cli.env['SENTRY_AUTH_TOKEN']}")
    return client


def register(native: APIClient, **fields):
    body = {"name": "acme/web", "url": "https://github.com/acme/web", "provider": "github", **fields}
    return native.post("/api/v1/repositories/", body, format="json")


def checkout(cli: Cli, *, authored: list[datetime], remote: str = "https://github.com/acme/web.git") -> Path:
    """A git checkout whose origin is ``remote``, with one commit per time in ``authored``."""
    work = cli.cwd / "checkout"
    work.mkdir()
    git(work, cli, "init", "-q")
    for n, when in enumerate(authored, start=1):
        stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        (work / "file.txt").write_text(f"{n}\n")
        git(work, cli, "add", "file.txt")
        git(work, cli, "commit", "-q", "-m", f"change {n}", GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
    git(work, cli, "remote", "add", "origin", remote)
    return work


def git(work: Path, cli: Cli, *args: str, **extra_env: str) -> str:
    env = {
        "HOME": cli.env["HOME"],
        "PATH": cli.env["PATH"],
        "GIT_AUTHOR_NAME": "Dana Dev",
        "GIT_AUTHOR_EMAIL": "dana@example.com",
        "GIT_COMMITTER_NAME": "CI",
        "GIT_COMMITTER_EMAIL": "ci@example.com",
        **extra_env,
    }
    return subprocess.run(  # noqa: S603 - git with fixed arguments
        ["git", *args], cwd=work, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture
def repo(cli):
    return RepositoryFactory(
        organization__slug="acme", name="acme/web", url="https://github.com/acme/web", provider="github"
    )


def test_info_shows_the_server_and_the_tokens_scopes(cli):
    out = cli.ok("info")
    assert "Default Organization: acme" in out
    assert "Method: Auth Token" in out
    assert "project:releases" in out


def test_releases_new_creates_once_and_again_is_accepted(cli):
    assert f"Created release {VERSION}" in cli.ok("releases", "new", VERSION)
    assert f"Created release {VERSION}" in cli.ok("releases", "new", VERSION)
    release = Release.objects.get(version=VERSION)
    assert release.source == Source.SENTRY
    assert [p.name for p in release.projects.all()] == ["web"]
    assert release.date_released is None


def test_releases_new_finalize_sets_the_release_date(cli):
    cli.ok("releases", "new", "web@2.0", "--finalize")
    assert Release.objects.get(version="web@2.0").date_released is not None


def test_set_commits_records_the_head_and_previous_commits(cli, repo):
    cli.ok("releases", "new", VERSION)
    out = cli.ok("releases", "set-commits", VERSION, "--commit", f"acme/web@{HEAD}")
    assert "acme/web" in out and HEAD[:12] in out
    ref = ReleaseRef.objects.get(release__version=VERSION)
    assert (ref.repository, ref.commit, ref.previous_commit) == (repo, HEAD, "")

    out = cli.ok("releases", "set-commits", VERSION, "--commit", f"acme/web@{PREV}..{HEAD}")
    assert f"{PREV[:12]} -> {HEAD[:12]}" in out
    ref.refresh_from_db()
    assert (ref.commit, ref.previous_commit) == (HEAD, PREV)
    assert [c.sha for c in Release.objects.get(version=VERSION).commits.all()] == [HEAD]


def test_set_commits_to_an_unknown_repository_is_refused(cli, repo):
    cli.ok("releases", "new", VERSION)
    result = cli("releases", "set-commits", VERSION, "--commit", f"acme/nope@{HEAD}")
    assert result.returncode == 1
    assert "Unknown repo 'acme/nope'" in result.output
    assert not ReleaseRef.objects.exists() and not Commit.objects.exists()


def test_finalize_with_a_release_time_and_url(cli):
    cli.ok("releases", "new", VERSION)
    out = cli.ok("releases", "finalize", VERSION, "--released", "1763700000", "--url", "https://ci.example/r/5")
    assert f"Finalized release {VERSION}" in out
    release = Release.objects.get(version=VERSION)
    assert release.date_released == datetime.fromtimestamp(1763700000, tz=UTC)
    assert release.url == "https://ci.example/r/5"


def test_deploys_in_both_syntaxes_are_recorded_and_listed(cli):
    cli.ok("releases", "new", VERSION)
    out = cli.ok(
        "deploys",
        "new",
        "-r",
        VERSION,
        "-e",
        "production",
        "-n",
        "deploy one",
        "-u",
        "https://ci.example/d",
        "-t",
        "90",
    )
    assert "Created new deploy deploy one for 'production'" in out
    out = cli.ok(
        "releases", "deploys", VERSION, "new", "-e", "staging", "--started", "1763700000", "--finished", "1763700100"
    )
    assert "Created new deploy unnamed for 'staging'" in out

    production = Deployment.objects.get(environment__name="production")
    assert production.release.version == VERSION
    assert production.title == "deploy one" and production.url == "https://ci.example/d"
    assert production.status == DeploymentStatus.SUCCESS and production.source == Source.SENTRY
    assert production.duration_seconds == pytest.approx(90, abs=2)
    assert production.project.name == "web"
    staging = Deployment.objects.get(environment__name="staging")
    assert staging.started_at == datetime.fromtimestamp(1763700000, tz=UTC)
    assert staging.finished_at == datetime.fromtimestamp(1763700100, tz=UTC)
    assert staging.duration_seconds == 100

    out = cli.ok("deploys", "list", "-r", VERSION)
    assert "production" in out and "deploy one" in out and "staging" in out


def test_releases_list_for_the_project_and_the_organization(cli):
    cli.ok("releases", "new", "web@1.0")
    cli.ok("releases", "new", "api@1.0", project="api")
    project_list = cli.ok("releases", "list")
    assert "web@1.0" in project_list and "api@1.0" not in project_list
    org_list = cli.ok("releases", "list", "-P", project=None)
    assert "web@1.0" in org_list and "api@1.0" in org_list


def test_releases_info_shows_projects_and_commits(cli, repo):
    cli.ok("releases", "new", VERSION)
    cli.ok("releases", "set-commits", VERSION, "--commit", f"acme/web@{PREV}..{HEAD}")
    out = cli.ok("releases", "info", VERSION, "-P", "-C")
    assert VERSION in out and "web" in out and HEAD in out


def test_releases_info_on_a_missing_version_exits_1(cli):
    result = cli("releases", "info", "web@9.9.9")
    assert result.returncode == 1


def test_a_token_of_another_organization_gets_sentrys_403_detail(cli):
    other = OrganizationFactory(slug="globex", name="Globex")
    _, clear = issue_token(other, scopes=["write"], name="globex-ci")
    result = cli("releases", "new", VERSION, SENTRY_AUTH_TOKEN=clear)
    assert result.returncode == 1
    assert "You do not have permission to perform this action." in result.output
    assert not Release.objects.exists()


@needs_git
def test_set_commits_local_stores_git_commits_with_authors_and_times(cli, repo):
    authored = datetime(2025, 11, 20, 8, tzinfo=UTC)
    work = checkout(cli, authored=[authored, authored])
    shas = git(work, cli, "log", "--format=%H").split()

    cli.ok("releases", "new", "web@3.0")
    out = cli.ok("releases", "set-commits", "web@3.0", "--local", "--ignore-missing", cwd=work)
    assert "Set commits for release web@3.0" in out
    release = Release.objects.get(version="web@3.0")
    stored = [rc.commit for rc in release.release_commits.order_by("position")]
    assert [c.sha for c in stored] == shas
    assert all(c.author_name == "Dana Dev" and c.author_email == "dana@example.com" for c in stored)
    assert all(c.timestamp == authored for c in stored)
    assert stored[0].message == "change 2"

    # --auto matches the git remote to the registered repository by URL and sends a ref.
    cli.ok("releases", "new", "web@3.1")
    out = cli.ok("releases", "set-commits", "web@3.1", "--auto", cwd=work)
    assert "acme/web" in out and shas[0][:12] in out
    assert ReleaseRef.objects.get(release__version="web@3.1").commit == shas[0]

    # --clear would replace the list in Sentry; here it is refused, not pretended.
    result = cli("releases", "set-commits", "web@3.0", "--clear")
    assert result.returncode == 1
    assert "clearing a release's commits is not supported" in result.output
    assert release.release_commits.count() == 2


# Archive and restore ---------------------------------------------------------------------------


def test_archive_and_restore_change_the_release_and_leave_the_metrics_alone(cli, native):
    cli.ok("releases", "new", "web@1.0")
    cli.ok("releases", "new", "web@1.1")
    cli.ok("deploys", "new", "-r", "web@1.0", "-e", "production")
    before = metric_counts(native)
    assert before["deployment_frequency"]["count"] == 1

    assert "Archived release web@1.0" in cli.ok("releases", "archive", "web@1.0")

    assert Release.objects.get(version="web@1.0").archived_at is not None
    listed = cli.ok("releases", "list")
    assert "web@1.1" in listed and "web@1.0" not in listed  # hidden from Sentry's list, as in Sentry
    assert "web@1.0" in cli.ok("releases", "info", "web@1.0")  # still there
    assert metric_counts(native) == before

    assert "Restored release web@1.0" in cli.ok("releases", "restore", "web@1.0")

    assert Release.objects.get(version="web@1.0").archived_at is None
    assert "web@1.0" in cli.ok("releases", "list")
    assert metric_counts(native) == before


# set-commits --auto, whatever the order in which the repository became known ------------------


@needs_git
@pytest.mark.parametrize("order", ["registered first", "seen in a commit first", "auto before registering"])
def test_set_commits_auto_gives_lead_time_in_any_order_of_registration(cli, native, order):
    now = timezone.now()
    work = checkout(cli, authored=[now - timedelta(hours=3), now - timedelta(hours=2)])
    head, parent = git(work, cli, "log", "--format=%H").split()
    cli.ok("releases", "new", "web@2.0")
    if order == "registered first":
        assert register(native).status_code == 201
        expected_commits = 1  # the ref's head: a bare sha, timed when it was first seen
    elif order == "seen in a commit first":
        # The native commits POST names the repository first: it is stored without URL and provider.
        release = native.get("/api/v1/releases/?version=web@2.0").json()["results"][0]
        body = {
            "commits": [{"sha": parent, "repository": "acme/web", "timestamp": (now - timedelta(hours=3)).isoformat()}]
        }
        assert native.post(f"/api/v1/releases/{release['id']}/commits/", body, format="json").status_code == 201
        assert Repository.objects.get(name="acme/web").provider == ""
        assert register(native).status_code == 303  # registering it now completes it
        expected_commits = 2
    else:
        # No repository yet: --auto falls back to the local git history (commits with their times).
        out = cli.ok("releases", "set-commits", "web@2.0", "--auto", cwd=work)
        assert "Could not determine any commits to be associated with a repo-based integration" in out
        assert register(native).status_code == 201
        expected_commits = 2

    out = cli.ok("releases", "set-commits", "web@2.0", "--auto", cwd=work)
    assert "acme/web" in out and head[:12] in out
    assert ReleaseRef.objects.get(release__version="web@2.0").commit == head
    cli.ok("deploys", "new", "-r", "web@2.0", "-e", "production")

    counts = metric_counts(native)
    assert counts["deployment_frequency"]["count"] == 1
    assert counts["lead_time"]["commits"] == expected_commits


# Artifacts: refused with a message sentry-cli prints, and a non-zero exit ----------------------

NOT_STORED = "does not store artifacts (source maps, debug files, release files)"


def build_dir(cli: Cli) -> Path:
    build = cli.cwd / "build"
    build.mkdir()
    (build / "app.js").write_text("console.log(1);\n//# sourceMappingURL=app.js.map\n")
    (build / "app.js.map").write_text('{"version":3,"file":"app.js","sources":["a.js"],"names":[],"mappings":"AAAA"}')
    return build


def test_artifact_uploads_fail_saying_this_server_does_not_store_them(cli):
    build = build_dir(cli)
    cli.ok("releases", "new", "web@3.0")
    commands = [
        ["sourcemaps", "upload", "--release", "web@3.0", str(build)],
        ["sourcemaps", "upload", str(build)],
        ["debug-files", "upload", str(build)],
    ]
    if cli.major == 2:  # 3.x has no `releases files`
        commands += [
            ["releases", "files", "web@3.0", "upload-sourcemaps", str(build)],
            ["releases", "files", "web@3.0", "list"],
        ]
    for command in commands:
        # With sentry-cli's own retries on: a 4xx is not retried.
        result = cli(*command, SENTRY_HTTP_MAX_RETRIES="5")
        assert result.returncode == 1, (command, result.output)
        assert NOT_STORED in result.output, (command, result.output)
        assert "organization not found" not in result.output and "Release not found" not in result.output


def test_a_finalize_after_a_refused_upload_fails_once(cli):
    build = build_dir(cli)
    cli.ok("releases", "new", "web@3.1")
    assert cli("sourcemaps", "upload", "--release", "web@3.1", str(build)).returncode == 1

    refused = cli("releases", "finalize", "web@3.1")

    assert refused.returncode == 1
    assert "Not finalized: an artifact upload from this client was refused" in refused.output
    assert Release.objects.get(version="web@3.1").date_released is None
    cli.ok("releases", "finalize", "web@3.1")
    assert Release.objects.get(version="web@3.1").date_released is not None


# getsentry/action-release: its flow and its wrapper's idea of success ---------------------------

ACTION = Path(__file__).with_name("action_release.js")


@needs_git
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_action_release_fails_when_asked_for_sourcemaps_and_records_the_rest(cli, native):
    now = timezone.now()
    work = checkout(cli, authored=[now - timedelta(hours=2)])
    head = git(work, cli, "rev-parse", "HEAD")
    register(native)
    build = build_dir(cli)

    def action(**inputs: str) -> Result:
        env = {
            **cli.env,
            "SENTRY_PROJECT": "web",
            "SENTRY_BINARY_PATH": str(cli.binary),
            "SENTRY_PIPELINE": "github-action-release/3.5.0",
            **{f"INPUT_{name.upper()}": value for name, value in inputs.items()},
        }
        done = subprocess.run(  # noqa: S603 - node with our own script
            ["node", str(ACTION)], cwd=work, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        return Result(done.returncode, done.stdout, done.stderr)

    failed = action(release="web@4.0", environment="production", sourcemaps=str(build))

    # The upload step itself passes in the wrapper; the finalize that follows fails the run.
    assert failed.returncode == 1, failed.output
    assert NOT_STORED in failed.output
    assert "::error::Command failed:" in failed.stdout and "releases finalize web@4.0" in failed.stdout
    assert "Not finalized: an artifact upload from this client was refused" in failed.stdout
    release = Release.objects.get(version="web@4.0")
    assert ReleaseRef.objects.get(release=release).commit == head
    assert Deployment.objects.filter(release=release, environment__name="production").count() == 1
    assert release.date_released is None

    passed = action(release="web@4.0", environment="production")

    assert passed.returncode == 0, passed.output
    assert Release.objects.get(version="web@4.0").date_released is not None
    counts = metric_counts(native)
    assert counts["deployment_frequency"]["count"] == 2
    assert counts["lead_time"]["commits"] == 1
