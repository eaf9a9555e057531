"""Screenshots of the console's main pages for the README (docs/console/*.png).

Seeds a store as `wsg demo` does, runs the story (an officer submits, a reviewer approves, the
officer releases, an auditor verifies) through a real gateway and its console in headless
Chromium, and saves one PNG per page. Run it by hand after changing a page, and look at them:
    .venv/bin/python scripts/console_screenshots.py [OUT_DIR]
"""

from __future__ import annotations

import datetime as dt
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import browser  # noqa: E402 - the tests' Chromium set-up, from tests/

from gateway.api.client import Client  # noqa: E402
from gateway.api.server import Gateway  # noqa: E402
from gateway.console import attach_console  # noqa: E402
from gateway.datadir import DataDir  # noqa: E402
from gateway.identity.roles import bind_roles, roles_file  # noqa: E402
from gateway.logs import quiet_logging  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.stores.reference.seed import seed as seed_store  # noqa: E402
from gateway.stores.reference.sqlite import ReferenceStore  # noqa: E402
from gateway.testing import make_spec  # noqa: E402

WIDTH, HEIGHT = 1100, 820


def main(out: pathlib.Path) -> None:
    quiet_logging()
    out.mkdir(parents=True, exist_ok=True)
    root = pathlib.Path(tempfile.mkdtemp(prefix="wsg-shots-"))
    dirs = DataDir(root).create()
    store = ReferenceStore.open(dirs.store_db)
    try:
        seed_store(store, 300, 7)
        target, span = store.suggest_target(), store.time_span()
    finally:
        store.close()
    assert target is not None and span is not None
    bind_roles(
        roles_file(root),
        [
            ("officer.kim", "officer"),
            ("reviewer.lee", "reviewer"),
            ("reviewer.choi", "reviewer"),
            ("auditor.park", "auditor"),
        ],
    )
    gateway = Gateway(
        Settings(data=root, listen="127.0.0.1:0", insecure=True, console="127.0.0.1:0")
    )
    console = attach_console(gateway)
    assert console is not None
    gateway.start()
    start = span[0].replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + (span[1] - span[0]) / 2
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    with Client(gateway.address, "officer.kim", insecure=True) as officer:
        for n, categories in enumerate(
            (["subscriber", "logins"], ["message_metadata"], ["memberships", "contacts"])
        ):
            spec = make_spec([f"account:{target}"], categories, start, end, expires)
            spec.case_number = f"2026-GO-12{n + 3}"
            spec.authority = "Seoul Central District Court"
            officer.submit(spec)
    driver = browser.start(root / "downloads")
    driver.set_window_size(WIDTH, HEIGHT)
    base = console.url

    def sign_in(name: str) -> None:
        driver.delete_all_cookies()
        driver.get(base + "/signin")
        driver.find_element("id", f"signin-{name}").click()
        time.sleep(0.3)

    def shot(name: str, full: bool = False) -> None:
        time.sleep(0.4)
        driver.execute_script("window.scrollTo(0, 0)")
        if full:
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(WIDTH, min(height + 120, 2400))
        driver.save_screenshot(str(out / f"{name}.png"))
        driver.set_window_size(WIDTH, HEIGHT)

    try:
        driver.get(base + "/signin")
        shot("signin")
        sign_in("officer.kim")
        driver.get(base + "/warrants/new")
        fields = {
            "case_number": "2026-GO-1234",
            "authority": "Seoul Central District Court",
            "legal_basis": "Criminal Procedure Act, art. 215: messages and memberships",
            "window_start": start.strftime("%Y-%m-%dT%H:%M"),
            "window_end": end.strftime("%Y-%m-%dT%H:%M"),
            "expires_at": "2026-01-01T00:00",  # in the past: the form says so, in place
        }
        for key, value in fields.items():
            driver.execute_script(
                "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
                "e.dispatchEvent(new Event('change', {bubbles: true}))",
                key,
                value,
            )
        driver.execute_script(
            "const e = document.getElementById('lookup'); e.value = arguments[0];",
            f"account:{target}",
        )
        driver.find_element("id", "lookup").submit()
        time.sleep(0.5)
        driver.find_element("css selector", "[data-add-target]").click()
        for category in ("message_content", "memberships"):
            driver.find_element("id", f"category-{category}").click()
        shot("new-request", full=True)
        driver.execute_script(
            "const e = document.getElementById('expires_at'); e.value = arguments[0];"
            "e.dispatchEvent(new Event('change', {bubbles: true}))",
            expires.strftime("%Y-%m-%dT%H:%M"),
        )
        time.sleep(0.3)
        driver.find_element("id", "submit-warrant").click()
        time.sleep(0.5)
        warrant_id = driver.current_url.rsplit("/", 1)[1]
        driver.get(base + "/warrants")
        shot("requests")
        sign_in("reviewer.lee")
        driver.get(base + "/review")
        driver.find_element("id", f"reason-{warrant_id}").send_keys("scope matches the order")
        driver.find_element("id", f"approve-{warrant_id}").click()
        time.sleep(0.5)
        # Its dry run names more third parties than the catalogue's review threshold: a second
        # reviewer sees the figures and who approved first, and approves too.
        sign_in("reviewer.choi")
        driver.get(base + "/review")
        shot("review-queue", full=True)
        if driver.find_elements("id", f"approve-{warrant_id}"):
            driver.find_element("id", f"approve-{warrant_id}").click()
            time.sleep(0.5)
        sign_in("officer.kim")
        driver.get(f"{base}/warrants/{warrant_id}")
        driver.find_element("id", "download-release").click()
        for _ in range(100):
            done = driver.find_element("css selector", "[data-progress-text]").get_attribute(
                "data-done"
            )
            if done:
                break
            time.sleep(0.1)
        shot("warrant-released", full=True)
        completed = [
            i
            for i, line in gateway.audit.lines()
            if b'"event":"release.completed"' in line and warrant_id.encode() in line
        ]
        driver.get(f"{base}/releases/{completed[-1]}")
        shot("release", full=True)
        driver.get(base + "/due")
        shot("deadlines")
        sign_in("auditor.park")
        driver.get(base + "/audit")
        driver.execute_script(
            "document.getElementById('verifier-key').value = arguments[0]",
            gateway.reader.verifier_key,
        )
        driver.find_element("id", "verify-button").click()
        time.sleep(1.0)
        shot("audit-log", full=True)
        driver.get(f"{base}/audit/{completed[-1]}")
        driver.execute_script(
            "document.getElementById('verifier-key').value = arguments[0]",
            gateway.reader.verifier_key,
        )
        driver.find_element("id", "verify-button").click()
        time.sleep(1.0)
        shot("audit-entry")
        year = dt.datetime.now(dt.UTC).year
        driver.get(f"{base}/audit/report?from={year}-01-01&to={year + 1}-01-01&band=0")
        shot("transparency-report", full=True)
        # 200 % zoom: half the CSS pixels across, each drawn twice as large.
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH // 2, "height": HEIGHT // 2, "deviceScaleFactor": 2, "mobile": False},
        )
        sign_in("officer.kim")
        driver.get(f"{base}/releases/{completed[-1]}")
        time.sleep(0.4)
        driver.save_screenshot(str(out / "zoom-200.png"))
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    finally:
        driver.quit()
        gateway.stop()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "console")
