"""EchoesHQ's deployments action, unchanged but for its host, against a live server.

``echoes_action.sh`` is the action's logic over HTTP (its curl and jq calls and its test of
``.status``), run with ``sh``; each step is invoked the way the action's ``action.yml`` passes
its inputs (``-t post-deploy``: the option and its value in one argument), and the id the first
step writes to ``GITHUB_OUTPUT`` is what the second step is given. A step must exit 0 when the
call succeeded and non-zero when it was refused, and the shell must never complain about what
it read (a ``.status`` that is not a number is the failure this guards against).
"""

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import caches
from django.utils import timezone

from deployments.models import Deployment
from releases.models import Release
from tests.compat import metric_counts
from tests.factories import CommitFactory, issue_token

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("echoes_action.sh")
SHA1 = "1" * 40
SHA2 = "2" * 40
TAG_URL = "https://github.com/acme/shop/releases/tag/v3.1.0"


def curl_refused(status: int) -> str:
    """What curl's --show-error prints for a refused call, and the only thing allowed on stderr."""
    return f"curl: (22) The requested URL returned error: {status}"


@pytest.fixture
def action(live_server, tmp_path):
    """Run one step of the action; returns the finished process and what it wrote to GITHUB_OUTPUT."""
    output = tmp_path / "github_output"

    def run(*inputs: str, key: str, url: str = "") -> tuple[subprocess.CompletedProcess, str]:
        output.write_text("")
        env = {
            "PATH": "/usr/bin:/bin",
            "ECHOES_URL": url or live_server.url,
            "ECHOES_API_KEY": key,
            "GITHUB_OUTPUT": str(output),
            "GITHUB_REPOSITORY": "acme/shop",
            "GITHUB_SHA": SHA1,
        }
        done = subprocess.run(["sh", str(SCRIPT), *inputs], env=env, capture_output=True, text=True, timeout=60)
        return done, output.read_text()

    return run


@pytest.fixture
def key(org) -> str:
    return issue_token(org, scopes=["write"], name="github actions")[1]


@pytest.fixture
def authored_earlier(org):
    for sha in (SHA1, SHA2):
        CommitFactory(organization=org, sha=sha, timestamp=timezone.now() - timedelta(hours=2))


def post_deploy(action, key: str, host: str = "", **options):
    inputs = {"version": "3.1.0", "deliverables": "shop", "commits": f"{SHA1}\n{SHA2}", "url": TAG_URL, **options}
    return action(
        "-t post-deploy",
        f"-v {inputs['version']}",
        f"-d {inputs['deliverables']}",
        f"-c {inputs['commits']}",
        f"-u {inputs['url']}",
        key=key,
        url=host,
    )


def test_post_deploy_exits_0_and_the_declaration_counts(action, key, org, read_api, authored_earlier):
    done, output = post_deploy(action, key)

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    release = Release.objects.get(organization=org)
    assert (release.version, release.url) == ("3.1.0", TAG_URL)
    assert [link.commit.sha for link in release.release_commits.all()] == [SHA1, SHA2]
    # The action writes the id as jq prints it, quoted; the next step's input trims the quotes.
    assert output == f'deployment_id="{release.public_id}"\n'
    counts = metric_counts(read_api)
    assert counts["deployment_frequency"] == {"count": 1}
    assert counts["lead_time"] == {"commits": 2}


def test_post_status_failure_exits_0_and_the_deployment_is_a_failed_change(
    action, key, org, read_api, authored_earlier
):
    _, output = post_deploy(action, key)
    deployment_id = output.strip().removeprefix("deployment_id=")

    done, _ = action("-t post-status", f"-i {deployment_id}", "-s failure", key=key)

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    assert Deployment.objects.get(organization=org).status == "failure"
    counts = metric_counts(read_api)
    assert counts["change_failure_rate"] == {"failed": 1, "total": 1}
    assert counts["deployment_frequency"] == {"count": 0}


def test_the_same_deployment_posted_again_follows_the_303_and_exits_0(action, key, org):
    first, first_output = post_deploy(action, key)

    again, again_output = post_deploy(action, key)

    assert (first.returncode, again.returncode) == (0, 0), again.stdout + again.stderr
    assert again.stderr == ""
    assert again_output == first_output
    assert Deployment.objects.filter(organization=org).count() == 1


@pytest.mark.parametrize(
    ("refused", "status"),
    [
        ({"key": "rt_not_a_valid_key"}, 401),
        ({"commits": "not-a-sha"}, 400),
        ({"host": "/v1/signals/not-here"}, 404),  # a path Echoes does not serve: its 404 too
    ],
)
def test_a_refused_post_deploy_exits_non_zero_without_a_shell_error(action, key, org, live_server, refused, status):
    arguments = {"key": key, **refused}
    if "host" in arguments:
        arguments["host"] = live_server.url + arguments["host"]

    done, output = post_deploy(action, **arguments)

    assert done.returncode != 0
    assert done.stderr.strip() == curl_refused(status)
    assert f'"status": {status}' in done.stdout
    assert output == ""
    assert not Release.objects.filter(organization=org).exists()


def test_a_refused_post_status_exits_non_zero_without_a_shell_error(action, key, org):
    done, _ = action("-t post-status", "-i 00000000-0000-0000-0000-000000000000", "-s success", key=key)

    assert done.returncode != 0
    assert done.stderr.strip() == curl_refused(404)
    assert '"status": 404' in done.stdout


def test_a_rate_limited_step_exits_non_zero_without_a_shell_error(action, key, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "1/min", "anon": "1/min"}}
    caches[settings.RATE_LIMIT_CACHE].clear()
    try:
        assert post_deploy(action, key)[0].returncode == 0

        done, _ = post_deploy(action, key, version="3.1.1")

        assert done.returncode != 0
        assert done.stderr.strip() == curl_refused(429)
    finally:
        caches[settings.RATE_LIMIT_CACHE].clear()
