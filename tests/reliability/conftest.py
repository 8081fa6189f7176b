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
