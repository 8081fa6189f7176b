"""Every PostgreSQL connection the app opens runs without JIT compilation (releasetracker/apps.py)."""

import pytest
from django.db import connection, connections

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="JIT is PostgreSQL's"),
]


def test_a_new_connection_has_jit_off():
    fresh = type(connections["default"])(dict(connection.settings_dict), alias="default")  # as a new worker opens it
    try:
        with fresh.cursor() as cursor:
            cursor.execute("SHOW jit")
            assert cursor.fetchone()[0] == "off"
    finally:
        fresh.close()
