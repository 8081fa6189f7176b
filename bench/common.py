"""Shared plumbing of the benchmark scripts: databases, servers, the load generator and the report.

Nothing here is imported by the product. Every server a script starts is stopped by its pid;
every figure is printed next to the command that produced it, and every target becomes one line
``<name>: <value> (target <op> <bound>): PASS|FAIL``.
"""

from __future__ import annotations

import json
import operator
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PERFORMANCE_MD = ROOT / "docs" / "performance.md"
# Only databases named rt_bench* are ever created, migrated or filled by the benchmarks.
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/rt_bench"
BENCH_SECRET_KEY = "bench-only-secret-key-not-for-production-0123456789-abcdefghij"


# Database -----------------------------------------------------------------------------------


def database_url(suffix: str = "") -> str:
    """The benchmark database URL (``BENCH_DATABASE_URL``), optionally with a suffix on the name."""
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    if suffix:
        url = url.rstrip("/") + suffix
    name = url.rsplit("/", 1)[-1].split("?")[0]
    if not name.startswith("rt_bench"):
        raise SystemExit(f"refusing to use database {name!r}: benchmark databases are named rt_bench*")
    return url


def ensure_database(url: str) -> None:
    """Create the database when it is missing (connecting to the server's ``postgres`` database)."""
    import psycopg

    base, name = url.rsplit("/", 1)
    name = name.split("?")[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def product_env(url: str, **extra: str) -> dict[str, str]:
    """Environment of the product in production mode, pointed at a benchmark database."""
    env = dict(os.environ)
    for name in ("DEBUG", "DJANGO_SETTINGS_MODULE", "DATABASE_REPLICA_URL"):
        env.pop(name, None)
    env.update(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": BENCH_SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
            # One token drives the whole load: the per-token limit (a policy, default 1200/min) is
            # raised so the benchmark measures the work, while the throttle's own cost stays in.
            "RATE_LIMIT_PER_TOKEN": "100000000/min",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env


# This server runs with autovacuum off, so nothing refreshes the planner's statistics while a
# benchmark adds tens of thousands of rows: without this the planner, believing a table still
# small, picks plans a normal (autovacuumed) server would not. Scripts call it where autovacuum
# would have run.
ANALYZED_TABLES = (
    "deployments_deployment",
    "deployments_deploymentstatuschange",
    "deployments_environment",
    "releases_release",
    "releases_commit",
    "releases_releasecommit",
    "releases_releaseproject",
    "releasetracker_apitoken",
)


def analyze(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ANALYZE {', '.join(ANALYZED_TABLES)}")


def migrate(url: str) -> None:
    run_command([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env=product_env(url))


def run_command(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def setup_django(url: str) -> None:
    """Configure Django in this process with the production settings on the benchmark database."""
    for key, value in product_env(url).items():
        os.environ[key] = value
    os.environ["DJANGO_SETTINGS_MODULE"] = "releasetracker.settings"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    # The test client renders pages in this process: plain static storage needs no collectstatic.
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


# Servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        return child_pids(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def child_pids(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(children)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def gunicorn_command(app: str, port: int) -> list[str]:
    return [
        str(Path(PYTHON).parent / "gunicorn"),
        "-c",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        app,
    ]


def start_server(
    name: str, app: str, env: dict[str, str], *, ready_path: str, workdir: Path, timeout: float = 60
) -> Server:
    """Start ``app`` under gunicorn with the production config and wait until it answers."""
    port = free_port()
    log_path = workdir / f"{name}.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        gunicorn_command(app, port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    server = Server(name=name, process=process, port=port, log_path=log_path)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.base_url + ready_path, timeout=2) as response:  # noqa: S310
                if response.status < 500:
                    break
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError(f"{name} did not answer within {timeout}s:\n{server.log_tail()}")
        time.sleep(0.1)
    return server


def stop_server(server: Server, timeout: float = 30) -> None:
    """Stop gunicorn by its master pid (SIGTERM, then SIGKILL of that pid and its workers)."""
    if server.process.poll() is not None:
        return
    workers = server.worker_pids()
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in [server.pid, *workers]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        server.process.wait(timeout=10)


@contextmanager
def running(*args, **kwargs) -> Iterator[Server]:
    server = start_server(*args, **kwargs)
    try:
        yield server
    finally:
        stop_server(server)


def workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"rt-bench-{prefix}-"))


# Load generator -----------------------------------------------------------------------------

WRK_LUA = r"""
-- Generated by bench/common.py: unique bodies per request, per-thread error counts, JSON summary.
local threads = {}
local body_template = __BODY__
local method = "__METHOD__"
local path = "__PATH__"
local expected = __EXPECTED__
local limit = __LIMIT__
local run_id = "__RUN__"

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  responses = 0
  bad = 0
  samples = ""
  wrk.headers["Authorization"] = "Bearer __TOKEN__"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local body = nil
  if body_template ~= "" then
    local unique = string.format("%04x%010x", tid, counter)
    body = string.gsub(body_template, "{{U}}", unique)
    body = string.gsub(body, "{{RUN}}", run_id)
  end
  return wrk.format(method, path, nil, body)
end

function response(status, headers, body)
  responses = responses + 1
  if expected[status] == nil then
    bad = bad + 1
    if bad <= 2 then samples = samples .. status .. " " .. string.sub(body, 1, 300) .. "\n" end
  end
  if limit > 0 and responses >= limit then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local bad_total = 0
  local answered = 0
  local sample_text = ""
  for _, thread in ipairs(threads) do
    bad_total = bad_total + thread:get("bad")
    answered = answered + thread:get("responses")
    sample_text = sample_text .. thread:get("samples")
  end
  local e = summary.errors
  sample_text = string.gsub(sample_text, '[%c"\\]', ' ')
  io.write(string.format(
    '\nWRK_JSON {"requests": %d, "answered": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, "unexpected": %d, "samples": "%s"}\n',
    summary.requests, answered, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout, bad_total, sample_text))
end
"""


@dataclass
class LoadResult:
    command: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    samples: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk(
    url: str,
    *,
    token: str,
    method: str = "GET",
    body: str = "",
    expected: tuple[int, ...] = (200,),
    seconds: float = 10,
    connections: int = 16,
    threads: int = 2,
    limit: int = 0,
    run_id: str = "",
    workdir: Path,
    label: str,
) -> LoadResult:
    """Drive ``url`` with wrk for ``seconds`` (or until ``limit`` responses, with one thread).

    ``body`` may contain ``{{U}}`` (unique per request) and ``{{RUN}}`` (unique per run).
    Errors are socket errors, timeouts and every response whose status is not ``expected``.
    """
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for the load benchmarks: apt-get install wrk (Debian/Ubuntu)")
    path = "/" + url.split("/", 3)[3]
    lua = (
        WRK_LUA.replace("__BODY__", json.dumps(body))
        .replace("__METHOD__", method)
        .replace("__PATH__", path)
        .replace("__EXPECTED__", "{" + ", ".join(f"[{code}] = true" for code in expected) + "}")
        .replace("__LIMIT__", str(limit))
        .replace("__RUN__", run_id)
        .replace("__TOKEN__", token)
    )
    script = workdir / f"{label}.lua"
    script.write_text(lua)
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, int(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, check=False)
    match = re.search(r"^WRK_JSON (.*)$", out.stdout, re.MULTILINE)
    if not match:
        raise RuntimeError(f"wrk gave no summary ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    data = json.loads(match.group(1))
    errors = data["connect"] + data["read"] + data["write"] + data["timeout"] + data["unexpected"]
    shown = shlex.join([c if c != str(script) else f"<{label}.lua>" for c in cmd])
    return LoadResult(
        command=shown,
        requests=data["answered"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=errors,
        samples=data["samples"],
    )


def wrk_version() -> str:
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return "wrk missing"
    first = (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "wrk"
    return first.split(" Copyright")[0].strip()


# Report -------------------------------------------------------------------------------------

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}


@dataclass
class Target:
    name: str
    value: float | None
    op: str
    bound: float
    unit: str = ""
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.value is not None and _OPS[self.op](self.value, self.bound)

    def line(self) -> str:
        fmt = (lambda v: f"{v:.2f}") if self.unit == "x" else _fmt  # ratios always with 2 decimals
        shown = "n/a" if self.value is None else f"{fmt(self.value)}{self.unit}"
        bound = f"{fmt(self.bound)}{self.unit}"
        verdict = "PASS" if self.passed else "FAIL"
        note = f"  ({self.note})" if self.note else ""
        return f"{self.name}: {shown} (target {self.op} {bound}): {verdict}{note}"


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}"


@dataclass
class Report:
    """What a script prints and writes into its own section of docs/performance.md."""

    key: str
    title: str
    lines: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def add(self, text: str = "") -> None:
        self.lines.append(text)
        print(text, flush=True)

    def target(self, target: Target) -> Target:
        self.targets.append(target)
        print(target.line(), flush=True)
        return target

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.targets)

    def markdown(self, command: str) -> str:
        body = [f"## {self.title}", "", f"Command: `{command}`", "", *environment_lines(), "", *self.lines]
        if self.targets:
            body += ["", "Targets:", "", "```", *[t.line() for t in self.targets], "```"]
        return "\n".join(body).rstrip() + "\n"

    def finish(self, command: str, *, write: bool = True) -> int:
        if write:
            write_section(self.key, self.markdown(command))
        print()
        for t in self.targets:
            print(t.line())
        return 0 if self.passed else 1


_ENV_LINES: list[str] | None = None


def environment_lines() -> list[str]:
    """Versions and cores, so every figure says what it was measured on."""
    global _ENV_LINES
    if _ENV_LINES is None:
        import django
        import gunicorn
        import psycopg
        import rest_framework

        try:
            with psycopg.connect(database_url()) as conn:
                pg = conn.execute("SHOW server_version").fetchone()[0]
        except Exception as exc:  # noqa: BLE001 - the report still says what it could not read
            pg = f"unknown ({exc.__class__.__name__})"
        _ENV_LINES = [
            f"- Measured: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
            f"{os.cpu_count()} cores (shared; load average {os.getloadavg()[0]:.2f} at start)",
            f"- Versions: Python {platform.python_version()}, Django {django.__version__}, "
            f"DRF {rest_framework.__version__}, psycopg {psycopg.__version__}, gunicorn {gunicorn.__version__}, "
            f"PostgreSQL {pg}, {wrk_version()}",
        ]
    return _ENV_LINES


def _markers(key: str) -> tuple[str, str]:
    return f"<!-- bench:{key}:start -->", f"<!-- bench:{key}:end -->"


PERFORMANCE_HEADER = """# Performance

Figures written by `make bench` (see `bench/`). The machine is small and shared, so absolute
numbers move from run to run; every target is a ratio against a floor measured in the same run,
or a count. Each section names the command that produced it. Sections are rewritten in place
between their `<!-- bench:... -->` markers; everything else in this file is kept as it is.
"""


def write_section(key: str, markdown: str, path: Path = PERFORMANCE_MD) -> None:
    """Replace this script's section of docs/performance.md, leaving every other section intact."""
    start, end = _markers(key)
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else PERFORMANCE_HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text, count=1)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text if text.endswith("\n") else text + "\n")
    tmp.replace(path)


def script_command(script: str, args: list[str]) -> str:
    return shlex.join([".venv/bin/python", f"bench/{script}", *args])


def remaining_columns(model, given: str, *, prefix: str) -> tuple[str, str, dict]:
    """The columns of ``model`` that a seeding INSERT does not name, with each field's default.

    ``given`` is the INSERT's own column list (comma-separated). Returns the other columns, their
    placeholders (``%(<prefix><column>)s``) and the parameters, so a seed statement names only
    what it sets and a field added to the model later needs no change here.
    """
    from django.db import connection

    named = {name.strip() for name in given.split(",")}
    columns, placeholders, params = [], [], {}
    for model_field in model._meta.concrete_fields:
        if model_field.primary_key or model_field.column in named:
            continue
        key = f"{prefix}{model_field.column}"
        columns.append(model_field.column)
        placeholders.append(f"%({key})s")
        params[key] = model_field.get_db_prep_save(model_field.get_default(), connection)
    return ", ".join(columns), ", ".join(placeholders), params
