"""Memory benchmark: a gunicorn worker's RSS after 20,000 ingest requests vs after 1,000.

    .venv/bin/python bench/memory.py [--requests 20000] [--no-write]

The product runs under gunicorn.conf.py with one worker (so every request reaches the worker
measured) and worker recycling off (GUNICORN_MAX_REQUESTS=0; production recycles at about
20,000 requests, which would hide a leak from this measurement). wrk sends POST
/api/v1/deployments/ with unique bodies; the worker's VmRSS is read from /proc/<pid>/status
between batches, while it is idle. Requests are counted from gunicorn's access log.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Report,
    Target,
    analyze,
    database_url,
    ensure_database,
    migrate,
    product_env,
    rss_kib,
    running,
    script_command,
    workdir,
    wrk,
)
from bench.ingest import DEPLOYMENT_BODY, seed_ingest  # noqa: E402


def served(access_log: Path) -> int:
    with access_log.open("rb") as handle:
        return sum(1 for _ in handle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args(argv)
    shown = script_command("memory.py", argv if argv is not None else sys.argv[1:])

    url = database_url()
    ensure_database(url)
    migrate(url)
    token = seed_ingest(url)
    report = Report("memory", "Memory: one gunicorn worker over 20,000 ingest requests")
    work = workdir("memory")
    # gunicorn's access log (off by default in gunicorn.conf.py) counts the requests served.
    env = product_env(
        url,
        GUNICORN_WORKERS="1",
        GUNICORN_MAX_REQUESTS="0",
        GUNICORN_MAX_REQUESTS_JITTER="0",
        GUNICORN_ACCESSLOG=str(work / "memory.access.log"),
    )
    checkpoints = sorted({args.baseline, args.requests // 4, args.requests // 2, args.requests})
    rss: dict[int, int] = {}
    with running("memory", "releasetracker.wsgi", env, ready_path="/healthz", workdir=work) as server:
        (worker,) = server.worker_pids()
        access_log = work / "memory.access.log"
        start = served(access_log)  # the readiness probe
        report.add(f"Worker pid {worker}; RSS at start {rss_kib(worker) / 1024:.1f} MiB.")
        report.add("")
        report.add("| requests served | worker RSS MiB | errors in batch | batch req/s |")
        report.add("|---:|---:|---:|---:|")
        command = ""
        rate = None  # requests/s: measured by a first one-second batch, then by each batch
        for index, checkpoint in enumerate(checkpoints):
            missing = checkpoint - (served(access_log) - start)
            errors = 0
            batch = 0
            analyze(url)  # autovacuum's job, off on this server: keep the planner's statistics current
            while missing > 0:
                # wrk stops on time, not on a count: each batch is sized from the last rate, and
                # the checkpoint is read once at least that many requests have been served.
                seconds = 1 if rate is None else max(1, min(120, round(missing / rate)))
                result = wrk(
                    server.base_url + "/api/v1/deployments/",
                    token=token,
                    method="POST",
                    body=DEPLOYMENT_BODY,
                    expected=(201,),
                    seconds=seconds,
                    connections=4,
                    threads=1,
                    run_id=f"{worker % 0xFFFF:04x}{index:02x}{batch:02x}",
                    workdir=work,
                    label=f"memory-{index}-{batch}",
                )
                batch += 1
                command = result.command
                errors += result.errors
                rate = max(result.rps, 1.0)
                missing = checkpoint - (served(access_log) - start)
            count = served(access_log) - start
            rss[checkpoint] = rss_kib(worker)
            report.add(f"| {count} | {rss[checkpoint] / 1024:.1f} | {errors} | {rate:.0f} |")
        report.add("")
        report.add(f"Batches like: `{command}` (duration sized to reach the next checkpoint).")
        if server.worker_pids() != [worker]:
            raise RuntimeError(f"the worker was replaced during the run:\n{server.log_tail()}")
    ratio = rss[args.requests] / rss[args.baseline]
    report.target(
        Target(
            f"memory_rss_{args.requests}_vs_{args.baseline}",
            round(ratio, 3),
            "<=",
            1.10,
            "x",
            f"{rss[args.requests] / 1024:.1f} MiB vs {rss[args.baseline] / 1024:.1f} MiB",
        )
    )
    return report.finish(shown, write=not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
