"""The gateway's configuration in one place: a typed, validated settings object.

Sources, highest first: command-line flags (passed as keyword arguments), environment variables
(`WSG_` + the field name in capitals, e.g. WSG_DATABASE, WSG_LISTEN), a TOML config file
(`wsg serve --config FILE` or WSG_CONFIG), and the defaults below. Everything is checked when the
gateway starts; a bad value stops it with one line per problem naming the setting and its
source, never a traceback (`SettingsError`).

`clock` is not a setting (tests move time with it) and is never read from a file or the
environment.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import os
import pathlib
import tomllib
from collections.abc import Callable
from typing import Annotated, Any

import phonenumbers
import pydantic
import pydantic_settings
from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_LISTEN = "127.0.0.1:50051"
# The policies shipped in the package (in a checkout, gateway/policies links to policies/), so
# an installed wsg finds them from any directory.
DEFAULT_POLICY_DIR = pathlib.Path(__file__).resolve().parent / "policies"
DEFAULT_ORIGIN = "wsg.local/audit"
ENV_PREFIX = "WSG_"
CONFIG_ENV = "WSG_CONFIG"

_config_file: contextvars.ContextVar[pathlib.Path | None] = contextvars.ContextVar(
    "wsg_config_file", default=None
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SettingsError(ValueError):
    """Configuration that cannot be used; the message names every bad setting."""


class Settings(BaseSettings):
    """Every knob of `wsg serve`. Field names are the config-file keys; WSG_<NAME> in the
    environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, arbitrary_types_allowed=True
    )

    # Where state lives. Without `database`, everything is SQLite files in `data`; with a
    # postgresql:// URL the warrants, audit log, checkpoints, policy rules and reference store
    # are in PostgreSQL and `data` keeps only keys, certificates and roles.
    data: pathlib.Path = Field(
        default=pathlib.Path("wsg-data"), description="keys, pki, roles.json; on SQLite all state"
    )
    database: str | None = Field(default=None, description="postgresql://user@host:port/db")
    pool_size: int = Field(
        default=10, ge=1, le=200, description="PostgreSQL connections per replica"
    )
    # Where the records come from: unset = the reference store (in `database`, else
    # DATA/store.db). Other stores are named by a URL (gateway.stores.open_store).
    store: str | None = Field(
        default=None, description="KIND:URL of a store connector (`wsg serve --help` lists them)"
    )

    # Serving.
    listen: str = Field(default=DEFAULT_LISTEN, description="the API (mutual TLS unless insecure)")
    health_listen: str | None = Field(
        default=None,
        description="HOST:PORT of a plaintext port serving only grpc.health.v1 "
        "(for load balancers and Kubernetes probes)",
    )
    metrics_listen: str | None = Field(
        default=None,
        description="HOST:PORT of a plain HTTP port serving Prometheus metrics at /metrics "
        "(not the health port: that one speaks gRPC)",
    )
    insecure: bool = Field(default=False, description="development mode: no TLS, loopback only")
    console: str | None = Field(
        default=None,
        description="HOST:PORT of the web console (HTTPS with client certificates; "
        "plain HTTP and a sign-in page in insecure mode, loopback only)",
    )
    max_workers: int = Field(default=16, ge=1, le=512, description="gRPC handler threads")
    max_message_bytes: int = Field(default=1 << 20, ge=4096, description="largest request")
    max_concurrent_rpcs: int = Field(default=64, ge=1, description="beyond: RESOURCE_EXHAUSTED")
    drain_seconds: float = Field(
        default=20.0,
        ge=0,
        description="on SIGTERM: how long releases in flight may go on before they are stopped "
        "between batches (keep it below the orchestrator's termination grace period)",
    )
    max_releases: int = Field(
        default=8,
        ge=1,
        description="releases streaming at once on this gateway; beyond: RESOURCE_EXHAUSTED "
        "(at most max_workers - 4: threads stay free for warrant, audit and policy calls)",
    )
    max_releases_per_principal: int = Field(
        default=2, ge=1, description="releases one principal may stream at once"
    )
    notice_sweep_seconds: float = Field(
        default=60.0,
        ge=0,
        description="how often the gateway looks for user notices that have become due and "
        "queues them (docs/notices.md); 0: never in the background, only when notices are "
        "listed",
    )
    release_unread_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how long a release may wait for its client to read the next message "
        "before its call is cut (audited) and its thread freed",
    )
    max_call_seconds: float = Field(
        default=3600.0,
        ge=0,
        description=("longest release; stopped between batches (0: at the first check)"),
    )

    # Policy: the Casbin models (and, on SQLite, the rules) live here; on PostgreSQL the rules
    # are seeded from here once and then read from the policy table.
    policy_dir: pathlib.Path = Field(
        default=DEFAULT_POLICY_DIR, description="Casbin models and rule files"
    )
    policy_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        description=("how often a replica re-reads the policy version, besides LISTEN/NOTIFY"),
    )

    # Warrants.
    max_targets: int = Field(default=20, ge=1, le=1000, description="targets per warrant")
    max_window_days: int = Field(default=3660, ge=1, description="longest warrant window")

    # The text minimizer: where phone numbers written without a country code are read from.
    phone_regions: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("KR", "US"),
        description="regions (ISO 3166 codes) national phone numbers in released text are "
        "read as, in order (env: KR,US)",
    )

    # Audit log checkpoints.
    origin: str = Field(
        default=DEFAULT_ORIGIN, description="checkpoint origin, fixed at first start"
    )
    witness: str | None = Field(default=None, description="export checkpoints to DIR or - (stdout)")
    export_every_entries: int = Field(default=1000, ge=1, description="export after N new entries")
    export_every_seconds: float = Field(default=60.0, gt=0, description="...or T seconds")
    auditors: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(), description="principals who read every audit entry (env: a,b)"
    )

    clock: Callable[[], dt.datetime] = Field(default=utcnow, exclude=True)

    @field_validator("database")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (leave it unset for the embedded SQLite)")
        return value

    @field_validator("listen", "health_listen", "metrics_listen", "console")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"{value!r} is not HOST:PORT")
        return value

    @field_validator("policy_dir")
    @classmethod
    def _policy_dir(cls, value: pathlib.Path) -> pathlib.Path:
        if not value.is_dir():
            raise ValueError(f"{value} is not a directory")
        return value

    @field_validator("phone_regions", mode="before")
    @classmethod
    def _regions(cls, value: Any) -> Any:
        if isinstance(value, str):  # WSG_PHONE_REGIONS=KR,US
            value = [v for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)):
            regions = tuple(str(v).strip().upper() for v in value)
            unknown = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
            if unknown:
                raise ValueError(f"not a region libphonenumber knows: {', '.join(unknown)}")
            if not regions:
                raise ValueError("name at least one region")
            return regions
        return value

    @field_validator("auditors", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, str):  # WSG_AUDITORS=a,b
            return frozenset(v.strip() for v in value.split(",") if v.strip())
        return value

    @property
    def uses_postgres(self) -> bool:
        return self.database is not None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def describe_settings() -> str:
    """One line per setting (config key, environment variable, default), for `wsg serve --help`."""
    lines = []
    for name, field in Settings.model_fields.items():
        if field.exclude:
            continue
        default = field.default
        shown = (
            "unset"
            if default is None
            else (
                ",".join(sorted(default)) or "none" if isinstance(default, frozenset) else default
            )
        )
        if isinstance(default, pathlib.Path) and default.is_absolute():
            shown = default.name + "/ (the package's)"
        lines.append(
            f"{name} [{ENV_PREFIX}{name.upper()}] default {shown}"
            + (f": {field.description}" if field.description else "")
        )
    return "\n".join(lines)


