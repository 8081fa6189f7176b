"""Swagger UI at /api/v1/docs/ works in a real browser under the policy the server sends for it.

Its page bootstraps itself with an inline script and style, so it gets its own policy (still
'self' only: nothing from another host). Skipped, with the reason, where Chromium is missing.
"""

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def render_docs(base_url: str) -> dict:
    """Open the docs page in Chromium; report the policy header, operations shown, messages, foreign requests."""
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    foreign: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.on("console", lambda message: console.append(message.text))
            page.on(
                "request",
                lambda request: request.url.startswith((base_url, "data:")) or foreign.append(request.url),
            )
            response = page.goto(f"{base_url}/api/v1/docs/")
            page.wait_for_selector(".opblock")
            return {
                "policy": response.headers.get("content-security-policy", ""),
                "operations": page.locator(".opblock").count(),
                "console": console,
                "foreign": foreign,
            }
        finally:
            browser.close()


def test_swagger_ui_renders_every_operation_without_a_policy_violation(live_server):
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"{CHROMIUM} is not installed")
    pytest.importorskip("playwright.sync_api")
    # Its own thread: Playwright's sync API refuses a thread where another test's event loop runs.
    with ThreadPoolExecutor(max_workers=1) as pool:
        seen = pool.submit(render_docs, live_server.url).result(timeout=120)
    assert "frame-ancestors 'none'" in seen["policy"]
    assert seen["operations"] >= 10
    assert [m for m in seen["console"] if "Content Security Policy" in m or "Refused" in m] == []
    assert seen["foreign"] == []
