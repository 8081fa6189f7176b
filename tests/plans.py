"""Reading PostgreSQL's plans in tests: how much of a table a query actually read."""

import json

from django.db import connection


def explain_analyze(sql: str, params) -> dict:
    """Run ``sql`` under ``EXPLAIN (ANALYZE, FORMAT JSON)`` and return its top plan node."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


def rows_read(plan: dict, alias: str) -> int:
    """Rows the scans of ``alias`` returned or filtered out, over all their loops."""
    total = 0
    if plan.get("Alias") == alias:
        total += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * plan.get("Actual Loops", 1)
    for child in plan.get("Plans", []):
        total += rows_read(child, alias)
    return total
