"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py releasetracker.wsgi`.

Every value can be overridden with an environment variable of the same name in capitals
prefixed GUNICORN_ (for example GUNICORN_WORKERS=4), or with gunicorn's own flags.
"""

import gc
import multiprocessing
import os

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
