"""A real Matrix Synapse homeserver for tests: started from its own venv on a loopback port.

Synapse lives in `.venv-synapse` (`make synapse`, which `make test` depends on), never in the
gateway's venv: its many dependencies must not move ours. The homeserver gets a generated
config in a temporary directory (SQLite or a fresh PostgreSQL database, a registration shared
secret, a client listener only: no federation, rate limits off, registration closed) and is
driven over its real HTTP APIs: users through the shared-secret admin API, rooms, messages,
redactions and leaves through the client-server API.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import pathlib
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SYNAPSE_PYTHON = pathlib.Path(
    os.environ.get("WSG_SYNAPSE_PYTHON", ROOT / ".venv-synapse" / "bin" / "python")
)
SERVER_NAME = "localhost"
_NO_LIMIT = {"per_second": 100000, "burst_count": 100000}


def require_synapse() -> None:
    """Skip (fail in CI, where `make test` builds it) when Synapse's venv is missing."""
    if SYNAPSE_PYTHON.exists():
        return
    message = f"Synapse is not installed at {SYNAPSE_PYTHON}: run `make synapse`"
    if os.environ.get("WSG_REQUIRE_SYNAPSE"):
        pytest.fail(message + " (WSG_REQUIRE_SYNAPSE is set)")
    pytest.skip(message)


class Homeservers:
    """One homeserver per database dialect ("sqlite", "postgresql") for a whole test session,
    started on first use: starting Synapse costs seconds, so test modules share it, each telling
    its own story with users and rooms of its own (distinct localparts)."""

    def __init__(self, root: pathlib.Path) -> None:
        self._root = root
        self._servers: dict[str, Synapse] = {}

    def get(self, dialect: str) -> Synapse:
        require_synapse()  # before a server is kept: a later test must skip too, not find it
        if dialect not in self._servers:
            pg_dsn = postgres_database() if dialect == "postgresql" else None
            server = Synapse(self._root / dialect, pg_dsn)
            self._servers[dialect] = server  # stopped (and its database dropped) even if a
            server.start()  # start fails halfway
        return self._servers[dialect]

    def stop_all(self) -> None:
        for server in self._servers.values():
            server.stop()
            if server.pg_dsn is not None:
                import pg

                pg.admin(f"DROP DATABASE IF EXISTS {server.pg_dsn['database']} WITH (FORCE)")
        self._servers.clear()


