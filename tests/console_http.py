"""A small HTTP client for the console's tests: keeps the session cookie (a Secure cookie over
loopback HTTP, as browsers allow for 127.0.0.1), reads each page's CSRF token, posts forms with
the console's own Origin, and speaks HTTPS with a client certificate when given one."""

from __future__ import annotations

import dataclasses
import html
import http.client
import re
import ssl
import urllib.parse
from collections.abc import Iterable, Mapping

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
ERROR = re.compile(r'id="error-message"[^>]*><bdi>(.*?)</bdi>', re.S)


@dataclasses.dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def error(self) -> str:
        """The message of an error page ("" if none)."""
        found = ERROR.search(self.text)
        return html.unescape(found.group(1)) if found else ""


class ConsoleHttp:
    def __init__(self, base: str, tls: ssl.SSLContext | None = None) -> None:
        self.base = base
        self._url = urllib.parse.urlsplit(base)
        self._tls = tls
        self.cookie: str | None = None
        self.csrf: str | None = None

    def _connection(self) -> http.client.HTTPConnection:
        host, port = self._url.hostname or "", self._url.port
        if self._url.scheme == "https":
            return http.client.HTTPSConnection(host, port, context=self._tls, timeout=30)
        return http.client.HTTPConnection(host, port, timeout=30)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if self.cookie:
            sent.setdefault("Cookie", self.cookie)
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            reply = Reply(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
        finally:
            conn.close()
        cookie = reply.headers.get("set-cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        token = CSRF.search(reply.text) if b"csrf" in reply.body else None
        if token:
            self.csrf = html.unescape(token.group(1))
        return reply

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        return self.request("GET", path, headers=headers)

    def post(
        self,
        path: str,
        fields: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        csrf: bool = True,
        origin: str | None = "",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A form post; the session's CSRF token and the console's Origin unless told not to
        (origin=None sends none, another string sends that one)."""
        items = list(fields.items() if isinstance(fields, Mapping) else fields)
        if csrf:
            if self.csrf is None:
                self.get("/")
            items.append(("csrf", self.csrf or ""))
        sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        if origin is not None:
            sent["Origin"] = origin or self.base
        return self.request("POST", path, urllib.parse.urlencode(items).encode(), sent)

    def post_raw(self, path: str, body: bytes) -> Reply:
        """A form post of exactly `body` (then the session's token), bytes no browser sends."""
        if self.csrf is None:
            self.get("/")
        body += b"&" + urllib.parse.urlencode({"csrf": self.csrf or ""}).encode()
        sent = {"Content-Type": "application/x-www-form-urlencoded", "Origin": self.base}
        return self.request("POST", path, body, sent)

    @classmethod
    def signed_in(cls, base: str, principal: str) -> ConsoleHttp:
        """A new session, signed in as `principal` (development mode's sign-in page)."""
        http = cls(base)
        http.sign_in(principal)
        return http

    def sign_in(self, principal: str) -> Reply:
        self.get("/signin")
        reply = self.post("/signin", {"principal": principal})
        assert reply.status == 303, (reply.status, reply.error)
        self.get("/")  # the token rotates at sign-in: take the new one
        return reply
