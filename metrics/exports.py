"""The DORA metrics' series as CSV rows: one row per bucket (day or week), every metric side by side."""

from collections.abc import Iterator

SERIES_HEADER = [
    "bucket_start",
    "deployments",
    "lead_time_median_seconds",
    "lead_time_commits",
    "failed_changes",
    "finished_deployments",
    "change_failure_rate",
    "recovery_median_seconds",
    "recovered",
    "unrecovered",
    "rework_deployments",
    "successful_deployments",
    "rework_rate",
]


def dora_series_rows(result: dict) -> Iterator[list]:
    """Rows of ``dora_metrics``' answer, in ``SERIES_HEADER``'s order (its series share their buckets)."""
    series = zip(
        result["deployment_frequency"]["series"],
        result["lead_time"]["series"],
        result["change_failure_rate"]["series"],
        result["recovery_time"]["series"],
        result["rework_rate"]["series"],
        strict=True,
    )
    for frequency, lead, failure, recovery, rework in series:
        yield [
            frequency["start"],
            frequency["count"],
            lead["median_seconds"],
            lead["commits"],
            failure["failed"],
            failure["total"],
            failure["rate"],
            recovery["median_seconds"],
            recovery["recovered"],
            recovery["unrecovered"],
            rework["rework"],
            rework["total"],
            rework["rate"],
        ]
