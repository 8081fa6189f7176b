"""SQL fragments more than one app must write identically, for PostgreSQL and SQLite."""

from django.db import connection


def seconds_between(later: str, earlier: str) -> str:
    """Seconds from ``earlier`` to ``later`` as a float.

    SQLite keeps datetimes as text and its date functions work in whole milliseconds, so the
    difference is rounded to the millisecond there (PostgreSQL is exact to the microsecond).
    The metrics read lead times with it and the first deployments bin them with it: a lead
    time's bin must be the bin of the very value the metrics read.
    """
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))::float8"
    return f"ROUND((julianday({later}) - julianday({earlier})) * 86400.0, 3)"
