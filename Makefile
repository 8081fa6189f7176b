# `make run` and `make test` work on a fresh machine with Python 3.11+ only.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)

.PHONY: install run test lint format

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

# This checkout's development settings (DEBUG=1, its own SECRET_KEY; ignored by git), read by
# releasetracker/settings.py, so the README's `.venv/bin/python manage.py ...` lines run as written.
.env.local:
	$(PYTHON) scripts/local_env.py $@

run: install .env.local
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

test: install tools
	$(PY) -m pytest

# The real sentry-cli, one directory per major version, for tests/compat/test_sentry_cli.py
# (which skips, saying why, when one could not be installed). `make run` does not need it.
SENTRY_CLI_3 := 3.8.2
SENTRY_CLI_2 := 2.58.6
.PHONY: tools
tools: .tools/sentry-cli-3/.installed-$(SENTRY_CLI_3) .tools/sentry-cli-2/.installed-$(SENTRY_CLI_2)

# The stamp names the pinned version: changing a pin reinstalls; a failed install is retried next time.
.tools/sentry-cli-3/.installed-$(SENTRY_CLI_3) .tools/sentry-cli-2/.installed-$(SENTRY_CLI_2): | $(STAMP)
	@rm -rf $(@D)
	@if $(PY) -m pip install --quiet --disable-pip-version-check --target $(@D) \
			sentry-cli==$(subst $(@D)/.installed-,,$@); then touch $@; \
		else echo "sentry-cli $(subst $(@D)/.installed-,,$@) could not be installed: its tests will skip"; fi

# PNGs of the four main pages with demo data, taken by Debian's Chromium (apt-get install chromium):
# the script serves a throwaway demo database on a free port and stops that server when done.
.PHONY: screenshots
screenshots: install
	$(PY) scripts/screenshots.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Benchmarks against PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/rt_bench;
# needs wrk: apt-get install wrk). Writes docs/performance.md; fails when a target fails.
.PHONY: bench
bench: install
	$(PY) bench/run.py
