"""Vendor-compatible endpoints: each vendor's doc examples, status codes and error shapes.

``same_as_native`` supports the one test per vendor that sends an event through the vendor
endpoint (to ``org``) and the same event through the native API (to ``other_org``) and compares
what the native API then shows for both.
"""

# Fields that differ between two organizations or two requests by construction.
VOLATILE = {"id", "release_id", "deployment_id", "source", "created_by", "created_at", "updated_at"}


def comparable(item: dict, *, drop: set[str] = frozenset()) -> dict:
    """A native API item without its identity, provenance and request-time fields."""
    out = {}
    for key, value in item.items():
        if key in VOLATILE or key in drop:
            continue
        if key == "status_history":
            value = [change["status"] for change in value]
        out[key] = value
    return out


def only_result(client, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert len(results) == 1, results
    return results[0]


# The parts of the DORA metrics that do not depend on when each request arrived.
METRIC_COUNTS = {
    "deployment_frequency": ("count",),
    "lead_time": ("commits",),
    "change_failure_rate": ("failed", "total"),
    "recovery_time": ("recovered", "unrecovered"),
    "rework_rate": ("rework", "total"),
}


def metric_counts(client, since: str | None = None, until: str | None = None) -> dict:
    """What /api/v1/metrics/dora/ counts for the client's organization (default: the last day)."""
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    params = {
        "since": since or (now - timedelta(days=1)).isoformat(),
        "until": until or (now + timedelta(minutes=1)).isoformat(),
    }
    response = client.get("/api/v1/metrics/dora/", params)
    assert response.status_code == 200, response.content
    body = response.json()
    return {name: {key: body[name][key] for key in keys} for name, keys in METRIC_COUNTS.items()}
