"""The console in a real browser (headless Chromium through Selenium), as each person uses it:
an officer submits with a looked-up target, cannot approve their own request, a reviewer
approves, the officer downloads the release and its records match the audited digest; an
auditor's browser verifies the log itself and catches a wrong key, a tampered proof and a
tampered log; hostile values in every warrant field stay text; no page breaks its CSP."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import pathlib
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fixtures_small import ROWS

from gateway.audit.notes import NoteSigner
from gateway.identity.roles import bind_roles, roles_file
from gateway.model import SPEC_FIELDS, Category
from gateway.testing import Clock, GatewayFactory, Running

HOSTILE_ID = "<b>x</b>\"'&"
HOSTILE = {
    "case_number": "<script>window.__pwned=1</script>\"'",
    "authority": '"><img src=x onerror="window.__pwned=2">',
    "legal_basis": "</textarea><script>window.__pwned=3</script>\n'\"& שלום",
}
PEOPLE = {"off": "officer", "rev": "reviewer", "aud": "auditor"}
REPORT = "/audit/report?from=2026-01-01&to=2027-01-01&band=250"  # the auditor's report page
ROWS_HOSTILE = [
    *ROWS,
    {
        "kind": "account",
        "id": HOSTILE_ID,
        "display_name": "<i>Hostile</i>",
        "phone": "+821000000001",
        "email": "hostile@example.org",
        "created_at": "2025-06-01T00:00:00Z",
    },
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("console-browser")
    data = root / "wsg-data"
    data.mkdir(mode=0o700)  # a data directory is private (wsg serve refuses others)
    bind_roles(roles_file(data), list(PEOPLE.items()))
    factory = GatewayFactory(root, Clock())
    run = factory(ROWS_HOSTILE, data=data, console="127.0.0.1:0")
    yield run
    factory.stop_all()  # the last test tampers with the log on purpose: no entry check here


class Person:
    """The browser, signed in as someone."""

    def __init__(self, driver: Any, site: Running) -> None:
        self.d = driver
        self.base = site.console_url

    def sign_in(self, name: str) -> Person:
        from selenium.webdriver.common.by import By

        self.d.delete_all_cookies()
        self.open("/signin")
        self.d.find_element(By.ID, f"signin-{name}").click()
        self.wait(lambda d: f"Signed in as {name}" in self.header())
        return self

    def header(self) -> str:
        """The page header's text, read in one script: no element handle that the navigation
        after a sign-in could orphan between finding it and reading it."""
        shown = self.d.execute_script(
            "const h = document.querySelector('header'); return h ? h.innerText : ''"
        )
        return str(shown)

    def open(self, path: str) -> None:
        self.d.get(self.base + path)

    def wait(self, condition: Callable[[Any], Any], seconds: float = 30) -> Any:
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        # A page that is being replaced (a navigation, an htmx swap) is asked again: Chromium
        # reports a node or script context lost mid-navigation as a stale element, a JavaScript
        # error or an "unhandled inspector error", all WebDriverExceptions. A condition that
        # never holds still ends in a TimeoutException naming the wait.
        return WebDriverWait(
            self.d,
            seconds,
            poll_frequency=0.05,
            ignored_exceptions=[WebDriverException],
        ).until(condition)

    def by_id(self, element_id: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.d.find_element(By.ID, element_id)

    def set_value(self, element_id: str, value: str) -> None:
        """Fill a field and leave it, as typing would (the input and change events); typing
        itself is the keyboard test's."""
        self.d.execute_script(
            "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
            "e.dispatchEvent(new Event('input', {bubbles: true}));"
            "e.dispatchEvent(new Event('change', {bubbles: true}))",
            element_id,
            value,
        )

    def text(self, element_id: str) -> str:
        """What the element shows now (read in one step: htmx may swap it any moment)."""
        shown = self.d.execute_script(
            "const e = document.getElementById(arguments[0]); return e ? e.innerText.trim() : null",
            element_id,
        )
        if shown is None:
            raise AssertionError(f"no element #{element_id} on {self.d.current_url}")
        return str(shown)

    def csp_violations(self) -> list[str]:
        return [
            str(e["message"])
            for e in self.d.get_log("browser")
            if "Content Security Policy" in str(e["message"])
        ]


