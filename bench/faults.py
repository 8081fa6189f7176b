"""Fault injection: writes keep their promise while a gunicorn worker is killed and PostgreSQL restarts.

    .venv/bin/python bench/faults.py [--max-requests 600] [--threads 6] [--workers 3]

Starts everything it disturbs itself and nothing else: a throwaway PostgreSQL cluster (``initdb``
in a temporary directory, its own free port on 127.0.0.1, run as the ``postgres`` OS user when
this script runs as root) and its own gunicorn (``gunicorn.conf.py``, its own free port). While
threads send ``POST /api/v1/deployments/`` with unique external ids, it SIGKILLs one gunicorn
worker while that worker is inside a write (a transaction of the script holds the deployments
table, so every worker's insert waits; once PostgreSQL shows every worker waiting, the victim is
the worker owning the database connection of one waiting insert, and that insert's external id
names the request it serves) and stops then starts PostgreSQL (``pg_ctl -m fast`` on its own
data directory), polling ``/healthz`` during the outage. Then it checks:

- the write the killed worker was serving got a connection error (the kill cut it in flight);
- every write answered 201 is in the database (answered, then lost = 0);
- every other answer is a 5xx or a connection error, and no write is partial (every stored
  deployment has its status history row);
- ``/healthz`` answered 503 while the database was down and 200 after;
- the server recovered on its own: after the faults, every write is a 201 again and gunicorn
  has replaced the killed worker.

It prints the figures and exits 1 when a property fails. Whatever happens, it stops what it
started, by pid, and removes its temporary directory.
"""

from __future__ import annotations

import argparse
import glob
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SECRET_KEY = "faults-only-secret-key-not-for-production-0123456789-abcdefghijkl"
DB_NAME = "rt_faults"
EXTERNAL_ID = re.compile(r"faults-\d{5}")


def log(message: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, *, timeout: float, interval: float = 0.1, what: str) -> None:
    """Poll ``condition`` until it is true; fail loudly after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


# PostgreSQL ----------------------------------------------------------------------------------


def pg_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if candidates:
        return Path(candidates[-1])
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    raise SystemExit("no PostgreSQL server binaries found (initdb, pg_ctl)")


class Cluster:
    """A throwaway PostgreSQL cluster in a temporary directory, on its own port."""

    def __init__(self, workdir: Path) -> None:
        self.bindir = pg_bindir()
        self.datadir = workdir / "pgdata"
        self.logfile = workdir / "postgres.log"
        self.port = free_port()
        # initdb and pg_ctl refuse to run as root: run them as the postgres OS user then.
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(workdir, user.pw_uid, user.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/{DB_NAME}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        subprocess.run([*self.run_as, *args], check=True, capture_output=True, timeout=timeout)

    def init(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile), "-o", options, "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def postmaster_pid(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        try:
            return int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')

    def query(self, sql: str) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url) as conn:
            return conn.execute(sql).fetchall()

    def connect(self):
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def waiting_on_locks(self) -> int:
        """Sessions of the product's database waiting for a lock (a write stopped mid-transaction)."""
        return len(self.waiting_statements())

    def waiting_statements(self) -> list[tuple[int, str]]:
        """``(client port, statement)`` of each session waiting for a lock. Django binds parameters on
        the client, so a statement shows its values (the write's external id)."""
        return self.query(
            "SELECT client_port, query FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            " ORDER BY backend_start"
        )


# The product ---------------------------------------------------------------------------------


def product_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_SETTINGS_MODULE", "DATABASE_REPLICA_URL")}
    env.update(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_PER_TOKEN": "1000000/min",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=300
    )
    return result.stdout


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not yet reaped by its parent, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def socket_owner(local_port: int, remote_port: int, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the TCP connection from ``local_port`` to ``remote_port`` (on this host)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if int(local.rsplit(":", 1)[1], 16) == local_port and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                inodes.add(f"socket:[{inode}]")
    for pid in pids:
        for fd in glob.glob(f"/proc/{pid}/fd/*"):
            try:
                if os.readlink(fd) in inodes:
                    return pid
            except OSError:
                continue
    return None


def child_pids(pid: int) -> list[int]:
    children = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(Path(stat).parent.name))
    return sorted(children)


