"""Test settings: production settings with a throwaway key and plain HTTP for the test servers."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

from releasetracker.settings import *  # noqa: E402,F403

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The suite sends many requests from one address and token; rate limits are tested on their
# own with lowered rates (tests/reliability/test_rate_limits.py), never hit by accident here.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"token": "1000000/min", "anon": "1000000/min"},
}

# A "replica" alias that is the primary itself (a test mirror: no second test database), so the
# read router can be exercised (tests/perf/test_router.py). Reads use it only inside
# releasetracker.db_router.replica_reads(), which production turns on with DATABASE_REPLICA_URL.
DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}  # noqa: F405

# Counters in each test process's memory: the throttle tests clear them between tests. The
# database cache (production's default) has its own tests, which point a cache at its table.
CACHES = {"default": cache_from_url("locmem://")}  # noqa: F405