@pytest.fixture
def person(chromium: Any, site: Running) -> Iterator[Person]:
    who = Person(chromium, site)
    chromium.get_log("browser")  # start each test with an empty console log
    yield who
    assert who.csp_violations() == []
    assert chromium.execute_script("return window.__pwned === undefined")


def fill_warrant(person: Person, clock: Clock, **values: str) -> None:
    person.open("/warrants/new")
    fields = {
        "case_number": "2026-BROWSER-1",
        "authority": "Seoul Central District Court",
        "legal_basis": "Article 1",
        "window_start": "2026-01-01T00:00",
        "window_end": "2026-02-01T00:00",
        "expires_at": (clock.now + dt.timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"),
        **values,
    }
    for name, value in fields.items():
        person.set_value(name, value)
    for category in ("message_content", "memberships"):
        person.by_id(f"category-{category}").click()


def submit(person: Person) -> str:
    person.by_id("submit-warrant").click()
    person.wait(lambda d: "/warrants/w-" in d.current_url)
    return str(person.d.current_url.rsplit("/", 1)[1])


def entries(site: Running, kind: str, warrant: str) -> list[dict[str, Any]]:
    return [e for e in site.entries() if e["event"] == kind and e.get("warrant") == warrant]


class TestTheWholeJob:
    """One request through its life, each person in their own browser session."""

    state: dict[str, str] = {}

    def test_an_officer_submits_with_a_looked_up_target(
        self, person: Person, site: Running
    ) -> None:
        clock = site.gateway.config.clock
        person.sign_in("off")
        fill_warrant(person, clock)
        # A field is checked where it is, in the API's words.
        person.set_value("case_number", "2026-\u0410B-1")  # a Cyrillic А beside Latin B
        person.wait(lambda d: "mixes scripts" in person.text("err-case_number"))
        assert person.text("err-case_number").startswith("spec.case_number: mixes scripts")
        person.set_value("case_number", "2026-BROWSER-1")
        person.wait(lambda d: person.text("err-case_number") == "")
        # Pick the target by phone number: one account, added with one button.
        person.set_value("lookup", "phone:+821011112222")
        person.by_id("lookup").submit()
        person.wait(lambda d: "One account: u1" in person.text("lookup-result"))
        person.d.find_element("css selector", "[data-add-target]").click()
        assert person.by_id("targets").get_attribute("value") == "account:u1"
        looked_up = [e for e in site.entries() if e["event"] == "account.looked_up"]
        assert (looked_up[-1]["principal"], looked_up[-1]["account"]) == ("off", "u1")
        warrant_id = submit(person)
        assert person.text("warrant-state") == "submitted"
        assert "another reviewer must decide it" in person.d.page_source
        assert entries(site, "warrant.submitted", warrant_id)[0]["principal"] == "off"
        self.state["warrant"] = warrant_id

    def test_the_same_officer_cannot_approve(self, person: Person, site: Running) -> None:
        warrant_id = self.state["warrant"]
        person.sign_in("off")
        person.open("/review")
        item = person.by_id(f"title-{warrant_id}").find_element("xpath", "..")
        assert "you submitted this request" in item.text
        assert not item.find_elements("css selector", "button")  # no way to decide it here
        # Forged anyway, with the page's own token: refused by the API policy, and audited.
        token = person.d.find_element("css selector", "input[name=csrf]").get_attribute("value")
        status = person.d.execute_script(
            "const body = new FormData(); body.append('csrf', arguments[1]);"
            "body.append('reason', 'mine');"
            "return fetch(`/warrants/${arguments[0]}/approve`, {method: 'POST', body})"
            ".then(r => r.status)",
            warrant_id,
            token,
        )
        assert status == 403
        denied = entries(site, "api.denied", warrant_id)
        assert (denied[-1]["principal"], denied[-1]["rpc"]) == ("off", "Approve")

    def test_a_reviewer_approves_with_a_reason(self, person: Person, site: Running) -> None:
        warrant_id = self.state["warrant"]
        person.sign_in("rev")
        person.open("/review")
        person.set_value(f"reason-{warrant_id}", "scope matches the order")
        person.by_id(f"approve-{warrant_id}").click()
        person.wait(lambda d: warrant_id not in d.page_source)
        approved = entries(site, "warrant.approved", warrant_id)
        assert (approved[0]["principal"], approved[0]["reason"]) == (
            "rev",
            "scope matches the order",
        )

    def test_the_officer_downloads_the_release_bound_to_the_log(
        self, person: Person, site: Running, chromium: Any
    ) -> None:
        warrant_id = self.state["warrant"]
        person.sign_in("off")
        person.open(f"/warrants/{warrant_id}")
        assert person.text("warrant-state") == "approved"
        person.by_id("download-release").click()
        done = person.wait(
            lambda d: d.find_element("css selector", "[data-progress-text]").get_attribute(
                "data-done"
            )
        )
        progress = person.d.find_element("css selector", "[data-progress-text]").text
        assert done == "true", progress
        assert progress.startswith("Done:")
        bar = person.by_id("release-progress")
        assert bar.get_attribute("value") == bar.get_attribute("max")
        downloads: pathlib.Path = chromium.downloads
        zips = person.wait(
            lambda d: (
                list(downloads.glob(f"{warrant_id}-*.zip"))
                if not list(downloads.glob("*.crdownload"))
                else None
            )
        )
        with zipfile.ZipFile(zips[0]) as archive:
            records = archive.read("records.jsonl")
            manifest = json.loads(archive.read("manifest.json"))
        completed = entries(site, "release.completed", warrant_id)
        assert len(completed) == 1
        assert hashlib.sha256(records).hexdigest() == completed[0]["records_sha256"]
        assert manifest["files"]["records.jsonl"]["sha256"] == completed[0]["records_sha256"]
        assert f"Done: {completed[0]['released']} records" in progress
        # The release's page, for a person: reached from the download's own message.
        person.d.find_element("css selector", "[data-progress-text] a").click()
        person.wait(lambda d: d.find_elements("css selector", "#releases"))
        person.d.find_element(
            "css selector", f"a[href='/releases/{completed[0]['index']}']"
        ).click()
        person.wait(lambda d: "/releases/" in d.current_url)
        assert person.text("records-sha256") == completed[0]["records_sha256"]
        assert person.d.find_elements("css selector", "svg.chart rect.bar")
        self.state["completed"] = str(completed[0]["index"])


class TestTheAuditorsOwnVerification:
    def verify(self, person: Person, key: str) -> str:
        person.set_value("verifier-key", key)
        person.by_id("verify-button").click()
        return str(
            person.wait(lambda d: (t := person.text("verify-status")) and t != "Checking…" and t)
        )

    def test_the_untouched_log_verifies_in_the_browser(self, person: Person, site: Running) -> None:
        person.sign_in("aud")
        person.open("/audit")
        status = self.verify(person, site.gateway.reader.verifier_key)
        assert status.startswith("Verified. Checkpoint of"), status
        assert "Checked by this browser, not by the server." in status
        cells = person.d.find_elements("css selector", "[data-verified]")
        assert cells and all(c.text == "✓ included" for c in cells)

    def test_a_wrong_key_fails(self, person: Person, site: Running) -> None:
        person.sign_in("aud")
        person.open("/audit")
        impostor = NoteSigner.generate(site.gateway.checkpoints.origin).verifier_key
        status = self.verify(person, impostor)
        assert status.startswith("Verification FAILED: the note carries no signature by")
        cells = person.d.find_elements("css selector", "[data-verified]")
        assert all(c.text == "✗ not proven" for c in cells)

    def test_a_pasted_proof_is_checked_and_a_tampered_one_fails(
        self, person: Person, site: Running
    ) -> None:
        person.sign_in("aud")
        person.open("/audit/checkpoint")
        key = site.gateway.reader.verifier_key
        assert self.verify(person, key).startswith("Verified.")
        proof = site.gateway.reader.inclusion("aud", 3).to_json()
        person.set_value("pasted-proof", json.dumps(proof))
        person.by_id("check-proof").click()
        person.wait(lambda d: person.text("proof-status"))
        assert person.text("proof-status").startswith("Proven: entry 3 is in the checkpoint")
        hashes = [base64.b64decode(h) for h in proof["proof"]]
        hashes[0] = bytes([hashes[0][0] ^ 1]) + hashes[0][1:]
        tampered = {**proof, "proof": [base64.b64encode(h).decode() for h in hashes]}
        person.set_value("pasted-proof", json.dumps(tampered))
        person.by_id("check-proof").click()
        person.wait(lambda d: person.text("proof-status").startswith("Not proven"))
        assert "does not lead to the checkpoint's root" in person.text("proof-status")

    def test_a_kept_key_verifies_again_and_the_log_extends_what_was_seen(
        self, person: Person, site: Running
    ) -> None:
        person.sign_in("aud")
        person.open("/audit")
        person.by_id("remember-key").click()
        assert self.verify(person, site.gateway.reader.verifier_key).startswith("Verified.")
        with site.client("off") as officer:  # the log grows meanwhile
            officer.lookup_account("account:u2")
        person.open("/audit")  # the kept key verifies on its own, and checks consistency
        status = person.wait(
            lambda d: (t := person.text("verify-status")).startswith("Verified") and t
        )
        assert "It extends the checkpoint of" in status

    def test_a_tampered_log_fails_in_the_browser(self, person: Person, site: Running) -> None:
        """An entry's bytes changed on disk behind the gateway's back (same length): its
        proof no longer leads to the signed root, and the page says which entry."""
        person.sign_in("aud")
        log = pathlib.Path(site.gateway.audit.location)
        lines = log.read_bytes().split(b"\n")
        victim = next(i for i, line in enumerate(lines) if b'"principal":"rev"' in line)
        lines[victim] = lines[victim].replace(b'"principal":"rev"', b'"principal":"ref"')
        log.write_bytes(b"\n".join(lines))
        person.open("/audit?principal=ref")
        status = self.verify(person, site.gateway.reader.verifier_key)
        assert status.startswith("Verification FAILED."), status
        row = person.d.find_element("css selector", f"tr[data-index='{victim}']")
        assert row.find_element("css selector", "[data-verified]").text.startswith(
            "✗ not proven: the proof does not lead to the checkpoint's root"
        )


class TestHostileValues:
    def test_every_warrant_field_renders_as_text(self, person: Person, site: Running) -> None:
        clock = site.gateway.config.clock
        person.sign_in("off")
        fill_warrant(person, clock, **HOSTILE)
        person.set_value("targets", f"account:{HOSTILE_ID}")
        warrant_id = submit(person)
        seen_by = {
            "off": [f"/warrants/{warrant_id}", "/warrants"],
            "rev": ["/review", f"/warrants/{warrant_id}"],
            "aud": [f"/audit?warrant={warrant_id}", f"/warrants/{warrant_id}"],
        }
        for name, paths in seen_by.items():
            person.sign_in(name)
            for path in paths:
                person.open(path)
                self.only_text(person)
        # The reviewer's reason is typed by a person too; then every entry's page shows both.
        person.sign_in("rev")
        person.open("/review")
        person.by_id(f"reason-{warrant_id}").send_keys(HOSTILE["authority"])
        person.by_id(f"reject-{warrant_id}").click()
        person.wait(lambda d: entries(site, "warrant.rejected", warrant_id))
        about = [
            f"/audit/{e['index']}"
            for kind in ("warrant.submitted", "warrant.rejected")
            for e in entries(site, kind, warrant_id)
        ]
        for name in ("off", "aud"):
            person.sign_in(name)
            for path in [*about, f"/warrants/{warrant_id}"]:
                person.open(path)
                self.only_text(person)
                assert not person.d.find_elements("id", "error-message"), (name, path)
        person.sign_in("off")
        person.open(f"/warrants/{warrant_id}")
        assert HOSTILE["authority"] in person.d.find_element("tag name", "main").text
        source = person.d.find_element("css selector", "dl.scope").text
        for value in (HOSTILE["case_number"], HOSTILE["authority"], HOSTILE_ID):
            assert value in source
        assert person.d.find_element("tag name", "h1").text == f"Request {HOSTILE['case_number']}"

    def only_text(self, person: Person) -> None:
        main = person.d.find_element("tag name", "main")
        assert not main.find_elements("css selector", "script, img, b, i")
        assert person.d.execute_script("return window.__pwned === undefined")

    def test_a_right_to_left_override_is_refused_and_shown_as_typed(
        self, person: Person, site: Running
    ) -> None:
        person.sign_in("off")
        fill_warrant(person, site.gateway.config.clock, authority="Court \u202egro.live")
        person.by_id("targets").send_keys("account:u1")  # typed, as a person would
        person.by_id("submit-warrant").click()
        person.wait(lambda d: d.find_elements("id", "error-summary"))
        assert "U+202E" in person.text("err-authority")
        assert person.by_id("authority").get_attribute("value") == "Court \u202egro.live"
        assert person.by_id("authority").get_attribute("aria-invalid") == "true"


# The elements that reach past the window's right edge (what a failure names).
WIDE = """
  const width = document.documentElement.clientWidth, out = [];
  for (const e of document.querySelectorAll('body *')) {
    const box = e.getBoundingClientRect();
    if (box.right > width + 1 && !e.closest('.table-wrap')) {
      out.push(`${e.tagName}.${e.className}#${e.id} ${Math.round(box.right)}`);
    }
  }
  return out.slice(0, 8);
"""


class TestAccessibility:
    def pages(self, site: Running) -> dict[str, list[str]]:
        """Each person's pages, with a request, its release's page and audit entries when the
        whole job above has made them (it runs first in this module)."""
        pages = {
            "off": ["/", "/warrants", "/warrants/new", "/due"],
            "rev": ["/review", "/warrants", "/due"],
            "aud": ["/audit", "/audit/checkpoint", "/warrants", "/due", REPORT],
        }
        done = [e for e in site.entries() if e["event"] == "release.completed"]
        if done:
            index, warrant = done[-1]["index"], done[-1]["warrant"]
            pages["off"] += [f"/warrants/{warrant}", f"/releases/{index}", f"/audit/{index}"]
            pages["rev"] += [f"/warrants/{warrant}"]
            pages["aud"] += [f"/releases/{index}", f"/audit/{index}", f"/audit?warrant={warrant}"]
        waiting = [e for e in site.entries() if e["event"] == "warrant.submitted"]
        if waiting:
            pages["rev"].append(f"/warrants/{waiting[-1]['warrant']}")
        return pages

    def test_every_input_has_a_label(self, person: Person, site: Running) -> None:
        unlabelled = """
          return [...document.querySelectorAll('input, select, textarea')]
            .filter(e => e.type !== 'hidden')
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
            .map(e => e.outerHTML);
        """
        for name, paths in self.pages(site).items():
            person.sign_in(name)
            for path in paths:
                person.open(path)
                assert person.d.execute_script(unlabelled) == [], (name, path)

    def test_the_skip_link_and_the_form_work_from_the_keyboard(self, person: Person) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        def press(key: str) -> str:
            ActionChains(person.d).send_keys(key).perform()
            return str(
                person.d.execute_script(
                    "return document.activeElement.id || document.activeElement.textContent"
                )
            )

        person.sign_in("off")
        person.open("/warrants/new")
        assert press(Keys.TAB) == "Skip to the content"
        assert press(Keys.ENTER) == "main"
        # Every control of the form is reached in order, the submit button last: a date-time
        # input takes seven stops (its parts and picker), every other field and box one, and
        # a few more (look-up, buttons).
        stops = 7 * len(SPEC_FIELDS) + len(Category) + 10
        reached: list[str] = []
        while len(reached) < stops and "submit-warrant" not in reached:
            reached.append(press(Keys.TAB))
        for control in ("lookup", "case_number", "targets", "category-contacts", "expires_at"):
            assert control in reached
        assert "submit-warrant" in reached, " | ".join(reached)

    def test_readable_at_200_percent_zoom(
        self, person: Person, chromium: Any, site: Running
    ) -> None:
        """At 200 % a 1280-pixel window is 640 CSS pixels wide: on each person's own pages
        nothing may need sideways scrolling except inside the wide tables' own scroll boxes,
        and no page is an error page."""
        chromium.set_window_size(640, 900)
        try:
            for name, paths in self.pages(site).items():
                person.sign_in(name)
                for path in paths:
                    person.open(path)
                    overflow = person.d.execute_script(
                        "const root = document.documentElement;"
                        "return root.scrollWidth - root.clientWidth"
                    )
                    assert overflow <= 0, (name, path, overflow, person.d.execute_script(WIDE))
                    assert not person.d.find_elements("id", "error-message"), (
                        name,
                        path,
                        person.d.find_element("tag name", "main").text,
                    )
        finally:
            chromium.set_window_size(1280, 900)
