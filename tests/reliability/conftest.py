"""Fixtures for the reliability suite: the real log pipeline, captured."""

import io
import json
import logging

import pytest


@pytest.fixture
def console_log():
    """What the configured console handler writes (filter and formatter from settings.LOGGING).

    Returns a function giving the lines written so far. The stream is swapped, not the handler,
    so the test sees exactly what production would print.
    """
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield lambda: buffer.getvalue().splitlines()
    finally:
        handler.setStream(previous)


def json_lines(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines if line.strip()]


SERVER_TIMES = pytest.StashKey[list]()


def record_server_time(request, **figures) -> None:
    """Keep a request's in-process time for the terminal summary (reported, never asserted)."""
    request.config.stash.setdefault(SERVER_TIMES, []).append(figures)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    rows = config.stash.get(SERVER_TIMES, [])
    if not rows:
        return
    terminalreporter.section("server time per refused list (in process)")
    for row in sorted(rows, key=lambda row: -row["seconds"]):
        terminalreporter.write_line(
            f"{row['seconds'] * 1000:9.1f} ms  {row['status']}  {row['count']:>9} items  "
            f"{row['size'] / 1024:8.0f} KiB  {row['case']}, {row.get('factor', '')}"
        )
