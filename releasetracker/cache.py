"""The cache that holds rate-limit and sign-in counters by default: a table in the product's database.

Every gunicorn worker (and every server on the same database) reads and writes the same rows,
so a limit holds across all of them without another service to run. The table, ``rt_cache``,
is made by the migration ``releasetracker.0003_rate_limit_cache_table``: ``migrate`` alone
is enough. Another table name (``CACHE_URL=db://<table>``) needs ``manage.py createcachetable``.
"""

import base64
import pickle

from django.core.cache.backends import db
from django.db import connections, router, transaction

DEFAULT_TABLE = "rt_cache"


class DatabaseCache(db.DatabaseCache):
    """Django's database cache with an ``incr`` that two processes cannot interleave.

    Django's own ``incr`` reads the value and writes it back in two steps, so two workers
    counting the same request at once could both write the same total and one request would not
    count. Here the row is locked first (PostgreSQL locks the row, SQLite the database), then read
    and written in one transaction, so a concurrent ``incr`` waits for this one.
    """

    def incr(self, key, delta=1, version=None):
        made_key = self.make_and_validate_key(key, version=version)
        alias = router.db_for_write(self.cache_model_class)
        connection = connections[alias]
        quote = connection.ops.quote_name
        table, key_column, value_column = quote(self._table), quote("cache_key"), quote("value")
        with transaction.atomic(using=alias):
            with connection.cursor() as cursor:
                # A no-op write that takes the row's lock until the transaction ends.
                cursor.execute(
                    f"UPDATE {table} SET {value_column} = {value_column} WHERE {key_column} = %s",  # noqa: S608 - quoted names, values bound
                    [made_key],
                )
            # Read as every other read of this cache: expiry, decoding and all (None: missing or expired).
            current = self.get(key, version=version)
            if current is None:
                raise ValueError(f"Key '{made_key}' not found")
            value = current + delta
            # Only the value changes: the expiry the counter's window started with stays.
            encoded = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET {value_column} = %s WHERE {key_column} = %s",  # noqa: S608
                    [encoded, made_key],
                )
        return value
