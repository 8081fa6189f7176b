"""Fixtures of the operations tests."""

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.ops.servers import ThrowawayCluster


@pytest.fixture(scope="module")
def cluster():
    """A PostgreSQL cluster of this module's own, in a temporary directory, on a free port."""
    try:
        workdir = Path(tempfile.mkdtemp(prefix="rt-ops-pg-"))
    except OSError as exc:
        pytest.skip(f"no temporary directory: {exc}")
    try:
        try:
            instance = ThrowawayCluster(workdir)
        except (SystemExit, KeyError) as exc:  # no server binaries, or no postgres OS user
            pytest.skip(f"a throwaway PostgreSQL cluster cannot be made here: {exc}")
        try:
            instance.init()
            instance.start()
            yield instance
        finally:
            instance.stop_for_good()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
