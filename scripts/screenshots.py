"""Regenerate docs/screenshots/*.png: the main pages with demo data, in Debian's Chromium.

    .venv/bin/python scripts/screenshots.py        (or: make screenshots)

Starts its own server on a free port over a throwaway SQLite database seeded with the demo data,
signs in as the demo user, takes the pictures, and stops the server by its PID.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited early with code {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own local server
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not answer {url} within {timeout} s")


def main() -> None:
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rt-screenshots-") as tmp:
        env = {
            **os.environ,
            "DEBUG": "1",
            "DATABASE_URL": f"sqlite:///{tmp}/db.sqlite3",
            "LOG_LEVEL": "WARNING",
        }
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=ROOT)
        subprocess.run([*manage, "seed_demo"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_up(f"{base}/healthz", server)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
                page.goto(f"{base}/accounts/login/")
                page.get_by_label("Username").fill("demo")
                page.get_by_label("Password").fill("demo")
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url("**/orgs/demo/releases/")
                shots = [
                    ("timeline", "/orgs/demo/releases/?per_page=10"),
                    ("deployments", "/orgs/demo/deployments/?per_page=10"),
                    ("metrics", "/orgs/demo/metrics/?days=90"),
                    ("environments", "/orgs/demo/environments/"),
                ]
                for name, path in shots:
                    page.goto(base + path)
                    page.screenshot(path=OUT / f"{name}.png", full_page=True)
                # The release page of a release that failed in production and was followed by a rollback.
                page.goto(f"{base}/orgs/demo/releases/?environment=production&status=failure&per_page=10")
                page.locator(".release-row__version").first.click()
                page.wait_for_selector("#commits-title")
                page.locator("details.history").first.evaluate("element => element.open = true")
                page.screenshot(path=OUT / "release.png", full_page=True)
                # What staging holds that production does not yet have.
                compare = "/orgs/demo/compare/?base_environment=production&head_environment=staging&project=web"
                page.goto(base + compare)
                page.screenshot(path=OUT / "compare.png", full_page=True)
                # And the timeline at phone width.
                phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=1)
                phone.context.add_cookies(page.context.cookies())
                phone.goto(f"{base}/orgs/demo/releases/?per_page=10")
                phone.screenshot(path=OUT / "timeline-phone.png")
                phone.goto(base + compare + "#summary")
                phone.screenshot(path=OUT / "compare-phone.png")
                phone.goto(f"{base}/orgs/demo/environments/")
                phone.screenshot(path=OUT / "environments-phone.png", full_page=True)
                browser.close()
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    for png in sorted(OUT.glob("*.png")):
        print(f"wrote {png.relative_to(ROOT)} ({png.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