def postgres_database() -> dict[str, Any]:
    """A fresh database on the test PostgreSQL, as Synapse requires it (collation C)."""
    import pg
    import psycopg

    pg.require()
    name = "wsg_synapse_" + secrets.token_hex(4)
    # Synapse refuses a database whose collation is not C (its own set-up instructions).
    pg.admin(
        f"CREATE DATABASE {name} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
    )
    info = psycopg.conninfo.conninfo_to_dict(pg.SERVER)
    return {
        "user": info.get("user", "postgres"),
        "host": info.get("host", "127.0.0.1"),
        "port": int(info.get("port", 5432)),
        "database": name,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class ApiError(Exception):
    pass


class Synapse:
    """One homeserver process: on SQLite, or on PostgreSQL when `pg_dsn` (user, host, port,
    database) is given."""

    def __init__(self, root: pathlib.Path, pg_dsn: dict[str, Any] | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.secret = secrets.token_hex(16)
        self.config = root / "homeserver.yaml"
        self.sqlite_path = root / "homeserver.db"
        self.pg_dsn = pg_dsn
        self.log = root / "synapse.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._txn = itertools.count()

    @property
    def store_url(self) -> str:
        """The gateway's `--store` for this homeserver's database."""
        if self.pg_dsn is None:
            return f"synapse:sqlite://{self.sqlite_path}"
        d = self.pg_dsn
        return f"synapse:postgresql://{d['user']}@{d['host']}:{d['port']}/{d['database']}"

    def _write_config(self) -> None:
        if self.pg_dsn is None:
            database = {"name": "sqlite3", "args": {"database": str(self.sqlite_path)}}
        else:
            database = {"name": "psycopg2", "args": dict(self.pg_dsn, cp_min=1, cp_max=5)}
        config = {
            "server_name": SERVER_NAME,
            "pid_file": str(self.root / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": database,
            "media_store_path": str(self.root / "media"),
            "signing_key_path": str(self.root / "signing.key"),
            "registration_shared_secret": self.secret,
            "macaroon_secret_key": secrets.token_hex(16),
            "form_secret": secrets.token_hex(16),
            "report_stats": False,
            "enable_registration": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            "rc_message": _NO_LIMIT,
            "rc_registration": _NO_LIMIT,
            "rc_admin_redaction": _NO_LIMIT,
            "rc_login": dict.fromkeys(("address", "account", "failed_attempts"), _NO_LIMIT),
            "rc_joins": dict.fromkeys(("local", "remote"), _NO_LIMIT),
            "rc_invites": dict.fromkeys(("per_room", "per_user", "per_issuer"), _NO_LIMIT),
        }
        self.config.write_text(json.dumps(config, indent=1))  # JSON is YAML

    def _synapse(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(SYNAPSE_PYTHON), "-m", *args],
            cwd=self.root,
            capture_output=True,
            timeout=120,
            check=False,
            **kw,
        )

    def start(self, timeout: float = 90.0) -> Synapse:
        require_synapse()
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_config()
        done = self._synapse("synapse.app.homeserver", "-c", str(self.config), "--generate-keys")
        if done.returncode:
            raise RuntimeError(f"synapse --generate-keys failed: {done.stderr.decode()[-2000:]}")
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [str(SYNAPSE_PYTHON), "-m", "synapse.app.homeserver", "-c", str(self.config)],
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"synapse exited ({self._process.returncode}): {self.log.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=2) as r:
                    if r.read() == b"OK":
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"synapse did not answer in {timeout} s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)

    # --- HTTP ------------------------------------------------------------------------------

    def call(
        self, method: str, path: str, token: str | None = None, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise ApiError(f"{method} {path}: {e.code} {e.read()[:500]!r}") from None

    def register(self, localpart: str, admin: bool = False) -> User:
        """A user made through the shared-secret admin API (registration itself is closed)."""
        nonce = self.call("GET", "/_synapse/admin/v1/register")["nonce"]
        password = secrets.token_hex(8)
        mac = hmac.new(self.secret.encode(), digestmod=hashlib.sha1)
        mac.update(
            b"\x00".join(
                [
                    nonce.encode(),
                    localpart.encode(),
                    password.encode(),
                    b"admin" if admin else b"notadmin",
                ]
            )
        )
        done = self.call(
            "POST",
            "/_synapse/admin/v1/register",
            body={
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        return User(self, done["user_id"], done["access_token"])

    def export_data(self, user_id: str, out: pathlib.Path) -> pathlib.Path:
        """Synapse's own user-data export (`admin_cmd export-data`), what the gateway replaces."""
        done = self._synapse(
            "synapse.app.admin_cmd",
            "-c",
            str(self.config),
            "export-data",
            user_id,
            "--output-directory",
            str(out),
        )
        if done.returncode:
            raise RuntimeError(f"export-data failed: {done.stderr.decode()[-3000:]}")
        return out


class User:
    """A logged-in user acting through the client-server API."""

    def __init__(self, server: Synapse, user_id: str, token: str) -> None:
        self.server, self.user_id, self.token = server, user_id, token

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.server.call(method, "/_matrix/client/v3" + path, self.token, body)

    def _txn(self) -> str:
        return f"t{next(self.server._txn)}"

    def create_room(
        self, name: str | None, invite: tuple[User, ...] | list[User] = (), direct: bool = False
    ) -> str:
        body: dict[str, Any] = {"preset": "private_chat", "invite": [u.user_id for u in invite]}
        if name:
            body["name"] = name
        if direct:
            body["is_direct"] = True
        return self._call("POST", "/createRoom", body)["room_id"]

    def join(self, room: str) -> None:
        self._call("POST", f"/join/{urllib.parse.quote(room)}", {})

    def leave(self, room: str) -> None:
        self._call("POST", f"/rooms/{urllib.parse.quote(room)}/leave", {})

    def send(self, room: str, body: str) -> str:
        return self._call(
            "PUT",
            f"/rooms/{urllib.parse.quote(room)}/send/m.room.message/{self._txn()}",
            {"msgtype": "m.text", "body": body},
        )["event_id"]

    def send_content(self, room: str, content: dict[str, Any]) -> str:
        """An m.room.message with the given content (a reply, a formatted body, a file)."""
        return self._call(
            "PUT",
            f"/rooms/{urllib.parse.quote(room)}/send/m.room.message/{self._txn()}",
            content,
        )["event_id"]

    def send_encrypted(self, room: str) -> str:
        """An m.room.encrypted event as a Megolm client sends it (opaque to the server)."""
        content = {
            "algorithm": "m.megolm.v1.aes-sha2",
            "ciphertext": "AwgAEnB0ZXN0",
            "device_id": "DEV",
            "sender_key": "c2VuZGVy",
            "session_id": "c2Vzc2lvbg",
        }
        return self._call(
            "PUT", f"/rooms/{urllib.parse.quote(room)}/send/m.room.encrypted/{self._txn()}", content
        )["event_id"]

    def redact(self, room: str, event_id: str) -> str:
        return self._call(
            "PUT",
            f"/rooms/{urllib.parse.quote(room)}/redact/"
            f"{urllib.parse.quote(event_id)}/{self._txn()}",
            {"reason": "regret"},
        )["event_id"]

    def event_ts(self, room: str, event_id: str) -> int:
        """The origin_server_ts Synapse stamped on an event (ms since the epoch)."""
        return self._call(
            "GET", f"/rooms/{urllib.parse.quote(room)}/event/{urllib.parse.quote(event_id)}"
        )["origin_server_ts"]

    def set_direct(self, rooms: dict[User, list[str]]) -> None:
        """The m.direct account data a client keeps: who each direct room is with."""
        self._call(
            "PUT",
            f"/user/{urllib.parse.quote(self.user_id)}/account_data/m.direct",
            {u.user_id: r for u, r in rooms.items()},
        )

    def set_displayname(self, name: str) -> None:
        self._call(
            "PUT", f"/profile/{urllib.parse.quote(self.user_id)}/displayname", {"displayname": name}
        )

    def admin_set_threepids(self, user: User, threepids: list[dict[str, str]]) -> None:
        self.server.call(
            "PUT",
            f"/_synapse/admin/v2/users/{urllib.parse.quote(user.user_id)}",
            self.token,
            {"threepids": threepids},
        )
