"""Real servers for the operations tests: gunicorn (gunicorn.conf.py), a throwaway PostgreSQL cluster.

The cluster and gunicorn are bench/faults.py's: each on a free port, stopped by its own pid or
data directory, never the machine's shared PostgreSQL.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
from pathlib import Path

import psycopg

from bench.faults import ROOT, Cluster, Gunicorn, free_port, manage, product_env, wait_for

__all__ = ["ROOT", "Cluster", "Gunicorn", "free_port", "manage", "product_env", "wait_for"]

METRICS_TOKEN = "metrics-test-token-0123456789"


def get(port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def get_json(port: int, path: str) -> tuple[int, dict]:
    status, body = get(port, path)
    return status, json.loads(body)


def post_json(port: int, path: str, body: dict, token: str, headers: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}", **(headers or {})},
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def answers(port: int, path: str, status: int = 200) -> bool:
    try:
        return get(port, path, timeout=5)[0] == status
    except OSError:
        return False


def start_gunicorn(env: dict[str, str], workdir: Path, workers: int) -> Gunicorn:
    server = Gunicorn(env, workdir, workers)
    try:
        wait_for(lambda: answers(server.port, "/livez"), timeout=60, what="gunicorn to answer /livez")
    except BaseException:
        server.stop()
        raise
    return server


def org_with_write_token(env: dict[str, str]) -> str:
    manage(env, "create_org", "acme", "--name", "Acme Inc")
    return manage(env, "create_token", "acme", "--name", "ops-test", "--scope", "write").strip().splitlines()[-1]


def metric_values(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric in the Prometheus text format (labels as written)."""
    values = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            series, _, value = line.rpartition(" ")
            values[series[len(name) :]] = float(value)
    return values


class ThrowawayCluster(Cluster):
    """bench/faults.py's cluster, with databases of any name and a stop that cannot fail twice."""

    def database_url(self, name: str) -> str:
        with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def is_up(self) -> bool:
        try:
            with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.port}/postgres", connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def stop_for_good(self) -> None:
        pid = self.postmaster_pid()
        if pid is None:
            return
        try:
            self.stop()
        except (subprocess.SubprocessError, OSError):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)  # PostgreSQL's immediate shutdown


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    env = product_env(database_url)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn.conf.py makes a fresh one per server
    env.update({"METRICS_TOKEN": METRICS_TOKEN, "LOG_LEVEL": "WARNING", **extra})
    return env