def load_settings(config_file: pathlib.Path | str | None = None, **flags: Any) -> Settings:
    """Settings from flags (None = not given), the environment and the config file (the
    argument, else WSG_CONFIG), or SettingsError naming each bad value and where it came from."""
    path = config_file or os.environ.get(CONFIG_ENV) or None
    if path is not None:
        path = pathlib.Path(path)
        if not path.is_file():
            raise SettingsError(f"config file {path} does not exist")
        try:
            tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    given = {k: v for k, v in flags.items() if v is not None}
    token = _config_file.set(path)
    try:
        return Settings(**given)
    except pydantic.ValidationError as exc:
        raise SettingsError(_describe(exc, given, path)) from None
    except pydantic_settings.SettingsError as exc:  # a value no source could even parse
        raise SettingsError(f"invalid configuration: {exc}") from None
    finally:
        _config_file.reset(token)


def _describe(
    exc: pydantic.ValidationError, given: dict[str, Any], path: pathlib.Path | None
) -> str:
    problems = []
    for error in exc.errors():
        name = ".".join(str(p) for p in error["loc"]) or "settings"
        top = str(error["loc"][0]) if error["loc"] else ""
        if top in given:
            source = "flag"
        elif ENV_PREFIX + top.upper() in os.environ:
            source = f"env {ENV_PREFIX}{top.upper()}"
        elif path is not None:
            source = f"config {path}"
        else:
            source = "default"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        problems.append(f"{name} ({source}): {message}")
    return "invalid configuration: " + "; ".join(problems)
