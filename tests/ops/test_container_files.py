"""The container files agree with each other (scripts/container-smoke.sh builds and runs the image itself)."""

import re

import yaml

from tests.ops.servers import ROOT

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
CONTAINERFILE = (ROOT / "Containerfile").read_text()


def test_compose_runs_postgresql_the_app_and_the_webhook_worker_with_a_volume():
    services = COMPOSE["services"]
    assert set(services) == {"db", "app", "worker"}
    assert services["db"]["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    assert "pgdata" in COMPOSE["volumes"]
    assert services["worker"]["command"] == ["python", "manage.py", "deliver_webhooks"]
    assert services["worker"]["depends_on"] == {"app": {"condition": "service_healthy"}}
    assert services["app"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("app", "worker"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgres://tracker:")
        assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?")


def test_the_app_migrates_before_it_serves_as_the_smoke_test_runs_it():
    command = COMPOSE["services"]["app"]["command"]
    assert command[:2] == ["sh", "-c"]
    # migrate alone makes every table, the rate-limit counters' included (no createcachetable step).
    assert command[2] == "python manage.py migrate --noinput && exec gunicorn -c gunicorn.conf.py releasetracker.wsgi"
    assert f"'{command[2]}'" in (ROOT / "scripts" / "container-smoke.sh").read_text()


def test_the_image_is_built_on_a_base_argument_runs_gunicorn_as_a_user_with_a_home_and_checks_livez():
    assert re.search(r"^ARG BASE=debian:bookworm-slim$", CONTAINERFILE, re.M)
    assert CONTAINERFILE.count("FROM ") >= 3  # python, build, and the image itself
    assert re.search(r"useradd --create-home --home-dir /home/tracker", CONTAINERFILE)
    assert re.search(r"^USER tracker$", CONTAINERFILE, re.M)
    assert "manage.py collectstatic" in CONTAINERFILE
    assert re.search(r"^HEALTHCHECK .*\n.*/livez", CONTAINERFILE, re.M)
    assert re.search(r'^CMD \["gunicorn", "-c", "gunicorn.conf.py"', CONTAINERFILE, re.M)
    # The build machine's CA bundle is a secret of the install step, never a file of the image.
    assert "--mount=type=secret,id=ca-certificates" in CONTAINERFILE
    assert not re.search(r"^(COPY|ADD) .*(\.crt|\.pem|ca-certificates)", CONTAINERFILE, re.M)


def test_nothing_local_goes_into_the_image():
    ignored = (ROOT / ".containerignore").read_text().split()
    for path in (".env.local", ".venv", ".git", "db.sqlite3", "staticfiles"):
        assert path in ignored