class Gunicorn:
    def __init__(self, env: dict[str, str], workdir: Path, workers: int) -> None:
        self.port = free_port()
        self.workers = workers
        self.logfile = open(workdir / "gunicorn.log", "wb")  # noqa: SIM115 - closed in stop()
        env = {**env, "GUNICORN_ACCESSLOG": str(workdir / "access.log")}
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "gunicorn",
                "-c",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "releasetracker.wsgi",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.logfile,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.logfile.close()


# HTTP ------------------------------------------------------------------------------------------


def request(port: int, method: str, path: str, body: dict | None = None, token: str = "", timeout: float = 15):
    """(status, parsed body) or raise the connection error."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw[:200]
        return response.status, data
    finally:
        conn.close()


def healthz(port: int) -> int | str:
    try:
        return request(port, "GET", "/healthz", timeout=5)[0]
    except OSError as exc:
        return type(exc).__name__


@dataclass
class Outcome:
    external_id: str
    kind: str  # "201", "5xx:500", "4xx:400", "connection:ConnectionResetError", ...
    phase: str


@dataclass
class Load:
    port: int
    token: str
    max_requests: int
    threads: int
    pause: float
    outcomes: list[Outcome] = field(default_factory=list)
    phase: str = "before"
    stop: threading.Event = field(default_factory=threading.Event)
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _take(self) -> int | None:
        with self._lock:
            if self.stop.is_set() or self._next >= self.max_requests:
                return None
            self._next += 1
            return self._next

    def _worker(self) -> None:
        while (n := self._take()) is not None:
            external_id = f"faults-{n:05d}"
            body = {
                "environment": "production",
                "commit_sha": f"{n:040x}",
                "external_id": external_id,
                "status": "success",
                "title": f"fault run write {n}",
            }
            phase = self.phase
            try:
                status, _ = request(self.port, "POST", "/api/v1/deployments/", body, self.token)
                kind = "201" if status == 201 else f"{status // 100}xx:{status}"
            except (OSError, http.client.HTTPException) as exc:
                kind = f"connection:{type(exc).__name__}"
            with self._lock:
                self.outcomes.append(Outcome(external_id, kind, phase))
            time.sleep(self.pause)

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(self.threads)]
        for thread in threads:
            thread.start()
        return threads

    def sent(self) -> int:
        with self._lock:
            return len(self.outcomes)


def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="rt-faults-"))
    cluster: Cluster | None = None
    server: Gunicorn | None = None
    failures: list[str] = []
    victim_write: str | None = None
    try:
        cluster = Cluster(workdir)
        log(f"initdb in {workdir} ({cluster.bindir})")
        cluster.init()
        cluster.start()
        log(f"throwaway PostgreSQL on 127.0.0.1:{cluster.port}, postmaster pid {cluster.postmaster_pid()}")
        cluster.create_database()
        env = product_env(cluster.url)
        manage(env, "migrate", "--noinput")
        manage(env, "create_org", "faults", "--name", "Faults")
        token = manage(env, "create_token", "faults", "--name", "faults", "--scope", "write").strip().splitlines()[-1]

        server = Gunicorn(env, workdir, args.workers)
        wait_for(lambda: healthz(server.port) == 200, timeout=60, what="gunicorn to answer /healthz")
        wait_for(lambda: len(child_pids(server.process.pid)) == args.workers, timeout=30, what="gunicorn workers")
        workers = child_pids(server.process.pid)
        log(f"gunicorn master pid {server.process.pid} on 127.0.0.1:{server.port}, workers {workers}")

        load = Load(server.port, token, args.max_requests, args.threads, args.pause)
        started = time.monotonic()
        threads = load.start()

        # 1. Kill one worker while it is serving a write. A transaction of this script holds the
        # deployments table in EXCLUSIVE mode (reads go on, inserts wait), so every worker that
        # takes a write stops inside it, mid-transaction. Once the database shows every worker
        # waiting on that lock, the victim is the worker that owns the connection of one waiting
        # write (its client port, matched to the worker's sockets in /proc), and the write is the
        # one whose external id the waiting statement shows. Then the lock is released.
        wait_for(lambda: load.sent() >= args.max_requests // 8, timeout=60, what="the first writes")
        blocker = cluster.connect()
        blocker.execute("BEGIN")
        blocker.execute("LOCK TABLE deployments_deployment IN EXCLUSIVE MODE")
        load.phase = "worker-killed"
        wait_for(
            lambda: cluster.waiting_on_locks() >= args.workers,
            timeout=30,
            what="every gunicorn worker to be waiting inside a write",
        )
        waiting = cluster.waiting_statements()
        workers_now = child_pids(server.process.pid)
        victim, victim_write = None, None
        for client_port, statement in waiting:
            owner = socket_owner(client_port, cluster.port, workers_now)
            match = EXTERNAL_ID.search(statement)
            if owner is not None and match:
                victim, victim_write = owner, match.group(0)
                break
        if victim is None:
            raise RuntimeError(f"no waiting write could be matched to a gunicorn worker: {waiting!r}")
        os.kill(victim, signal.SIGKILL)
        log(f"SIGKILLed gunicorn worker {victim} while it served write {victim_write} ({len(waiting)} writes waiting)")
        wait_for(lambda: not process_alive(victim), timeout=10, what="the killed worker to exit")
        blocker.execute("ROLLBACK")
        blocker.close()

        # 2. Stop PostgreSQL, watch /healthz say 503, start it again.
        wait_for(lambda: load.sent() >= args.max_requests // 4, timeout=60, what="writes after the kill")
        load.phase = "database-down"
        cluster.stop("fast")
        log(f"stopped PostgreSQL (pg_ctl -m fast) after {load.sent()} requests")
        during: list[int | str] = []
        outage_started = time.monotonic()
        while time.monotonic() - outage_started < args.outage_seconds:
            during.append(healthz(server.port))
            time.sleep(0.2)
        load.phase = "database-restarting"
        cluster.start()
        log(f"started PostgreSQL again (pid {cluster.postmaster_pid()}); /healthz during outage: {Counter(during)}")
        if 503 not in during:
            failures.append(f"/healthz never answered 503 while the database was down (saw {Counter(during)})")

        # 3. Recovery on its own: health, a replacement worker, then writes that succeed.
        try:
            wait_for(lambda: healthz(server.port) == 200, timeout=30, what="/healthz 200 after the restart")
        except RuntimeError as exc:
            failures.append(str(exc))
        try:
            wait_for(
                lambda: (
                    len(child_pids(server.process.pid)) == args.workers and victim not in child_pids(server.process.pid)
                ),
                timeout=30,
                what="gunicorn to replace the killed worker",
            )
        except RuntimeError as exc:
            failures.append(str(exc))
        load.phase = "after"
        for thread in threads:
            thread.join(timeout=120)
        load.stop.set()
        elapsed = time.monotonic() - started

        recovery = []
        for n in range(20):
            body = {"environment": "production", "commit_sha": "f" * 40, "external_id": f"recovery-{n}"}
            try:
                recovery.append(request(server.port, "POST", "/api/v1/deployments/", body, token)[0])
            except (OSError, http.client.HTTPException) as exc:
                recovery.append(type(exc).__name__)
        if recovery != [201] * 20:
            failures.append(f"writes after recovery were not all 201: {Counter(recovery)}")

        # 4. The database's word on every answer.
        stored = {row[0] for row in cluster.query("SELECT external_id FROM deployments_deployment")}
        partial = cluster.query(
            "SELECT count(*) FROM deployments_deployment d WHERE NOT EXISTS "
            "(SELECT 1 FROM deployments_deploymentstatuschange s WHERE s.deployment_id = d.id)"
        )[0][0]
        kinds = Counter(o.kind for o in load.outcomes)
        created = [o for o in load.outcomes if o.kind == "201"]
        lost = [o.external_id for o in created if o.external_id not in stored]
        unexpected = [o for o in load.outcomes if o.kind != "201" and not o.kind.startswith(("5xx", "connection:"))]
        failed_but_stored = [o for o in load.outcomes if o.kind != "201" and o.external_id in stored]
        by_phase = Counter((o.phase, o.kind) for o in load.outcomes)

        print()
        print("Fault run figures")
        print(f"  requests sent:              {len(load.outcomes)} in {elapsed:.1f}s ({args.threads} threads)")
        print(f"  answered 201:               {len(created)}")
        print(f"  failures by kind:           {dict(sorted((k, v) for k, v in kinds.items() if k != '201')) or '{}'}")
        print(f"  by phase:                   {dict(sorted(by_phase.items()))}")
        print(f"  writes lost (201 not in db): {len(lost)}")
        print(f"  partial writes:             {partial}")
        print(f"  unexpected answers:         {len(unexpected)}")
        print(f"  failed answer, write kept:  {len(failed_but_stored)} (committed before the connection broke)")
        print(f"  /healthz during outage:     {dict(Counter(during))}")
        print(f"  writes after recovery:      {dict(Counter(recovery))}")
        if lost:
            failures.append(f"{len(lost)} writes answered 201 are missing: {lost[:10]}")
        if partial:
            failures.append(f"{partial} deployments have no status history (partial writes)")
        if unexpected:
            failures.append(f"answers other than 201, 5xx or a connection error: {Counter(o.kind for o in unexpected)}")
        cut = next((o for o in load.outcomes if o.external_id == victim_write), None)
        cut_kind = cut.kind if cut else "no answer recorded"
        stored_note = "stored" if victim_write in stored else "not stored"
        print(f"  write the kill cut:         {victim_write} -> {cut_kind}, {stored_note}")
        print(f"  answered, then lost:        {len(lost)}")
        if cut is None or not cut.kind.startswith("connection:"):
            failures.append(
                f"the write the killed worker was serving ({victim_write}) got {cut_kind}, not a connection error"
            )
        if not any(o.kind != "201" for o in load.outcomes):
            failures.append("no request failed: the faults did not hit the load (the run proves nothing)")
    except Exception as exc:  # report, clean up, fail
        failures.append(f"the run itself failed: {type(exc).__name__}: {exc}")
    finally:
        if server is not None:
            server.stop()
            log(f"stopped gunicorn {server.process.pid}")
        if cluster is not None and cluster.postmaster_pid() is not None:
            try:
                cluster.stop("immediate")
                log("stopped the throwaway PostgreSQL")
            except subprocess.CalledProcessError as exc:
                failures.append(f"could not stop the throwaway PostgreSQL: {exc.stderr!r}")
        if failures:
            for name in ("gunicorn.log", "postgres.log"):
                path = workdir / name
                if path.exists():
                    print(f"--- last lines of {name}")
                    print("\n".join(path.read_text(errors="replace").splitlines()[-25:]))
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    if failures:
        for failure in failures:
            print(f"FAIL: {failure}")
        return 1
    print(
        "PASS: no write answered 201 was lost, no partial write, /healthz 503 during the outage, recovered on its own"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-requests", type=int, default=600, help="upper bound on writes sent (default 600)")
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    parser.add_argument("--pause", type=float, default=0.05, help="seconds each thread waits between writes")
    parser.add_argument("--outage-seconds", type=float, default=2.0, help="how long PostgreSQL stays down")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
