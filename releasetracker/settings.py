"""Settings for Release Tracker, read from environment variables.

Every variable is documented in README.md ("Configuration"). Helpers fail loudly on a value
they cannot parse rather than silently falling back to a default.
"""

import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def load_local_env(path: Path) -> None:
    """Fill in variables the environment does not set from a checkout's development file.

    ``make run`` writes ``.env.local`` (``DEBUG=1`` and a random ``SECRET_KEY``, ignored by
    git) so that the README's ``manage.py`` commands run as written in that checkout. A variable
    set in the environment always wins. Production has no such file, so it still refuses to
    start without ``SECRET_KEY``. The test suite, and every process it starts, is configured by
    what it sets itself (pytest sets ``PYTEST_VERSION``), so it runs the same in a developer's
    checkout as in CI's fresh clone.
    """
    if "PYTEST_VERSION" in os.environ or not path.is_file():
        return
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ImproperlyConfigured(f"{path}, line {number}: expected NAME=value")
        os.environ.setdefault(name.strip(), value.strip())


load_local_env(BASE_DIR / ".env.local")

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production refuses to start without one; "
            "set SECRET_KEY (50+ random characters) or DEBUG=1 for local development."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production-0123456789"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "releasetracker",
    "releases",
    "deployments",
    "metrics",
    "webhooks",
    "incidents",
    "integrations",
    "demo",
    "operations",
]

MIDDLEWARE = [
    # First: every response (even a redirect, a 413 or a 500) carries X-Request-ID, and every
    # log line names it. Then the body limit, before anything reads the body.
    "releasetracker.middleware.RequestIdMiddleware",
    # /livez, /readyz and /metrics answered before the host check; every request measured.
    "operations.middleware.OperationsMiddleware",
    "releasetracker.middleware.BodySizeLimitMiddleware",
    "releasetracker.middleware.RateLimitMiddleware",
    # A NUL in the URL is a 400 before any lookup sends it to the database (which refuses it).
    "releasetracker.middleware.NulRefusalMiddleware",
    "releasetracker.middleware.ContentSecurityPolicyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Sessions, request.user and flash messages: Django's own, for the pages and the admin only;
    # the JSON paths (token-authenticated) skip them (releasetracker/middleware.py).
    "releasetracker.middleware.PageSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "releasetracker.middleware.PageAuthenticationMiddleware",
    "releasetracker.middleware.PageMessagesMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "releasetracker.urls"
WSGI_APPLICATION = "releasetracker.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: embedded SQLite by default so a fresh checkout runs; DATABASE_URL=postgres://...
# switches to PostgreSQL through psycopg with persistent, health-checked connections.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Wait for a busy writer instead of failing at once ("database is locked").
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
# A PostgreSQL read replica (docs/scaling.md): the reads of GET requests go there; writes, reads
# after a write, identity reads and the admin stay on the primary (releasetracker/db_router.py).
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "").strip()
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(
        DATABASE_REPLICA_URL, conn_max_age=env_int("CONN_MAX_AGE", 600), conn_health_checks=True
    )
    MIDDLEWARE.insert(0, "releasetracker.db_router.ReplicaReadsMiddleware")
DATABASE_ROUTERS = ["releasetracker.db_router.PrimaryReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic writes (the image: /app/staticfiles); STATIC_ROOT points a throwaway server elsewhere.
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Request bodies: CI payloads with thousands of commits fit comfortably; larger ones get a 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 5 * 1024 * 1024)

# HTTPS: on by default in production. Behind a proxy that terminates TLS and forwards plain
# HTTP, set BEHIND_TLS_PROXY=1 so Django trusts X-Forwarded-Proto. SECURE_SSL_REDIRECT=0
# turns the redirect off for a plain-HTTP deployment on a private network.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every HTML response in production (releasetracker.middleware).
# Pages carry no inline script or style and load nothing from another host. Swagger UI's page
# bootstraps itself with an inline script and style, so its path gets its own policy.
CONTENT_SECURITY_POLICY = (
    ""
    if DEBUG
    else (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )
)
CONTENT_SECURITY_POLICY_OVERRIDES = {
    "/api/v1/docs/": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
}


def cache_from_url(url: str) -> dict:
    """CACHE_URL: ``db://<table>`` (default ``db://rt_cache``), ``redis://host:port/db`` or ``locmem://``."""
    if url == "":
        url = "db://rt_cache"
    if url == "locmem://":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if url.startswith("db://"):
        return {
            "BACKEND": "releasetracker.cache.DatabaseCache",
            "LOCATION": url[5:] or "rt_cache",
            # Django culls a third of the rows past 300 entries, live counters included: room
            # for every client's counters of two windows.
            "OPTIONS": {"MAX_ENTRIES": 50_000},
        }
    if url.startswith(("redis://", "rediss://")):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    raise ImproperlyConfigured(f"CACHE_URL={url!r}: use db://<table>, redis://host:port/db or locmem://")


