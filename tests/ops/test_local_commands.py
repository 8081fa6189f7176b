"""A new user's first minutes: in a fresh clone, `make run`, then the README's manage.py lines as written.

The clone gets its own virtual environment from `make run` (pip, as a new user's would) and its
own SQLite database; the server `make run` starts is on a free port and stopped by its process
group once the commands have run.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.servers import ROOT, answers, free_port, wait_for

pytestmark = pytest.mark.slow

# The variables a new user's shell does not have; pytest's own would hide the checkout's .env.local.
NOT_IN_A_USERS_SHELL = (
    "PYTEST_VERSION",
    "PYTEST_CURRENT_TEST",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "DATABASE_URL",
    "DATABASE_REPLICA_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "VIRTUAL_ENV",
)


def readme_command_blocks(readme: str) -> list[str]:
    """The README's shell blocks that run manage.py with the checkout's virtual environment."""
    blocks = re.findall(r"^```sh\n(.*?)^```", readme, flags=re.S | re.M)
    return [block for block in blocks if ".venv/bin/python manage.py" in block]


def test_the_readme_shows_its_commands_with_the_virtual_environments_python():
    readme = (ROOT / "README.md").read_text()
    blocks = readme_command_blocks(readme)
    assert blocks, "no README block of .venv/bin/python manage.py commands"
    assert any("create_org acme" in block for block in blocks)


def _clone(tmp_path: Path) -> Path:
    if not (ROOT / ".git").exists() or shutil.which("git") is None or shutil.which("make") is None:
        pytest.skip("needs a git checkout, git and make")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    return clone


def test_make_run_then_the_readmes_commands_as_written_in_a_fresh_clone(tmp_path):
    clone = _clone(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in NOT_IN_A_USERS_SHELL}
    env["PORT"] = str(port := free_port())
    env["PYTHON"] = env.get("PYTHON", "python3")
    if subprocess.run([env["PYTHON"], "-c", "import sys; sys.exit(sys.version_info < (3, 11))"]).returncode:
        env["PYTHON"] = sys.executable  # a machine whose python3 is older: the one running the tests
    log = (tmp_path / "make-run.log").open("wb")
    # Its own process group: make, manage.py runserver and its reloader are stopped together.
    make = subprocess.Popen(
        ["make", "run"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for(
            lambda: make.poll() is not None or answers(port, "/healthz"),
            timeout=600,
            interval=0.5,
            what="make run to install, migrate, load the demo data and serve",
        )
        assert make.poll() is None, (tmp_path / "make-run.log").read_text()[-3000:]

        local_env = (clone / ".env.local").read_text()
        assert "DEBUG=1" in local_env
        assert re.search(r"^SECRET_KEY=\S{50,}$", local_env, re.M)
        assert oct((clone / ".env.local").stat().st_mode & 0o777) == "0o600"
        status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True)
        assert status.stdout == "", "make run left files that git does not ignore"

        for block in readme_command_blocks((clone / "README.md").read_text()):
            result = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block],
                cwd=clone,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert result.returncode == 0, f"{block}\n{result.stdout}\n{result.stderr}"
            assert "Traceback" not in result.stderr, result.stderr
        # What the block did, read back through the same checkout's settings.
        listing = subprocess.run(
            [
                ".venv/bin/python",
                "manage.py",
                "shell",
                "-c",
                "from releasetracker.models import ApiToken; "
                "tokens = ApiToken.objects.filter(organization__slug='acme'); "
                "print(sorted((t.name, t.revoked_at is not None) for t in tokens))",
            ],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        tokens = listing.stdout.strip().splitlines()[-1]
        assert tokens == "[('dashboards', True), ('github-actions', False)]", listing.stderr
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGTERM)
            try:
                make.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(make.pid, signal.SIGKILL)
                make.wait(timeout=10)
        log.close()
