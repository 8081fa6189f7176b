"""The cache that holds rate-limit and sign-in counters by default: a table in the product's database.

Every gunicorn worker (and every server on the same database) reads and writes the same rows,
so a limit holds across all of them without another service to run. The table, ``rt_cache``,
is made by the migration ``releasetracker.0003_rate_limit_cache_table``: ``migrate`` alone
is enough. Another table name (``CACHE_URL=db://<table>``) needs ``manage.py createcachetable``.
"""

import base64
import pickle

from django.core.cache.backends import db
from django.db import connections, models, router, transaction
from django.utils.timezone import now as tz_now

DEFAULT_TABLE = "rt_cache"


class DatabaseCache(db.DatabaseCache):
    """Django's database cache with an ``incr`` that two processes cannot interleave.

    Django's own ``incr`` reads the value and writes it back in two steps, so two workers
    counting the same request at once could both write the same total and one request would not
    count. Here the row is locked first (PostgreSQL locks the row, SQLite the database), then read
    and written in one transaction, so a concurrent ``incr`` waits for this one.
    """

    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        alias = router.db_for_write(self.cache_model_class)
        connection = connections[alias]
        quote = connection.ops.quote_name
        table, key_column = quote(self._table), quote("cache_key")
        value_column, expires_column = quote("value"), quote("expires")
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {expires_column} = {expires_column} WHERE {key_column} = %s",  # noqa: S608 - quoted names, values bound
                [key],
            )
            cursor.execute(
                f"SELECT {value_column}, {expires_column} FROM {table} WHERE {key_column} = %s",  # noqa: S608
                [key],
            )
            row = cursor.fetchone()
            if row is None or self._expires(connection, row[1]) < tz_now():
                raise ValueError(f"Key '{key}' not found")
            # The rows are written by this cache alone, pickled as Django's own get() reads them.
            stored = base64.b64decode(connection.ops.process_clob(row[0]).encode())
            value = pickle.loads(stored) + delta  # noqa: S301
            encoded = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            cursor.execute(
                f"UPDATE {table} SET {value_column} = %s WHERE {key_column} = %s",  # noqa: S608
                [encoded, key],
            )
        return value

    @staticmethod
    def _expires(connection, value):
        # The column comes back aware or naive depending on the backend: converted as Django's get() does.
        expression = models.Expression(output_field=models.DateTimeField())
        for converter in connection.ops.get_db_converters(expression) + expression.get_db_converters(connection):
            value = converter(value, expression, connection)
        return value
