"""The web console over HTTP: the same services, API policy and audit log as gRPC; sign-in,
sessions, CSRF, origins and hosts; the form's messages; look-ups; the release download; and
the permission matrix of policies/api_cases.yaml, through the console's own pages."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import json
import pathlib
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import yaml
from console_http import ConsoleHttp
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.client import ClientError
from gateway.api.convert import spec_from_pb
from gateway.audit.evidence import verify_package
from gateway.audit.notes import NoteVerifier
from gateway.errors import InvalidArgument
from gateway.identity.roles import bind_roles, roles_file
from gateway.settings import DEFAULT_POLICY_DIR
from gateway.testing import Clock, GatewayFactory, Running, make_spec, ts

PEOPLE = {
    "off": "officer",
    "off2": "officer",
    "svc": "service",
    "rev": "reviewer",
    "aud": "auditor",
    "adm": "policy_admin",
    "ntf": "notifier",
}
CASES = yaml.safe_load((DEFAULT_POLICY_DIR / "api_cases.yaml").read_text())
CONSOLE_RPCS = {  # the console offers no policy administration (PolicyService stays gRPC only)
    "Submit",
    "List",
    "Get",
    "Approve",
    "Reject",
    "Revoke",
    "Release",
    "LookupAccount",
    "GetCheckpoint",
    "GetInclusionProof",
    "GetConsistencyProof",
    "ListEntries",
    "ListDue",
    "ExtendPreservation",
    "DeferNotice",
    "GetTransparencyReport",
}


def warrant_form(clock: Clock, **overrides: str) -> list[tuple[str, str]]:
    values = {
        "case_number": "2026-WEB-1",
        "authority": "Test Court",
        "legal_basis": "test",
        "targets": "account:u1",
        "window_start": "2026-01-01T00:00",
        "window_end": "2026-02-01T00:00",
        "expires_at": (clock.now + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        **overrides,
    }
    fields = [(k, v) for k, v in values.items() if k != "categories"]
    for category in overrides.get("categories", "message_content,memberships").split(","):
        if category:
            fields.append(("categories", category))
    return fields


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, clock: Clock) -> Iterator[Running]:
    """One gateway with its console for the whole module (its policy compiles once)."""
    root = tmp_path_factory.mktemp("console")
    data = root / "wsg-data"
    data.mkdir(mode=0o700)  # a data directory is private (wsg serve refuses others)
    bind_roles(roles_file(data), list(PEOPLE.items()))
    factory = GatewayFactory(root, clock)
    run = factory(ROWS, data=data, console="127.0.0.1:0")
    yield run
    problems = factory.stop_all()
    assert not problems, problems


def person(console: Running, name: str) -> ConsoleHttp:
    return ConsoleHttp.signed_in(console.console_url, name)


def last_entry(console: Running) -> dict[str, Any]:
    return console.entries()[-1]


def submitted(console: Running, http: ConsoleHttp, clock: Clock, **overrides: str) -> str:
    http.get("/warrants/new")
    reply = http.post("/warrants/new", warrant_form(clock, **overrides))
    assert reply.status == 303, (reply.status, reply.error, reply.text[-2000:])
    return reply.headers["location"].rsplit("/", 1)[1]


class TestHeaders:
    def test_every_response_has_the_strict_policy(self, console: Running) -> None:
        """Pages, error pages, static files and refusals all carry the CSP (no inline script
        or style) and the other security headers; pages are never cached."""
        http = person(console, "off")
        for path in ("/", "/warrants", "/nothing-here", "/static/console-v1.css", "/audit/99999"):
            reply = http.get(path)
            csp = reply.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "style-src 'self'" in csp, path
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
            assert reply.headers["x-content-type-options"] == "nosniff"
            assert reply.headers["x-frame-options"] == "DENY"
            if not path.startswith("/static/"):
                assert reply.headers["cache-control"] == "no-store", path

    def test_pages_hold_no_inline_script_or_style(self, console: Running) -> None:
        http = person(console, "aud")
        for path in ("/", "/audit", "/audit/checkpoint", "/audit/0", "/audit/report"):
            text = http.get(path).text
            assert not re.search(r"<script(?![^>]*\bsrc=)", text), path
            assert " style=" not in text and "<style" not in text, path
            assert not re.search(r"\son[a-z]+=", text), path

    def test_the_session_cookie_is_secure_httponly_and_strict(self, console: Running) -> None:
        reply = ConsoleHttp(console.console_url).get("/signin")
        cookie = reply.headers["set-cookie"]
        assert cookie.startswith("__Host-wsg-console=")
        for flag in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
            assert flag.lower() in cookie.lower(), flag


class TestSignIn:
    def test_the_sign_in_page_lists_the_principals_of_roles_json(self, console: Running) -> None:
        text = ConsoleHttp(console.console_url).get("/signin").text
        for name, role in PEOPLE.items():
            assert f'value="{name}"' in text and role in text

    def test_a_name_not_in_roles_json_cannot_sign_in(self, console: Running) -> None:
        http = ConsoleHttp(console.console_url)
        http.get("/signin")
        reply = http.post("/signin", {"principal": "mallory"})
        assert reply.status == 400
        assert reply.error == "principal: 'mallory' is not in roles.json"
        assert http.get("/warrants").status == 401

    def test_a_token_from_before_sign_in_is_worthless_after(self, console: Running) -> None:
        """Signing in rotates the CSRF token (no session fixation)."""
        http = ConsoleHttp(console.console_url)
        http.get("/signin")
        before = http.csrf
        http.post("/signin", {"principal": "off"})
        http.csrf = before
        reply = http.post("/lookup", {"lookup": "account:u1"})
        assert reply.status == 403
        assert "CSRF" in reply.error

    def test_signing_out_ends_the_session(self, console: Running) -> None:
        http = person(console, "off")
        http.get("/")
        assert http.post("/signout").status == 303
        assert http.get("/warrants").status == 401


class TestRefusals:
    """Each refusal is an error page and a console.refused entry naming why."""

    def refused(self, console: Running, reply: Any, status: int, why: str) -> dict[str, Any]:
        assert reply.status == status, (reply.status, reply.error)
        entry = last_entry(console)
        assert entry["event"] == "console.refused"
        assert why in entry["why"]
        return entry

    def test_a_post_without_the_csrf_token(self, console: Running, clock: Clock) -> None:
        http = person(console, "off")
        before = console.gateway.audit.size
        reply = http.post("/warrants/new", warrant_form(clock), csrf=False)
        entry = self.refused(console, reply, 403, "without the session's CSRF token")
        assert (entry["principal"], entry["method"], entry["path"]) == (
            "off",
            "POST",
            "/warrants/new",
        )
        assert console.gateway.audit.size == before + 1  # nothing else happened

    def test_a_post_with_another_sessions_token(self, console: Running, clock: Clock) -> None:
        http, other = person(console, "off"), person(console, "off2")
        http.get("/warrants/new")
        other.get("/warrants/new")
        http.csrf = other.csrf
        self.refused(
            console, http.post("/warrants/new", warrant_form(clock)), 403, "not this session's"
        )

    def test_a_post_from_another_origin(self, console: Running, clock: Clock) -> None:
        http = person(console, "off")
        http.get("/warrants/new")
        reply = http.post("/warrants/new", warrant_form(clock), origin="https://evil.example")
        self.refused(console, reply, 403, "another origin (https://evil.example)")

    def test_a_post_with_neither_origin_nor_referer(self, console: Running) -> None:
        http = person(console, "off")
        reply = http.post("/lookup", {"lookup": "account:u1"}, origin=None)
        self.refused(console, reply, 403, "neither Origin nor a Referer")

    def test_a_post_with_the_consoles_referer_and_no_origin_is_accepted(
        self, console: Running
    ) -> None:
        http = person(console, "off")
        reply = http.post(
            "/lookup",
            {"lookup": "account:u1"},
            origin=None,
            headers={"Referer": console.console_url + "/warrants/new"},
        )
        assert reply.status == 200
        assert last_entry(console)["event"] == "account.looked_up"

    def test_a_post_without_a_length_or_too_long(self, console: Running) -> None:
        """A form is bounded (256 KiB), and must say its length (no endless chunked body)."""
        http = person(console, "off")
        long = http.post("/lookup", {"lookup": "account:" + "u" * (300 << 10)})
        self.refused(console, long, 413, "form larger than")
        chunked = http.request(
            "POST",
            "/lookup",
            body=iter([b"lookup=account%3Au1&csrf=", (http.csrf or "").encode()]),  # type: ignore[arg-type]
            headers={  # an iterable body: http.client sends it chunked, with no length
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": console.console_url,
            },
        )
        self.refused(console, chunked, 411, "without a Content-Length")

    def test_a_request_for_another_host(self, console: Running) -> None:
        """DNS rebinding: a page of evil.example resolved to loopback is not served."""
        http = ConsoleHttp(console.console_url)
        reply = http.get("/signin", headers={"Host": "evil.example"})
        self.refused(console, reply, 421, "host 'evil.example'")

    def test_a_role_without_the_permission_is_denied_as_on_grpc(self, console: Running) -> None:
        http = person(console, "aud")
        reply = http.get("/warrants/new")
        assert reply.status == 403
        assert reply.error == "auditor 'aud' may not call Submit"
        entry = last_entry(console)
        assert (entry["event"], entry["rpc"], entry["principal"]) == ("api.denied", "Submit", "aud")


class TestForm:
    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"case_number": ""}, "case_number"),
            ({"authority": "Court\u202e"}, "authority"),
            ({"targets": "telephone:1"}, "targets"),
            ({"window_end": "2025-01-01T00:00"}, "window_end"),
            ({"window_start": "yesterday"}, "window_start"),
            ({"categories": ""}, "categories"),
            ({"expires_at": "2020-01-01T00:00"}, "expires_at"),
            ({"document_sha256": "abc"}, "document_sha256"),
            ({"case_number": "2026-\u0410B-1"}, "case_number"),  # Cyrillic А beside Latin B
        ],
    )
    def test_each_field_gets_the_apis_own_message(
        self, console: Running, clock: Clock, overrides: dict[str, str], field: str
    ) -> None:
        """The form's message for a bad field is the message gRPC gives the same spec, shown
        beside that field, on submission and while typing (the per-field check)."""
        http = person(console, "off")
        http.get("/warrants/new")
        form = warrant_form(clock, **overrides)
        reply = http.post("/warrants/new", form)
        assert reply.status == 400
        shown = re.search(rf'id="err-{field}"[^>]*><bdi>(.*?)</bdi>', reply.text)
        assert shown is not None, reply.text
        message = shown.group(1)
        checked = http.post(f"/warrants/check/{field}", form)
        assert f"<bdi>{message}</bdi>" in checked.text
        if field == "window_start":  # not a time at all: the wire cannot carry it
            assert "is not a time" in message
            return
        spec = make_spec(["account:u1"], ["message_content"], JAN1, FEB1, clock.now)
        spec.expires_at.CopyFrom(ts(clock.now + dt.timedelta(days=3)))
        apply_to_spec(spec, overrides)
        with console.client("off") as grpc_client, pytest.raises(ClientError) as caught:
            grpc_client.submit(spec)
        assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert html_escaped(caught.value.message) == message

    def test_the_form_comes_back_as_typed_and_escaped(self, console: Running, clock: Clock) -> None:
        """A refused form shows every value as the officer typed it, as text."""
        http = person(console, "off")
        http.get("/warrants/new")
        hostile = '"><script>alert(1)</script>'
        reply = http.post(
            "/warrants/new", warrant_form(clock, authority=hostile + "\u202e", legal_basis=hostile)
        )
        assert reply.status == 400
        assert "<script>alert(1)" not in reply.text
        assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\u202e"' in reply.text
        assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</textarea>" in reply.text
        assert "U+202E" in reply.text

    def test_a_target_naming_no_single_account_is_shown_at_the_targets(
        self, console: Running, clock: Clock
    ) -> None:
        http = person(console, "off")
        http.get("/warrants/new")
        reply = http.post("/warrants/new", warrant_form(clock, targets="email:shared@example.org"))
        assert reply.status == 400
        assert re.search(r'id="err-targets"[^>]*><bdi>spec.targets\[0\]: .*2 accounts', reply.text)

    def test_a_good_form_submits_and_the_warrant_is_the_apis(
        self, console: Running, clock: Clock
    ) -> None:
        http = person(console, "off")
        warrant_id = submitted(console, http, clock, targets="phone:+821011112222")
        with console.client("off") as grpc_client:
            warrant = grpc_client.get(warrant_id)
        assert warrant.target_accounts == ["u1"]
        assert list(warrant.spec.categories) == ["message_content", "memberships"]
        entry = last_entry(console)
        assert (entry["event"], entry["principal"], entry["warrant"]) == (
            "warrant.submitted",
            "off",
            warrant_id,
        )
        page = http.get(f"/warrants/{warrant_id}").text
        assert "submitted" in page and "2026-WEB-1" in page


def apply_to_spec(spec: Any, overrides: dict[str, str]) -> None:
    """The same bad value in a gRPC spec as in the form."""
    for name, value in overrides.items():
        if name == "targets":
            del spec.targets[:]
            spec.targets.append(value)
        elif name == "categories":
            del spec.categories[:]
            spec.categories.extend(c for c in value.split(",") if c)
        elif name in ("window_end", "window_start"):
            when = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M").replace(tzinfo=dt.UTC)
            getattr(spec.window, name.removeprefix("window_")).CopyFrom(ts(when))
        elif name == "expires_at":
            when = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M").replace(tzinfo=dt.UTC)
            spec.expires_at.CopyFrom(ts(when))
        else:
            setattr(spec, name, value)


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True).replace("&#x27;", "&#39;").replace("&quot;", "&#34;")


class TestLookup:
    def test_one_account_or_none_and_both_audited(self, console: Running) -> None:
        http = person(console, "off")
        found = http.post("/lookup", {"lookup": "email:target@example.org"}, headers=HTMX)
        assert "One account: <code><bdi>u1</bdi></code>" in found.text
        assert last_entry(console)["account"] == "u1"
        several = http.post("/lookup", {"lookup": "email:shared@example.org"}, headers=HTMX)
        assert "No single account matches" in several.text
        assert "u3" not in several.text and "u4" not in several.text and "2" not in several.text
        entry = last_entry(console)
        assert (entry["event"], entry["principal"], entry["account"]) == (
            "account.looked_up",
            "off",
            None,
        )

    def test_without_htmx_the_answer_is_a_whole_page(self, console: Running) -> None:
        reply = person(console, "off").post("/lookup", {"lookup": "account:u1"})
        assert reply.status == 200 and "<html" in reply.text and "One account" in reply.text

    def test_a_reviewer_may_not_look_up(self, console: Running) -> None:
        reply = person(console, "rev").post("/lookup", {"lookup": "account:u1"})
        assert reply.status == 403
        assert last_entry(console)["rpc"] == "LookupAccount"


HTMX = {"HX-Request": "true"}


class TestDecisions:
    def test_an_officer_cannot_approve_and_the_denial_is_audited(
        self, console: Running, clock: Clock
    ) -> None:
        off = person(console, "off")
        warrant_id = submitted(console, off, clock)
        reply = off.post(f"/warrants/{warrant_id}/approve", {"reason": "mine"})
        assert reply.status == 403
        entry = last_entry(console)
        assert (entry["event"], entry["rpc"], entry["warrant"]) == (
            "api.denied",
            "Approve",
            warrant_id,
        )

    def test_a_reviewer_approves_with_a_reason_and_rejecting_needs_one(
        self, console: Running, clock: Clock
    ) -> None:
        off, rev = person(console, "off"), person(console, "rev")
        first, second = submitted(console, off, clock), submitted(console, off, clock)
        queue = rev.get("/review").text
        assert first in queue and second in queue
        assert rev.post(f"/warrants/{first}/approve", {"reason": "in order"}).status == 303
        entry = last_entry(console)
        assert (entry["event"], entry["principal"], entry["reason"]) == (
            "warrant.approved",
            "rev",
            "in order",
        )
        reply = rev.post(f"/warrants/{second}/reject", {"reason": ""})
        assert reply.status == 400 and reply.error == "reason: say why the warrant is rejected"
        assert rev.post(f"/warrants/{second}/reject", {"reason": "too broad"}).status == 303
        assert first not in rev.get("/review").text


class TestDownload:
    def test_the_zip_is_the_evidence_package_and_bound_to_the_log(
        self, console: Running, clock: Clock, tmp_path: pathlib.Path
    ) -> None:
        """records.jsonl's sha256 is the audited release.completed digest, and the unpacked
        package passes the offline evidence check with the verifier key."""
        off, rev = person(console, "off"), person(console, "rev")
        warrant_id = submitted(console, off, clock)
        rev.post(f"/warrants/{warrant_id}/approve", {"reason": "ok"})
        off.get(f"/warrants/{warrant_id}")
        reply = off.post(f"/warrants/{warrant_id}/release")
        assert reply.status == 200, reply.error
        assert reply.headers["content-type"] == "application/zip"
        assert reply.headers["content-disposition"].startswith(
            f'attachment; filename="{warrant_id}'
        )
        assert int(reply.headers["x-wsg-candidates"]) > 0
        archive = zipfile.ZipFile(io.BytesIO(reply.body))
        assert archive.namelist() == ["records.jsonl", "manifest.json"]
        records = archive.read("records.jsonl")
        completed = [
            e
            for e in console.entries()
            if e["event"] == "release.completed" and e["warrant"] == warrant_id
        ]
        assert len(completed) == 1
        assert hashlib.sha256(records).hexdigest() == completed[0]["records_sha256"]
        assert completed[0]["released"] == len(records.splitlines()) > 0
        archive.extractall(tmp_path)
        key = NoteVerifier.from_key(console.gateway.reader.verifier_key)
        manifest = verify_package(tmp_path, [key])
        assert manifest["warrant"]["id"] == warrant_id
        assert manifest["audit_index"] == completed[0]["index"]
        page = off.get(f"/releases/{completed[0]['index']}").text
        assert "What left, and what was protected" in page
        assert completed[0]["records_sha256"] in page
        assert '<svg class="chart"' in page

    def test_a_release_page_is_shown_as_get_allows(self, console: Running, clock: Clock) -> None:
        """The page per release is the warrant's: another officer is refused, an auditor reads
        it, and an index that is no completed release is no page."""
        off, rev = person(console, "off"), person(console, "rev")
        warrant_id = submitted(console, off, clock)
        rev.post(f"/warrants/{warrant_id}/approve", {"reason": "ok"})
        off.get(f"/warrants/{warrant_id}")
        assert off.post(f"/warrants/{warrant_id}/release").status == 200
        index = next(
            e["index"]
            for e in console.entries()
            if e["event"] == "release.completed" and e["warrant"] == warrant_id
        )
        # As GetInclusionProof on gRPC: the entry is the warrant's, another officer may not
        # read it (refused by the audit reader, not the API policy: no api.denied entry).
        reply = person(console, "off2").get(f"/releases/{index}")
        assert reply.status == 403
        assert reply.error == f"'off2' may not read audit entry {index}"
        assert (
            "What left, and what was protected"
            in person(console, "aud").get(f"/releases/{index}").text
        )
        assert person(console, "aud").get(f"/releases/{index - 1}").status == 404

    def test_a_warrant_not_approved_releases_nothing(self, console: Running, clock: Clock) -> None:
        off = person(console, "off")
        warrant_id = submitted(console, off, clock)
        reply = off.post(f"/warrants/{warrant_id}/release")
        assert reply.status == 409
        assert reply.error == f"warrant {warrant_id} is SUBMITTED; nothing is released"
        assert last_entry(console)["event"] == "release.refused"

    def test_another_officers_warrant_is_not_released(self, console: Running, clock: Clock) -> None:
        warrant_id = submitted(console, person(console, "off"), clock)
        reply = person(console, "off2").post(f"/warrants/{warrant_id}/release")
        assert reply.status == 403
        assert last_entry(console)["event"] == "api.denied"


# -- the permission matrix ------------------------------------------------------------------

ROLE_PRINCIPAL = {role: name for name, role in reversed(PEOPLE.items())}


def matrix_cases() -> list[Any]:
    return [
        pytest.param(c, id=f"{c['role']}-{c['rpc']}-{c['relation']}")
        for c in CASES
        if c["rpc"] in CONSOLE_RPCS
    ]


def _console_call(http: ConsoleHttp, rpc: str, warrant_id: str, clock: Clock) -> Any:
    http.get("/")
    calls = {
        "Submit": lambda: http.post("/warrants/new", warrant_form(clock)),
        "List": lambda: http.get("/warrants"),
        "Get": lambda: http.get(f"/warrants/{warrant_id}"),
        "Approve": lambda: http.post(f"/warrants/{warrant_id}/approve", {"reason": "m"}),
        "Reject": lambda: http.post(f"/warrants/{warrant_id}/reject", {"reason": "m"}),
        "Revoke": lambda: http.post(f"/warrants/{warrant_id}/revoke", {"reason": "m"}),
        "Release": lambda: http.post(f"/warrants/{warrant_id}/release"),
        "LookupAccount": lambda: http.post("/lookup", {"lookup": "account:u1"}),
        "GetCheckpoint": lambda: http.get("/audit/checkpoint"),
        "GetInclusionProof": lambda: http.get("/audit/0"),
        "GetConsistencyProof": lambda: http.get("/audit/consistency.json?old=1"),
        "ListEntries": lambda: http.get("/audit"),
        "ListDue": lambda: http.get("/due"),
        "ExtendPreservation": lambda: http.post(f"/warrants/{warrant_id}/extend-hold"),
        "DeferNotice": lambda: http.post(f"/warrants/{warrant_id}/defer-notices"),
        "GetTransparencyReport": lambda: http.get("/audit/report?from=2026-01-01&to=2026-07-01"),
    }
    return calls[rpc]()


@pytest.mark.parametrize("case", matrix_cases())
def test_the_console_passes_the_api_policys_decision_cases(
    console: Running, clock: Clock, case: dict[str, Any]
) -> None:
    """Every case of policies/api_cases.yaml an edge of the console can reach, through the
    console: denied by the API policy exactly when the table says deny (403 and api.denied)."""
    me = ROLE_PRINCIPAL[case["role"]]
    owner = me if case["relation"] == "own" else "off2" if me != "off2" else "off"
    warrant_id = ""
    if case["relation"] != "none":
        # Straight into the book: a reviewer's "own" warrant (one they submitted while they
        # held another role) cannot be made through the API they now face.
        spec = make_spec(
            ["account:u1"], ["message_content"], JAN1, FEB1, clock.now + dt.timedelta(days=3)
        )
        warrant_id = console.gateway.book.submit(spec_from_pb(spec), owner).id
    http = person(console, me)
    before = console.gateway.audit.size
    reply = _console_call(http, case["rpc"], warrant_id, clock)
    entries = console.entries()[before:]
    denied = reply.status == 403 and any(e["event"] == "api.denied" for e in entries)
    assert denied is not case["allow"], (case, reply.status, reply.error)
    assert reply.status < 500, (case, reply.status, reply.error)  # allowed is not broken
    if denied:
        entry = next(e for e in entries if e["event"] == "api.denied")
        assert (entry["principal"], entry["rpc"]) == (me, case["rpc"])
        assert entry["warrant"] == (warrant_id or None)


def test_the_matrix_covers_every_rpc_the_console_reaches() -> None:
    assert {c["rpc"] for c in CASES} >= CONSOLE_RPCS


def test_an_entrys_page_shows_it_with_its_proof_to_those_who_may_read_it(
    console: Running, clock: Clock
) -> None:
    """Any index, not only the first: the entry's exact line and its inclusion proof for an
    auditor and for the officer whose warrant it is; another officer is refused."""
    submitted(console, person(console, "off2"), clock)  # an entry before it, whatever ran
    warrant_id = submitted(console, person(console, "off"), clock)
    index = next(
        i
        for i, e in enumerate(console.entries())
        if e["event"] == "warrant.submitted" and e["warrant"] == warrant_id
    )
    assert index > 0
    for name in ("aud", "off"):
        reply = person(console, name).get(f"/audit/{index}")
        assert reply.status == 200, (name, reply.status, reply.error)
        assert warrant_id in reply.text and "tree_size" in reply.text
    reply = person(console, "off2").get(f"/audit/{index}")
    assert reply.status == 403 and reply.error == f"'off2' may not read audit entry {index}"
    assert person(console, "aud").get(f"/audit/{console.gateway.audit.size + 5}").status == 400


def test_proofs_json_holds_only_entries_the_caller_may_read(console: Running) -> None:
    """An officer asking for every entry's proof gets those naming them or about warrants they
    submitted (gateway-wide entries are auditors' only); the rest are refused, not omitted."""
    off = person(console, "off")
    entries = console.entries()
    mine = {
        e["warrant"]
        for e in entries
        if e["event"] == "warrant.submitted" and e["principal"] == "off"
    }
    asked = range(min(len(entries), 100))
    data = json.loads(off.get("/audit/proofs.json?" + "&".join(f"index={i}" for i in asked)).body)
    readable = {p["index"] for p in data["proofs"]}
    for index in asked:
        entry = entries[index]
        expected = entry["event"] not in ("policy.loaded", "gateway.start_refused") and (
            entry.get("principal") == "off" or entry.get("warrant") in mine
        )
        assert (index in readable) is expected, entry
    assert {r["index"] for r in data["refused"]} == set(asked) - readable
    assert all("may not read" in r["why"] for r in data["refused"])


class TestServing:
    def test_development_mode_serves_the_console_on_loopback_only(
        self, tmp_path: pathlib.Path, clock: Clock
    ) -> None:
        factory = GatewayFactory(tmp_path, clock)
        with pytest.raises(InvalidArgument, match="loopback"):
            factory(ROWS, console="0.0.0.0:0")

    def test_a_console_port_in_use_stops_the_start_with_one_line(
        self, console: Running, tmp_path: pathlib.Path, clock: Clock
    ) -> None:
        taken = console.console_url.rsplit(":", 1)[1]
        factory = GatewayFactory(tmp_path, clock)
        with pytest.raises(InvalidArgument, match=f"console: cannot listen on 127.0.0.1:{taken}"):
            factory(ROWS, console=f"127.0.0.1:{taken}")


class TestTransparencyReport:
    def test_the_report_is_the_apis_and_its_download_verifies_as_wsg_report_does(
        self, console: Running, clock: Clock, tmp_path: pathlib.Path
    ) -> None:
        from gateway.reports import transparency

        submitted(console, person(console, "off"), clock)  # at least one request in the period
        http = person(console, "aud")
        asked = "?from=2026-01-01&to=2027-01-01&band=0"
        page = http.get("/audit/report" + asked)
        assert page.status == 200, page.error
        download = http.get("/audit/report.json" + asked)
        assert download.status == 200, download.error
        assert "attachment" in download.headers["content-disposition"]
        report = json.loads(download.text)
        with console.client("aud") as auditor:
            from_grpc = json.loads(
                auditor.transparency_report(
                    dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
                )
            )
        assert report == from_grpc
        total = report["total"]
        assert total["requests_received"] > 0
        row = re.search(r"<tr><th scope=\"row\">requests received</th>(.*?)</tr>", page.text)
        assert row is not None
        shown = re.findall(r"<td>(.*?)</td>", row.group(1))
        head = re.search(r'<table id="report-figures">.*?<thead>(.*?)</thead>', page.text, re.S)
        assert head is not None
        shown_columns = re.findall(r'<th scope="col">(.*?)</th>', head.group(1))[1:]
        columns = [c.replace(" ", "_") for c in shown_columns]
        sections = {**report["tiers"], "total": total}
        assert columns[-1] == "total" and set(columns) == set(sections)
        assert shown == [str(sections[c]["requests_received"]) for c in columns]
        # Recomputed from the log alone, as `wsg report verify` does.
        signed = console.gateway.reader.checkpoint()
        again = transparency.build(
            console.gateway.reader.leaves(signed.checkpoint.size),
            signed.note,
            signed.checkpoint,
            transparency.Period(
                dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
            ),
        )
        assert again == report

    @pytest.mark.parametrize(
        ("query", "says"),
        [
            ("?from=2026-01-01", "from and to: both are required"),
            ("?from=yesterday&to=2026-02-01", "from: 'yesterday' is not a time"),
            ("?from=2026-02-01&to=2026-01-01", "period_end:"),
            ("?from=2026-01-01&to=2026-02-01&band=-5", "band: '-5' is not a whole number"),
            ("?from=2026-01-01&to=2026-02-01&band=99999999", "band: at most"),
        ],
    )
    def test_a_bad_period_or_band_is_one_clear_error(
        self, console: Running, query: str, says: str
    ) -> None:
        reply = person(console, "aud").get("/audit/report" + query)
        problem = re.search(r'id="report-problem">(.*?)</p>', reply.text, re.S)
        assert reply.status == 400 and problem is not None, (reply.status, reply.text[-500:])
        assert says in html.unescape(problem.group(1)), problem.group(1)
        assert 'id="report-from"' in reply.text  # the form stays, to correct
        download = person(console, "aud").get("/audit/report.json" + query)
        assert download.status == 400 and says in download.error

    def test_an_officer_may_not_and_is_not_offered_it(self, console: Running) -> None:
        http = person(console, "off")
        assert "/audit/report" not in http.get("/").text
        assert http.get("/audit/report.json?from=2026-01-01&to=2026-02-01").status == 403
