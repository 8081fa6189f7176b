"""Run every benchmark, print each target, write docs/performance.md; exit non-zero when one fails.

    make bench            (or: .venv/bin/python bench/run.py [--quick])

Each script runs in its own process (each configures Django or starts servers its own way) and
rewrites only its own section of docs/performance.md; this script adds a summary section with
every target line and the total time. PostgreSQL is required: BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/rt_bench; only databases named rt_bench* are used).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, database_url, ensure_database, environment_lines, write_section  # noqa: E402

TARGET_LINE = re.compile(r"^\S+: .* \(target (>=|<=|==|>|<) .*\): (PASS|FAIL)")
BUDGET_SECONDS = 600


def scripts(quick: bool) -> list[list[str]]:
    plan = [
        ["bench/pages.py", *(["--repeat", "5"] if quick else [])],
        ["bench/ingest.py", *(["--seconds", "4"] if quick else [])],
    ]
    # The metrics benchmark is written by the metrics work (bench/metrics.py); run it when present.
    if (ROOT / "bench" / "metrics.py").exists():
        small = ["--orgs", "10", "--small-orgs", "2", "--per-org", "2000"]
        plan.append(["bench/metrics.py", *(small if quick else [])])
    # Instructions per request: a figure that the machine's load does not move (no target).
    if shutil.which("valgrind"):
        plan.append(["bench/instructions.py", "--requests", "20" if quick else "100"])
    else:
        print("bench/instructions.py skipped: valgrind is not installed (apt-get install valgrind)", flush=True)
    # Last: the longest, and the one whose figure (a worker's memory) does not depend on speed.
    plan.append(["bench/memory.py", *(["--requests", "2000", "--baseline", "200"] if quick else [])])
    return plan


def metrics_database_url() -> str:
    """bench/metrics.py wipes the database it is given: it gets its own, never rt_bench itself."""
    return (
        database_url("_metrics")
        if "BENCH_METRICS_DATABASE_URL" not in os.environ
        else os.environ["BENCH_METRICS_DATABASE_URL"]
    )


def run_one(args: list[str]) -> tuple[int, list[str], float]:
    """Run a script, streaming its output, and return its exit code and target lines."""
    started = time.monotonic()
    env = dict(os.environ)
    if args[0] == "bench/metrics.py":
        url = metrics_database_url()
        ensure_database(url)
        env["DATABASE_URL"] = url
    process = subprocess.Popen(
        [PYTHON, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    targets: list[str] = []
    seen: set[str] = set()
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(line)
        text = line.rstrip("\n")
        # Scripts print each target when measured and again in their closing summary: keep one.
        if TARGET_LINE.match(text) and text not in seen:
            seen.add(text)
            targets.append(text)
    code = process.wait()
    return code, targets, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs to check the harness (figures not kept)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results = []
    for script in scripts(args.quick):
        command = shlex.join([".venv/bin/python", *script])
        print(f"\n=== {command}", flush=True)
        code, targets, seconds = run_one(script)
        if code != 0 and not targets:
            targets = [f"{Path(script[0]).stem}: exit code {code} (target == 0): FAIL"]
        results.append((command, code, targets, seconds))
    total = time.monotonic() - started
    total_line = f"bench_total_seconds: {total:.0f} (target <= {BUDGET_SECONDS}): " + (
        "PASS" if total <= BUDGET_SECONDS else "FAIL"
    )
    lines = [
        "## Summary",
        "",
        f"Command: `make bench` (`.venv/bin/python bench/run.py{' --quick' if args.quick else ''}`)",
        "",
        *environment_lines(),
        "",
        "| script | exit | seconds |",
        "|---|---:|---:|",
        *[f"| `{command}` | {code} | {seconds:.0f} |" for command, code, _, seconds in results],
        "",
        "```",
        *[t for _, _, targets, _ in results for t in targets],
        total_line,
        "```",
    ]
    write_section("summary", "\n".join(lines))
    print("\n=== Targets")
    failed = False
    for _, code, targets, _ in results:
        failed |= code != 0
        for target in targets:
            print(target)
            failed |= target.endswith("FAIL") or ": FAIL" in target
    print(total_line)
    failed |= total > BUDGET_SECONDS
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