# The cache holds the rate-limit and sign-in counters, so it must be one store for every gunicorn
# worker and server: by default a table in the product's database (made by `migrate`); Redis
# where one runs. locmem:// counts per process (the tests, a single runserver).
CACHES = {"default": cache_from_url(os.environ.get("CACHE_URL", "").strip())}
RATE_LIMIT_CACHE = "default"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["releasetracker.api.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["releasetracker.api.permissions.HasTokenScope"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "releasetracker.api.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_PARSER_CLASSES": ["releasetracker.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": (
        ["rest_framework.renderers.JSONRenderer", "rest_framework.renderers.BrowsableAPIRenderer"]
        if DEBUG
        else ["rest_framework.renderers.JSONRenderer"]
    ),
    "EXCEPTION_HANDLER": "releasetracker.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "iso-8601",
    # Per token (any token of any organization, counted apart) here, once DRF has authenticated
    # it; per client IP for requests without a valid token in RateLimitMiddleware, before the
    # 401 of a missing or wrong token. The token default lets a CI burst through and stops a
    # runaway loop.
    "DEFAULT_THROTTLE_CLASSES": ["releasetracker.api.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "token": os.environ.get("RATE_LIMIT_PER_TOKEN", "1200/min"),
        "anon": os.environ.get("RATE_LIMIT_PER_IP", "60/min"),
    },
    # Proxies in front of the app that append to X-Forwarded-For; 0 trusts only REMOTE_ADDR,
    # so a client cannot pick its own rate-limit bucket by sending the header.
    "NUM_PROXIES": env_int("NUM_PROXIES", 1 if env_bool("BEHIND_TLS_PROXY", False) else 0),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Release Tracker API",
    "DESCRIPTION": "Record releases and deployments; read DORA metrics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "DeploymentStatusEnum": "deployments.models.DeploymentStatus",
        "ReleaseStatusEnum": "releases.models.Release.Status",
        "WebhookEventEnum": "webhooks.models.WebhookEvent",
        "WebhookSubscribableEventEnum": "webhooks.models.SUBSCRIBABLE_EVENTS",
        "WebhookFormatEnum": "webhooks.models.WebhookFormat",
        "IncidentStatusEnum": "incidents.models.IncidentStatus",
        "IncidentSourceEnum": "incidents.models.IncidentSource",
        "SourceEnum": "releases.models.Source",
    },
}

# Outgoing webhooks (see docs/webhooks.md). Private targets are refused unless allowed here.
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", False)
WEBHOOKS_TIMEOUT_SECONDS = env_int("WEBHOOKS_TIMEOUT_SECONDS", 5)
WEBHOOKS_MAX_ATTEMPTS = env_int("WEBHOOKS_MAX_ATTEMPTS", 8)
WEBHOOKS_RETRY_BASE_SECONDS = env_int("WEBHOOKS_RETRY_BASE_SECONDS", 10)
WEBHOOKS_RETRY_MAX_SECONDS = env_int("WEBHOOKS_RETRY_MAX_SECONDS", 3600)

# /metrics (docs/operations.md): served only to a scraper that sends METRICS_TOKEN as a bearer
# token or connects from an address in METRICS_ALLOWED_IPS (addresses or networks, comma-separated).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()


def env_networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for item in env_list(name, []):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an IP address or network (10.0.0.0/8)") from None
    return networks


METRICS_ALLOWED_IPS = env_networks("METRICS_ALLOWED_IPS")

# The address people reach this server at (https://tracker.example.com): chat messages link to
# release and compare pages under it. Without it they carry no links.
PUBLIC_URL = os.environ.get("PUBLIC_URL", "").strip().rstrip("/")
if PUBLIC_URL:
    _public = urlsplit(PUBLIC_URL)
    if _public.scheme not in ("http", "https") or not _public.hostname or _public.query or _public.fragment:
        raise ImproperlyConfigured(
            f"PUBLIC_URL={PUBLIC_URL!r} is not the http(s) address of this server (https://tracker.example.com)"
        )

# Every line names its request (X-Request-ID). Production writes one JSON object per line;
# DEBUG (or LOG_FORMAT=text) writes a human line.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "releasetracker.logging.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "releasetracker.logging.JsonFormatter"},
        "text": {"()": "releasetracker.logging.HumanFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": os.environ.get("LOG_FORMAT", "text" if DEBUG else "json"),
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # The access line per request comes from releasetracker.access; runserver's own would repeat it.
        "django.server": {"level": "WARNING"},
    },
}
