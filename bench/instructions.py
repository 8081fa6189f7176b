"""Instructions per `POST /api/v1/deployments/`, product and bare app, counted by valgrind.

    .venv/bin/python bench/instructions.py [--requests 200] [--no-write]

This machine's speed drifts by tens of percent between runs, so `bench/ingest.py`'s requests/s
move with it; an instruction count does not. Each app's WSGI application is called in one
process, one request at a time, with the same bodies as `bench/ingest.py` (the same token,
database and production settings), under `valgrind --tool=callgrind` (apt-get install
valgrind): a run of warm-up requests alone and a run with ``--requests`` more, subtracted and
divided, so start-up and warm-up cancel out. Python only: PostgreSQL's own work is not counted.

`make bench` runs it with ``--requests 100`` (about a minute and a half) when valgrind is
installed, and it writes its own section of docs/performance.md: no target, a figure that the
machine's load does not move, beside the requests/s ratio that it does.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    ROOT,
    Report,
    database_url,
    ensure_database,
    migrate,
    product_env,
    script_command,
    setup_django,
)
from bench.ingest import DEPLOYMENT_BODY, seed_ingest  # noqa: E402

WARM_UP = 50
APPS = ("bare", "product")


def wsgi_application(app: str, url: str):
    if app == "product":
        setup_django(url)
        from django.core.wsgi import get_wsgi_application

        return get_wsgi_application()
    os.environ.update(product_env(url))
    from bench import bare_app

    return bare_app.application


def child(app: str, requests: int, token: str) -> None:
    """Serve ``WARM_UP + requests`` deployments through ``app``'s WSGI application, then exit."""
    application = wsgi_application(app, database_url())
    run = uuid.uuid4().hex[:8]
    failures = 0
    for index in range(WARM_UP + requests):
        body = DEPLOYMENT_BODY.replace("{{RUN}}", run).replace("{{U}}", f"{index:014x}").encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/v1/deployments/",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Bearer {token}",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
        }
        statuses: list[str] = []
        chunks = application(environ, lambda status, headers, exc_info=None, seen=statuses: seen.append(status))
        b"".join(chunks)
        getattr(chunks, "close", lambda: None)()
        failures += not statuses[0].startswith("201")
    if failures:
        raise SystemExit(f"{app}: {failures} requests were not answered 201")


def instructions(app: str, requests: int, token: str, workdir: Path) -> int:
    out = workdir / f"{app}-{requests}.callgrind"
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        __file__,
        "--child",
        app,
        "--requests",
        str(requests),
    ]
    env = {**os.environ, "BENCH_TOKEN": token, "PYTHONHASHSEED": "0"}
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{app} under callgrind failed ({result.returncode}):\n{result.stderr[-2000:]}")
    for line in out.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise SystemExit(f"no total in {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="counted requests per app (default 200)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    parser.add_argument("--child", choices=APPS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.requests, os.environ["BENCH_TOKEN"])
        return 0
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed: apt-get install valgrind")
    url = database_url()
    ensure_database(url)
    migrate(url)
    token = seed_ingest(url)
    report = Report("instructions", "Instructions per deployment request: product vs bare (callgrind)")
    report.add(
        f"`POST /api/v1/deployments/` served by each app's WSGI application in one process, one request at a"
        f" time: a run of {WARM_UP} warm-up requests subtracted from a run of {WARM_UP} + {args.requests},"
        " divided by the difference. Python only (PostgreSQL's work is not counted). Not a target: a count"
        " that the machine's load does not move, beside the requests/s ratio of the ingest section, which it does."
    )
    report.add("")
    per_request = {}
    with tempfile.TemporaryDirectory(prefix="rt-bench-instructions-") as tmp:
        for app in APPS:
            base = instructions(app, 0, token, Path(tmp))
            more = instructions(app, args.requests, token, Path(tmp))
            per_request[app] = (more - base) / args.requests
            report.add(f"- {app}: {per_request[app] / 1e6:.2f} M instructions per request")
    report.add(f"- product / bare: {per_request['product'] / per_request['bare']:.2f}x")
    shown = script_command("instructions.py", argv if argv is not None else sys.argv[1:])
    return report.finish(shown, write=not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
