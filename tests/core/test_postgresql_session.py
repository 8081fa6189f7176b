"""Every PostgreSQL connection the app opens runs without JIT compilation (releasetracker/apps.py)."""

import pytest
from django.db import connection, connections

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="JIT is PostgreSQL's"),
]


def test_a_new_connection_has_jit_off():
    default = connections["default"]  # the backend's wrapper; ``connection`` is only a proxy to it
    fresh = type(default)(dict(default.settings_dict), alias="default")  # a new connection, as a new worker opens
    try:
        with fresh.cursor() as cursor:
            cursor.execute("SHOW jit")
            assert cursor.fetchone()[0] == "off"
    finally:
        fresh.close()
