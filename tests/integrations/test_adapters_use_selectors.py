"""Vendor adapters read through selectors and write through services: no ORM manager in them."""

from pathlib import Path

import integrations

PACKAGE = Path(integrations.__file__).parent


def test_no_integration_module_queries_a_model_manager():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if ".objects." in line
    ]
    assert not offenders, f"use a selector (or a service) instead of .objects. in: {', '.join(offenders)}"


def test_it_looks_at_the_adapters():
    assert {"base.py", "echoes.py", "iftrue.py", "multitudes.py"} <= {path.name for path in PACKAGE.glob("*.py")}
