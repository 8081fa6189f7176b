"""Fixtures shared by the vendor endpoints' tests."""

import pytest
from django.conf import settings
from django.core.cache import caches


@pytest.fixture(autouse=True)
def _empty_cache():
    # What one test leaves in the cache (rate-limit counts, a refused Sentry artifact upload
    # waiting for its client's finalize) must not reach the next one.
    caches[settings.RATE_LIMIT_CACHE].clear()
    yield
    caches[settings.RATE_LIMIT_CACHE].clear()
