"""Pages for compliance officers: sign-in (development), requests, the form, look-ups, downloads.

Each handler asks the API guard exactly what the matching RPC asks (Submit, List, Get,
LookupAccount, Release, Revoke) before it acts, with the request's principal, so the console
and gRPC give one person the same answers, and every denial is the same `api.denied` entry.
"""

from __future__ import annotations

import secrets

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from gateway.audit.reader import EntryFilter
from gateway.console.download import first_step, zip_stream
from gateway.console.forms import WarrantForm, check_all, check_field, field_of
from gateway.console.pages import Pages, deadline
from gateway.console.process import hold_of, notices_of
from gateway.console.web import Visit, posted
from gateway.errors import InvalidArgument, NotFound
from gateway.model import WarrantState


class OfficerPages:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.book = pages.services.book
        self.guard = pages.services.guard

    # -- home and development sign-in ------------------------------------------------------

    def home(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        if visit.principal is None:
            return RedirectResponse("/signin", status_code=303)
        return self.pages.render(visit, "home.html")

    def signin_page(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        if not self.pages.services.insecure:
            raise NotFound("sign-in is by client certificate; there is no sign-in page")
        principals = sorted(self.pages.services.roles().items())
        return self.pages.render(visit, "signin.html", principals=principals)

    def signin(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        if not self.pages.services.insecure:
            raise NotFound("sign-in is by client certificate; there is no sign-in page")
        name = str(posted(form).get("principal") or "")
        if name not in self.pages.services.roles():
            raise InvalidArgument(f"principal: {name[:64]!r} is not in roles.json")
        # A new token with the new principal: a token seen before sign-in is worth nothing.
        visit.session.clear()
        visit.session.update(principal=name, csrf=secrets.token_urlsafe(32))
        visit.save_session = True
        return RedirectResponse("/", status_code=303)

    def signout(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        visit.session.clear()
        visit.session.update(csrf=secrets.token_urlsafe(32))
        visit.save_session = True
        return RedirectResponse("/signin" if self.pages.services.insecure else "/", 303)

    # -- requests ---------------------------------------------------------------------------

    def list(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        principal = visit.require_principal()
        self.guard.require(principal, "List")
        state_name = request.query_params.get("state", "")
        state = WarrantState(state_name) if state_name in WarrantState.__members__ else None
        now = self.book.now()
        warrants = self.guard.visible(principal, self.book.list(state, 500))
        rows = [(w, w.live_state(now).value, deadline(w, now)) for w in warrants]
        return self.pages.render(
            visit,
            "warrants/list.html",
            rows=rows,
            state=state_name if state else "",
            states=[s.value for s in WarrantState],
        )

    def detail(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        principal = visit.require_principal()
        warrant = self.pages.warrant_for(principal, "Get", request.path_params["id"])
        reader = self.pages.services.reader
        history = []
        # A request's notices (no RPC lists them) are shown on its page (Get) to those who may
        # read the log (its owner reads their entries; auditors, everything) or defer them.
        may_read_log = self.pages.may(visit, "ListEntries")
        if may_read_log:
            history = list(reader.entries(principal, EntryFilter(warrant=warrant.id)))
        releases = [h for h in history if h[2].get("event") == "release.completed"]
        may_defer = self.pages.may(visit, "DeferNotice", warrant.submitted_by)
        participation = None  # shown where the instrument requires it or steps exist
        if self.pages.may(visit, "ListParticipation", warrant.submitted_by):
            status = self.book.participation.status(warrant)
            participation = status if status.required or status.steps else None
        now = self.book.now()
        state = warrant.live_state(now)
        return self.pages.render(
            visit,
            "warrants/detail.html",
            hold=hold_of(self.book, warrant),
            notices=notices_of(self.book, warrant, state) if may_read_log or may_defer else None,
            may_defer=may_defer,
            hold_days=self.book.catalogue.preservation.days,
            may_extend=self.pages.may(visit, "ExtendPreservation", warrant.submitted_by),
            warrant=warrant,
            state=state.value,
            deadline=deadline(warrant, now),
            history=history,
            releases=releases,
            participation=participation,
            may_release=self.pages.may(visit, "Release", warrant.submitted_by),
            may_revoke=self.pages.may(visit, "Revoke", warrant.submitted_by),
            may_decide=self.pages.may(visit, "Approve", warrant.submitted_by),
            own=warrant.submitted_by == principal,
        )

    # -- the form ---------------------------------------------------------------------------

    def new(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        self.guard.require(visit.require_principal(), "Submit")
        return self._form_page(visit, WarrantForm.empty(), {})

    def _form_page(
        self, visit: Visit, warrant_form: WarrantForm, errors: dict[str, str], status: int = 200
    ) -> Response:
        return self.pages.render(
            visit,
            "warrants/new.html",
            status=status,
            form=warrant_form,
            errors=errors,
            may_lookup=self.pages.may(visit, "LookupAccount"),
        )

    def submit(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        principal = visit.require_principal()
        self.guard.require(principal, "Submit")
        warrant_form = WarrantForm.from_post(posted(form))
        errors = check_all(self.book, warrant_form)
        if not errors:
            try:
                warrant = self.book.submit(warrant_form.spec(), principal)
            except InvalidArgument as exc:  # e.g. a target that names no single account
                errors = {field_of(exc.message) or "form": exc.message}
            else:
                return RedirectResponse(f"/warrants/{warrant.id}", status_code=303)
        return self._form_page(visit, warrant_form, errors, status=400)

    def check(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        """One field's message, for htmx to show beside the field while the officer types."""
        self.guard.require(visit.require_principal(), "Submit")
        field = request.path_params["field"]
        warrant_form = WarrantForm.from_post(posted(form))
        message = check_field(self.book, warrant_form, field)
        return self.pages.fragment(visit, "warrants/_error.html", field=field, message=message)

    def lookup(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        principal = visit.require_principal()
        self.guard.require(principal, "LookupAccount")
        asked = str(posted(form).get("lookup") or "")
        try:
            account, message = self.book.lookup(asked, principal), ""
        except InvalidArgument as exc:
            account, message = None, exc.message
        # A plain form post (no htmx) gets a whole page around the answer.
        whole = request.headers.get("hx-request") != "true"
        show = self.pages.render if whole else self.pages.fragment
        template = "warrants/lookup.html" if whole else "warrants/_lookup.html"
        return show(visit, template, asked=asked, account=account, message=message)

    # -- releases ---------------------------------------------------------------------------

    def release(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        principal = visit.require_principal()
        warrant = self.pages.warrant_for(principal, "Release", request.path_params["id"])
        run = self.pages.services.release_run(warrant, principal, 0)
        candidates = first_step(run)
        stamp = self.book.now().strftime("%Y%m%dT%H%M%SZ")
        return StreamingResponse(
            zip_stream(warrant, self.book.now(), run),
            media_type="application/zip",
            headers={
                "content-disposition": f'attachment; filename="{warrant.id}-{stamp}.zip"',
                "x-wsg-candidates": str(candidates),
            },
        )

    def revoke(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        principal = visit.require_principal()
        warrant = self.pages.warrant_for(principal, "Revoke", request.path_params["id"])
        reason = str(posted(form).get("reason") or "")
        if not reason.strip():
            raise InvalidArgument("reason: say why the warrant is revoked")
        self.book.revoke(warrant.id, principal, reason)
        return RedirectResponse(f"/warrants/{warrant.id}", status_code=303)
