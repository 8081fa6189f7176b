"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py releasetracker.wsgi`.

Every value can be overridden with an environment variable of the same name in capitals
prefixed GUNICORN_ (for example GUNICORN_WORKERS=4), or with gunicorn's own flags.
"""

import gc
import glob
import multiprocessing
import os
import shutil
import tempfile

# /metrics reports the same totals whichever worker answers: every worker writes its values to
# files in this directory and a scrape adds them up (prometheus-client's multiprocess mode). It
# must be set before anything imports prometheus_client, so here, before the app is loaded.
METRICS_DIR_PREFIX = "releasetracker-metrics-"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=METRICS_DIR_PREFIX)

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
# Sync workers, one per core plus one: a request spends most of its time in Python, so more
# workers than that only add context switches and cache misses (docs/performance.md).
# With the database on another host a request waits
# longer on the network, and GUNICORN_WORKERS=2*cores+1 may serve more.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() + 1))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then so a slow leak in any dependency cannot grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "2000"))
# Load the app once in the master so workers fork with it ready (faster start, shared memory).
preload_app = True


def pre_fork(server, worker):
    # Objects loaded by the master (Django, the URL conf, every model) are never garbage: moved
    # out of the collector's reach, a worker's collections neither walk them nor write to their
    # pages (which would un-share that memory, page by page). Python's gc documentation
    # recommends exactly this before fork().
    gc.freeze()


# Off by default: the app logs one line per request itself (releasetracker.access, JSON, with
# the request id and duration), so gunicorn's own line would say the same thing twice.
# GUNICORN_ACCESSLOG=- (stdout) or a path turns it on.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    # Values left in the directory by an earlier run would be added to this one's.
    for path in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(path)


def child_exit(server, worker):
    # A gone worker's counters still count; its live gauges (if any) must not.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    if os.path.basename(directory).startswith(METRICS_DIR_PREFIX):  # made above, not one given to us
        shutil.rmtree(directory, ignore_errors=True)
