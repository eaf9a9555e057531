"""deploy/: the container image, compose file and Kubernetes manifests parse and reference things
that exist: real `wsg` commands, the ports deploy/wsg.toml listens on, declared volumes, ConfigMap
and Secret keys, the data directory layout the gateway reads, and policy copies identical to
policies/.

Each check returns a list of problems, so that the negative tests below can show it catches a
broken copy (nothing here needs Docker, a cluster or the network).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from typing import Any

import click
import pytest
import yaml

from gateway.api.server import DRAIN_MARGIN, DRAIN_UNARY
from gateway.cli import main as wsg_main
from gateway.datadir import DataDir
from gateway.identity.pki import PkiPaths
from gateway.identity.roles import roles_file
from gateway.settings import Settings, load_settings

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
POLICY_FILES = ("model.conf", "policy.csv", "api_model.conf", "api_policy.csv", "instruments.yaml")
SECRET_TEMPLATE = "secret.template.yaml"
# What `wsg init --keys` makes and the gateway reads from its data directory (besides pki/ca.key,
# which stays with whoever issues certificates).
_D, _P = DataDir(pathlib.Path("")), PkiPaths(pathlib.Path(""))
DATA_LAYOUT = {
    str(p)
    for p in (
        _D.pseudonym_secret,
        _D.audit_signing_key,
        _P.ca_cert,
        _P.server_cert,
        _P.server_key,
        roles_file(pathlib.Path("")),
    )
}


# ---------------------------------------------------------------------------------------------
# What is checked: the files, parsed once; the negative tests change deep copies.


@dataclasses.dataclass
class Deploy:
    manifests: dict[str, list[dict[str, Any]]]  # file name in deploy/k8s -> its documents
    kustomization: dict[str, Any]
    toml_text: str
    dockerfile: str
    compose: dict[str, Any]
    readme: str

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [d for docs in self.manifests.values() for d in docs]

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.objects if d["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.kind(kind)
        assert len(found) == 1, f"expected one {kind}, found {len(found)}"
        return found[0]

    @property
    def toml(self) -> dict[str, Any]:
        return tomllib.loads(self.toml_text)

    @property
    def pod(self) -> dict[str, Any]:
        return self.one("Deployment")["spec"]["template"]


def load() -> Deploy:
    manifests = {}
    kustomization: dict[str, Any] = {}
    for path in sorted(K8S.glob("*.y*ml")):
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
        if path.name == "kustomization.yaml":
            (kustomization,) = docs
        else:
            manifests[path.name] = docs
    return Deploy(
        manifests,
        kustomization,
        (DEPLOY / "wsg.toml").read_text(encoding="utf-8"),
        (DEPLOY / "Dockerfile").read_text(encoding="utf-8"),
        yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8")),
        (DEPLOY / "README.md").read_text(encoding="utf-8"),
    )


@pytest.fixture
def d() -> Deploy:
    return load()


def port_of(host_port: str) -> int:
    return int(host_port.rpartition(":")[2])


def api_port(d: Deploy) -> int:
    return port_of(d.toml["listen"])


def health_port(d: Deploy) -> int:
    return port_of(d.toml["health_listen"])


def metrics_port(d: Deploy) -> int:
    return port_of(d.toml["metrics_listen"])


def pod_labels_match(selector: dict[str, Any], d: Deploy) -> bool:
    labels = d.pod["metadata"]["labels"]
    want = selector.get("matchLabels", {})
    return (
        bool(want)
        and all(labels.get(k) == v for k, v in want.items())
        and not selector.get("matchExpressions")
    )


# ---------------------------------------------------------------------------------------------
# wsg commands


def wsg_command_problems(argv: list[str]) -> list[str]:
    """`argv` must be `wsg` + a real (sub)command + options that command has."""
    shown = " ".join(argv)
    if not argv or argv[0] != "wsg":
        return [f"{shown!r} is not a wsg command"]
    command: click.Command = wsg_main
    path, args = ["wsg"], list(argv[1:])
    while isinstance(command, click.Group):
        if not args or args[0].startswith("-"):
            return [f"{shown!r}: {' '.join(path)} needs a subcommand"]
        name = args.pop(0)
        sub = command.commands.get(name)
        if sub is None:
            return [f"{shown!r}: {' '.join(path)} has no command {name!r}"]
        command, path = sub, [*path, name]
    try:
        command.make_context(" ".join(path), args)
    except click.ClickException as exc:
        return [f"{shown!r}: {exc.format_message()}"]
    return []


def test_wsg_command_check_catches_unknown_commands_and_options() -> None:
    assert wsg_command_problems(["wsg", "serve"]) == []
    assert wsg_command_problems(["wsg", "db", "upgrade"]) == []
    assert wsg_command_problems(["wsg", "health", "--server", "127.0.0.1:50052"]) == []
    assert wsg_command_problems(["wsg", "serv"])
    assert wsg_command_problems(["wsg", "db"])
    assert wsg_command_problems(["wsg", "db", "upgrad"])
    assert wsg_command_problems(["wsg", "health", "--srever", "x:1"])
    assert wsg_command_problems(["python", "-m", "gateway", "serve"])


# ---------------------------------------------------------------------------------------------
# The Dockerfile


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) with continuation lines joined and comments dropped."""
    out, buf = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        full = buf + line
        buf = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def final_stage(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The last stage's base image (ARGs resolved) and its instructions."""
    instructions = dockerfile_instructions(text)
    args = {}
    for word, rest in instructions:
        if word == "FROM":
            break
        if word == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name] = value
    starts = [i for i, (w, _) in enumerate(instructions) if w == "FROM"]
    base = instructions[starts[-1]][1].split()[0]
    base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), base)
    return base, instructions[starts[-1] + 1 :]


def image_facts(text: str) -> dict[str, Any]:
    base, stage = final_stage(text)
    facts: dict[str, Any] = {"base": base, "env": {}, "expose": set(), "user": None}
    for word, rest in stage:
        if word == "ENV":
            for token in shlex.split(rest):
                if "=" in token:
                    key, _, value = token.partition("=")
                    facts["env"][key] = value
        elif word == "EXPOSE":
            facts["expose"] |= {int(p.split("/")[0]) for p in rest.split()}
        elif word in ("ENTRYPOINT", "CMD"):
            facts[word.lower()] = json.loads(rest)
        elif word == "HEALTHCHECK":
            facts["healthcheck"] = (
                json.loads(rest.split(" CMD ", 1)[1]) if " CMD " in rest else rest
            )
        elif word == "USER":
            facts["user"] = rest
        elif word == "WORKDIR":
            facts["workdir"] = rest
    return facts


def dockerfile_problems(d: Deploy) -> list[str]:
    problems = []
    facts = image_facts(d.dockerfile)
    if not facts["base"].startswith("python:3.11-slim"):
        problems.append(f"final stage is {facts['base']}, not python:3.11-slim")
    if len(re.findall(r"^FROM ", d.dockerfile, re.M)) < 2:
        problems.append("not a multi-stage build")
    argv = [*facts.get("entrypoint", []), *facts.get("cmd", [])]
    if argv != ["wsg", "serve"]:
        problems.append(f"ENTRYPOINT + CMD is {argv}, not wsg serve")
    problems += wsg_command_problems(argv)
    health = facts.get("healthcheck")
    if not isinstance(health, list):
        problems.append("no HEALTHCHECK CMD [...]")
    else:
        problems += wsg_command_problems(health)
        if health[:2] != ["wsg", "health"]:
            problems.append(f"HEALTHCHECK runs {health}, not wsg health")
        elif port_of(health[health.index("--server") + 1]) != health_port(d):
            problems.append("HEALTHCHECK asks another port than health_listen")
    if facts["expose"] != {api_port(d), health_port(d), metrics_port(d)}:
        problems.append(
            f"EXPOSE {sorted(facts['expose'])} is not the listen, health and metrics ports"
        )
    user = (facts["user"] or "0").split(":")[0]
    if not user.isdigit() or int(user) == 0:
        problems.append(f"USER {facts['user']!r} is not a numeric non-root user")
    if facts["env"].get("WSG_CONFIG") != "/etc/wsg/wsg.toml":
        problems.append("ENV WSG_CONFIG is not /etc/wsg/wsg.toml")
    if facts.get("workdir") != d.toml["data"]:
        problems.append(f"WORKDIR {facts.get('workdir')} is not the data directory")
    for word, rest in dockerfile_instructions(d.dockerfile):
        if word == "COPY" and "--from" not in rest:
            *sources, _dest = shlex.split(rest)
            for src in sources:
                if not (ROOT / src).exists():
                    problems.append(f"COPY {src}: no such file in the build context")
                elif not dockerignore_allows(src):
                    problems.append(f"COPY {src}: excluded by .dockerignore")
    return problems


def dockerignore_allows(path: str) -> bool:
    """Enough of .dockerignore's rules for ours: later lines win, `!` re-includes."""
    allowed = True
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        clean = path.rstrip("/")
        if pattern == "*" or clean == pattern or clean.startswith(pattern + "/"):
            allowed = negate
    return allowed


def test_dockerfile(d: Deploy) -> None:
    assert dockerfile_problems(d) == []
    facts = image_facts(d.dockerfile)
    # The Deployment runs as the image's user.
    assert str(d.pod["spec"]["securityContext"]["runAsUser"]) == facts["user"].split(":")[0]


def test_dockerignore_keeps_secrets_out() -> None:
    assert not dockerignore_allows("deploy/secrets")
    assert not dockerignore_allows(".venv")
    assert not dockerignore_allows("wsg-data")
    assert dockerignore_allows("gateway/")
    assert "deploy/secrets/" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.parametrize(
    "old, new",
    [
        ('"--server", "127.0.0.1:50052"', '"--server", "127.0.0.1:50051"'),
        ('CMD ["wsg", "health"', 'CMD ["wsg", "healthz"'),
        ('CMD ["serve"]', 'CMD ["serv"]'),
        ("EXPOSE 50051 50052 50053", "EXPOSE 50051 50053"),
        ("USER 10001:10001", "USER root"),
        ("COPY deploy/wsg.toml", "COPY deploy/wsg.yaml"),
    ],
)
def test_dockerfile_check_catches(d: Deploy, old: str, new: str) -> None:
    assert old in d.dockerfile
    d.dockerfile = d.dockerfile.replace(old, new)
    assert dockerfile_problems(d)


def test_image_wheel_has_the_migrations(tmp_path: pathlib.Path) -> None:
    """The builder stage copies only these into the build; the wheel it makes must carry the
    PostgreSQL migrations (package data) and the wsg entry point."""
    pytest.importorskip("setuptools", reason="builds the wheel offline with the venv's setuptools")
    builder = dockerfile_instructions((DEPLOY / "Dockerfile").read_text())
    first_stage_end = [i for i, (w, _) in enumerate(builder) if w == "FROM"][1]
    sources = {
        s
        for word, rest in builder[:first_stage_end]
        if word == "COPY"
        for s in shlex.split(rest)[:-1]
    }
    assert {"pyproject.toml", "gateway/", "policies/"} <= sources
    src = tmp_path / "src"
    src.mkdir()
    for s in sorted(sources):
        (shutil.copytree if (ROOT / s).is_dir() else shutil.copy)(
            ROOT / s,
            src / s,
            **({"ignore": shutil.ignore_patterns("__pycache__")} if (ROOT / s).is_dir() else {}),
        )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(tmp_path / "wheels"),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = (tmp_path / "wheels").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    schema = ROOT / "gateway" / "db" / "schema"
    migrations = sorted(str(p.relative_to(ROOT)) for p in schema.glob("*/*.sql"))
    assert len(migrations) >= 4  # PostgreSQL, and the two SQLite databases
    for name in migrations:
        assert name in names
    # the policies, found from any directory once installed (gateway/policies)
    for policy in sorted((ROOT / "policies").iterdir()):
        assert f"gateway/policies/{policy.name}" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "wsg = gateway.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


# ---------------------------------------------------------------------------------------------
# deploy/wsg.toml


def test_wsg_toml_is_real_settings(d: Deploy, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("WSG_"):
            monkeypatch.delenv(name)
    keys = set(d.toml)
    assert keys <= set(Settings.model_fields) - {"clock"}, keys - set(Settings.model_fields)
    assert "database" not in keys  # from a Secret, never in a file
    assert {"listen", "health_listen", "data", "policy_dir", "origin"} <= keys
    # policy_dir is checked to exist: in the test, the repository's copy stands in for the mount.
    settings = load_settings(DEPLOY / "wsg.toml", policy_dir=ROOT / "policies")
    assert settings.listen == "0.0.0.0:50051" and settings.health_listen == "0.0.0.0:50052"
    assert not settings.insecure and api_port(d) != health_port(d)
    # With WSG_DATABASE as the containers set it, it validates too.
    monkeypatch.setenv("WSG_DATABASE", "postgresql://wsg:pw@postgres:5432/wsg")
    assert load_settings(DEPLOY / "wsg.toml", policy_dir=ROOT / "policies").uses_postgres


def test_wsg_toml_check_catches_unknown_keys(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "wsg.toml"
    bad.write_text((DEPLOY / "wsg.toml").read_text() + "health_port = 50052\n")
    with pytest.raises(ValueError, match="health_port"):
        load_settings(bad, policy_dir=ROOT / "policies")


# ---------------------------------------------------------------------------------------------
# Kubernetes


def manifest_problems(d: Deploy) -> list[str]:
    problems = []
    for name, docs in d.manifests.items():
        for doc in docs:
            if not {"apiVersion", "kind", "metadata"} <= set(doc) or "name" not in doc["metadata"]:
                problems.append(f"{name}: a document without apiVersion, kind or metadata.name")
            elif "namespace" in doc["metadata"]:
                problems.append(f"{name}: {doc['kind']} names a namespace")
    listed = d.kustomization.get("resources", [])
    for res in listed:
        if res not in d.manifests:
            problems.append(f"kustomization lists {res}, which does not exist")
    for name in d.manifests:
        if name not in listed and name != SECRET_TEMPLATE:
            problems.append(f"kustomization does not list {name}")
    if SECRET_TEMPLATE in listed:
        problems.append("the Secret template is applied by kustomize (it would replace real keys)")
    return problems


def containers(d: Deploy) -> list[dict[str, Any]]:
    spec = d.pod["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def main_container(d: Deploy) -> dict[str, Any]:
    (c,) = [c for c in d.pod["spec"]["containers"] if c["name"] == "wsg"]
    return c


def install_targets(script: str) -> dict[str, str]:
    """`install -m MODE SRC... DEST` lines of a shell script -> {destination file: source}."""
    out = {}
    for line in script.splitlines():
        words = shlex.split(line)
        if words[:1] == ["install"] and "-d" not in words:
            args = [
                w
                for i, w in enumerate(words[1:], 1)
                if not w.startswith("-") and words[i - 1] not in ("-m", "-o", "-g")
            ]
            *sources, dest = args
            for src in sources:
                out[dest + pathlib.PurePath(src).name if dest.endswith("/") else dest] = src
    return out


def data_dir(d: Deploy) -> str:
    """The gateway container's data directory: WSG_DATA if its env sets it, else the toml's."""
    env = {e["name"]: e.get("value") for e in main_container(d).get("env", [])}
    return str(env.get("WSG_DATA") or d.toml["data"])


def _mounted(path: str, mounts: dict[str, str]) -> bool:
    """Whether `path` is a mount point or inside one."""
    return any(path == m or path.startswith(m + "/") for m in mounts)


def command_problems(d: Deploy) -> list[str]:
    """Every container runs a real wsg command; a shell step copies the Secret's files to exactly
    the data directory layout the gateway reads."""
    problems = []
    image = image_facts(d.dockerfile)
    mounts_of = {
        c["name"]: {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        for c in containers(d)
    }
    volumes = {v["name"]: v for v in d.pod["spec"].get("volumes", [])}
    copied: set[str] = set()
    for c in containers(d):
        argv = [
            *c.get("command", image.get("entrypoint", [])),
            *c.get("args", [] if "command" in c else image.get("cmd", [])),
        ]
        if argv[:2] == ["sh", "-ec"] or argv[:2] == ["sh", "-c"]:
            for dest, src in install_targets(argv[2]).items():
                mount = next((m for m in mounts_of[c["name"]] if src.startswith(m + "/")), None)
                if mount is None:
                    problems.append(f"{c['name']}: {src} is not in a mounted volume")
                    continue
                secret = volumes[mounts_of[c["name"]][mount]].get("secret", {})
                paths = {i["path"] for i in secret.get("items", [])}
                if src[len(mount) + 1 :] not in paths:
                    problems.append(f"{c['name']}: {src} is not an item of the mounted volume")
                data = data_dir(d)
                if dest.startswith(data + "/") and _mounted(data, mounts_of[c["name"]]):
                    copied.add(dest[len(data) + 1 :])
                else:
                    problems.append(f"{c['name']}: copies to {dest}, outside the data directory")
        else:
            problems += [f"{c['name']}: {p}" for p in wsg_command_problems(argv)]
    if copied != DATA_LAYOUT:
        problems.append(
            f"the data directory gets {sorted(copied)}, the gateway reads {sorted(DATA_LAYOUT)}"
        )
    main = main_container(d)
    if [*main.get("command", []), *main.get("args", [])] != ["wsg", "serve"]:
        problems.append("the gateway container does not run wsg serve")
    if not _mounted(data_dir(d), mounts_of["wsg"]):
        problems.append("the gateway container does not mount the data directory")
    elif "emptyDir" in volumes.get(mounts_of["wsg"].get(data_dir(d), ""), {}):
        # kubelet makes an emptyDir's root 0777 and root's: the gateway refuses it.
        problems.append("the data directory is an emptyDir's root, not a 0700 directory in it")
    return problems


def port_problems(d: Deploy) -> list[str]:
    problems = []
    main = main_container(d)
    ports = {p.get("name"): p["containerPort"] for p in main.get("ports", [])}
    if set(ports.values()) != {api_port(d), health_port(d), metrics_port(d)}:
        problems.append(
            f"container ports {ports} are not listen {api_port(d)}, health_listen "
            f"{health_port(d)} and metrics_listen {metrics_port(d)}"
        )
    grace = d.pod["spec"].get("terminationGracePeriodSeconds", 30)
    if grace < d.toml.get("drain_seconds", 20.0) + DRAIN_MARGIN + DRAIN_UNARY:
        problems.append(
            f"terminationGracePeriodSeconds {grace} leaves no time for drain_seconds "
            f"{d.toml.get('drain_seconds')} and the shutdown after it: releases would be killed"
        )
    annotations = d.pod["metadata"].get("annotations", {})
    if annotations.get("prometheus.io/port") != str(metrics_port(d)):
        problems.append("the pod does not tell Prometheus its metrics port")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        spec = main.get(probe)
        if spec is None:
            if probe != "startupProbe":
                problems.append(f"no {probe}")
            continue
        if "grpc" not in spec or spec["grpc"].get("port") != health_port(d):
            problems.append(f"{probe} is not a gRPC probe on the health port {health_port(d)}")
    services = d.kind("Service")
    if not services:
        problems.append("no Service")
    for svc in services:
        if not pod_labels_match({"matchLabels": svc["spec"].get("selector", {})}, d):
            problems.append(f"Service {svc['metadata']['name']} does not select the gateway pods")
        for p in svc["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            target = ports.get(target, target) if isinstance(target, str) else target
            if target != api_port(d):
                problems.append(f"Service port {p['port']} goes to {target}, not the API port")
    return problems


def reference_problems(d: Deploy) -> list[str]:
    """volumeMounts name volumes; configMaps, Secrets and their keys exist in the manifests."""
    problems = []
    spec = d.pod["spec"]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    data_of = {
        (o["kind"], o["metadata"]["name"]): {**o.get("data", {}), **o.get("stringData", {})}
        for o in d.objects
        if o["kind"] in ("ConfigMap", "Secret")
    }

    def need(kind: str, name: str, keys: list[str], where: str) -> None:
        if (kind, name) not in data_of:
            problems.append(f"{where}: no {kind} {name!r} in the manifests")
            return
        problems.extend(
            f"{where}: {kind} {name!r} has no key {k!r}"
            for k in keys
            if k not in data_of[(kind, name)]
        )

    used = set()
    for c in containers(d):
        for m in c.get("volumeMounts", []):
            used.add(m["name"])
            if m["name"] not in volumes:
                problems.append(f"{c['name']}: mounts undeclared volume {m['name']!r}")
        for e in c.get("env", []):
            ref = e.get("valueFrom", {})
            if "secretKeyRef" in ref:
                need(
                    "Secret",
                    ref["secretKeyRef"]["name"],
                    [ref["secretKeyRef"]["key"]],
                    f"{c['name']} env {e['name']}",
                )
            if "configMapKeyRef" in ref:
                need(
                    "ConfigMap",
                    ref["configMapKeyRef"]["name"],
                    [ref["configMapKeyRef"]["key"]],
                    f"{c['name']} env {e['name']}",
                )
    for name, v in volumes.items():
        if name not in used:
            problems.append(f"volume {name!r} is mounted nowhere")
        if "configMap" in v:
            need(
                "ConfigMap",
                v["configMap"]["name"],
                [i["key"] for i in v["configMap"].get("items", [])],
                f"volume {name}",
            )
        if "secret" in v:
            need(
                "Secret",
                v["secret"]["secretName"],
                [i["key"] for i in v["secret"].get("items", [])],
                f"volume {name}",
            )
            if v["secret"].get("defaultMode") != 0o400:
                problems.append(f"volume {name}: Secret defaultMode is not 0400")
            if any(i["key"].endswith("ca.key") for i in v["secret"].get("items", [])):
                problems.append(f"volume {name}: the CA's private key does not belong in pods")
    return problems


def config_mount_problems(d: Deploy) -> list[str]:
    """WSG_CONFIG and policy_dir land where the ConfigMap's items are mounted."""
    problems = []
    main = main_container(d)
    env = {e["name"]: e.get("value") for e in main.get("env", [])}
    config_path = env.get("WSG_CONFIG") or image_facts(d.dockerfile)["env"].get("WSG_CONFIG")
    volumes = {v["name"]: v for v in d.pod["spec"]["volumes"]}
    files = {}
    for m in main.get("volumeMounts", []):
        cm = volumes.get(m["name"], {}).get("configMap")
        if cm:
            for item in cm.get("items", []):
                files[f"{m['mountPath']}/{item['path']}"] = item["key"]
    if files.get(config_path) != "wsg.toml":
        problems.append(f"WSG_CONFIG {config_path} is not the ConfigMap's wsg.toml")
    for name in POLICY_FILES:
        if files.get(f"{d.toml['policy_dir']}/{name}") != name:
            problems.append(f"{d.toml['policy_dir']}/{name} is not mounted from the ConfigMap")
    return problems


def configmap_copy_problems(d: Deploy) -> list[str]:
    problems = []
    originals = {
        "wsg.toml": DEPLOY / "wsg.toml",
        **{n: ROOT / "policies" / n for n in POLICY_FILES},
    }
    for cm in d.kind("ConfigMap"):
        for key, path in originals.items():
            if cm.get("data", {}).get(key, "").encode() != path.read_bytes():
                problems.append(
                    f"ConfigMap {cm['metadata']['name']} {key} differs from "
                    f"{path.relative_to(ROOT)}: run scripts/gen_k8s_configmap.py"
                )
    return problems


def security_problems(d: Deploy) -> list[str]:
    problems = []
    deployment = d.one("Deployment")
    if deployment["spec"].get("replicas", 1) < 2:
        problems.append("fewer than two replicas")
    pod_sc = d.pod["spec"].get("securityContext", {})
    if pod_sc.get("runAsNonRoot") is not True or pod_sc.get("runAsUser", 0) == 0:
        problems.append("the pod may run as root")
    for c in containers(d):
        sc = c.get("securityContext", {})
        if (
            sc.get("readOnlyRootFilesystem") is not True
            or sc.get("allowPrivilegeEscalation") is not False
        ):
            problems.append(f"{c['name']}: writable root filesystem or privilege escalation")
        if not c.get("resources", {}).get("requests"):
            problems.append(f"{c['name']}: no resource requests")
    if not pod_labels_match(deployment["spec"]["selector"], d):
        problems.append("the Deployment's selector does not match its pod labels")
    return problems


def pdb_problems(d: Deploy) -> list[str]:
    problems = []
    pdbs = d.kind("PodDisruptionBudget")
    if len(pdbs) != 1:
        return ["not one PodDisruptionBudget"]
    spec = pdbs[0]["spec"]
    if not pod_labels_match(spec.get("selector", {}), d):
        problems.append("the PodDisruptionBudget does not select the gateway pods")
    if spec.get("minAvailable") != 1:
        problems.append("PodDisruptionBudget minAvailable is not 1")
    return problems


def network_policy_problems(d: Deploy) -> list[str]:
    problems = []
    policies = d.kind("NetworkPolicy")
    if len(policies) != 1:
        return ["not one NetworkPolicy"]
    spec = policies[0]["spec"]
    if not pod_labels_match(spec.get("podSelector", {}), d):
        problems.append("the NetworkPolicy does not select the gateway pods")
    if "Ingress" not in spec.get("policyTypes", []):
        problems.append("the NetworkPolicy does not restrict ingress")
    rules = spec.get("ingress", [])
    if not rules:
        problems.append("the NetworkPolicy allows no port (the API would be unreachable)")
    for rule in rules:
        ports = rule.get("ports")
        if not ports:
            problems.append("an ingress rule without ports allows every port")
            continue
        for p in ports:
            allowed = (p.get("protocol", "TCP"), p.get("port"), p.get("endPort"))
            if allowed == ("TCP", metrics_port(d), None):
                if not rule.get("from"):
                    problems.append("the metrics port is open to every pod, not to monitoring")
                continue
            if allowed != ("TCP", api_port(d), None):
                problems.append(
                    f"the NetworkPolicy allows {p}, not only TCP {api_port(d)} "
                    f"(and {metrics_port(d)} from monitoring)"
                )
    return problems


def secret_problems(d: Deploy) -> list[str]:
    """The template holds placeholders only, and the README's command makes the same keys."""
    problems = []
    for secret in d.kind("Secret"):
        if secret.get("data"):
            problems.append(
                f"Secret {secret['metadata']['name']}: real (base64) data in a template"
            )
        for key, value in secret.get("stringData", {}).items():
            if not str(value).startswith("PLACEHOLDER") or "BEGIN" in str(value):
                problems.append(f"Secret {secret['metadata']['name']} {key}: not a placeholder")
    keys = next((s for s in d.kind("Secret") if s["metadata"]["name"] == "wsg-keys"), {})
    template_keys = set(keys.get("stringData", {}))
    readme_keys = set(re.findall(r"--from-file=([\w.-]+)=", d.readme))
    if not template_keys or readme_keys != template_keys:
        problems.append(
            f"deploy/README.md makes keys {sorted(readme_keys)}, the template has "
            f"{sorted(template_keys)}"
        )
    return problems


K8S_CHECKS = (
    manifest_problems,
    command_problems,
    port_problems,
    reference_problems,
    config_mount_problems,
    configmap_copy_problems,
    security_problems,
    pdb_problems,
    network_policy_problems,
    secret_problems,
)


@pytest.mark.parametrize("check", K8S_CHECKS, ids=lambda c: c.__name__)
def test_k8s(d: Deploy, check: Any) -> None:
    assert check(d) == []


def test_kustomize_builds() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed")
    proc = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(proc.stdout))
    assert kinds == ["ConfigMap", "Deployment", "NetworkPolicy", "PodDisruptionBudget", "Service"]


def _container(d: Deploy, name: str) -> dict[str, Any]:
    return next(c for c in containers(d) if c["name"] == name)


def _mutate_secret_items(d: Deploy) -> None:
    vol = next(v for v in d.pod["spec"]["volumes"] if "secret" in v)
    vol["secret"]["items"] = [i for i in vol["secret"]["items"] if i["key"] != "server.key"]


BREAKS = {
    "unknown command": lambda d: main_container(d).update(args=["serv"]),
    "unknown option": lambda d: main_container(d).update(args=["serve", "--no-such-flag"]),
    "bad init subcommand": lambda d: _container(d, "migrate").update(args=["db", "upgrad"]),
    "probe on the API port": lambda d: main_container(d)["readinessProbe"]["grpc"].update(
        port=50051
    ),
    "http liveness probe": lambda d: main_container(d).update(
        livenessProbe={"httpGet": {"port": 50052, "path": "/"}}
    ),
    "container port": lambda d: main_container(d)["ports"][0].update(containerPort=8080),
    "service targetPort": lambda d: d.one("Service")["spec"]["ports"][0].update(
        targetPort="health"
    ),
    "service selector": lambda d: d.one("Service")["spec"].update(selector={"app": "other"}),
    "mount typo": lambda d: main_container(d)["volumeMounts"][0].update(name="dta"),
    "configmap name": lambda d: next(v for v in d.pod["spec"]["volumes"] if "configMap" in v)[
        "configMap"
    ].update(name="wsg-cfg"),
    "configmap key": lambda d: d.one("ConfigMap")["data"].pop("api_policy.csv"),
    "secret env ref": lambda d: main_container(d)["env"][1]["valueFrom"]["secretKeyRef"].update(
        key="uri"
    ),
    "secret mode": lambda d: next(v for v in d.pod["spec"]["volumes"] if "secret" in v)[
        "secret"
    ].update(defaultMode=0o644),
    "secret item missing": _mutate_secret_items,
    "keys copied elsewhere": lambda d: _container(d, "keys").update(
        command=[
            *_container(d, "keys")["command"][:2],
            _container(d, "keys")["command"][2].replace(
                "/var/lib/wsg/data/keys/", "/var/lib/wsg/data/"
            ),
        ]
    ),
    "policy drift": lambda d: d.one("ConfigMap")["data"].update(
        {"policy.csv": d.one("ConfigMap")["data"]["policy.csv"] + "p, x\n"}
    ),
    "config elsewhere": lambda d: main_container(d)["env"][0].update(value="/etc/wsg/config.toml"),
    "one replica": lambda d: d.one("Deployment")["spec"].update(replicas=1),
    "data dir is the volume root": lambda d: main_container(d).update(
        env=[e for e in main_container(d)["env"] if e["name"] != "WSG_DATA"]
    ),
    "root": lambda d: d.pod["spec"]["securityContext"].update(runAsNonRoot=False),
    "pdb selector": lambda d: d.one("PodDisruptionBudget")["spec"]["selector"][
        "matchLabels"
    ].update({"app.kubernetes.io/name": "other"}),
    "netpol health port": lambda d: d.one("NetworkPolicy")["spec"]["ingress"][0]["ports"].append(
        {"protocol": "TCP", "port": 50052}
    ),
    "netpol all ports": lambda d: d.one("NetworkPolicy")["spec"]["ingress"][0].pop("ports"),
    "netpol metrics to all": lambda d: d.one("NetworkPolicy")["spec"]["ingress"][1].pop("from"),
    "grace below drain": lambda d: d.pod["spec"].update(terminationGracePeriodSeconds=10),
    "no scrape port": lambda d: d.pod["metadata"]["annotations"].pop("prometheus.io/port"),
    "real key in template": lambda d: d.kind("Secret")[0]["stringData"].update(
        {"server.key": "-----BEGIN PRIVATE KEY-----"}
    ),
    "unlisted manifest": lambda d: d.kustomization["resources"].remove("pdb.yaml"),
    "template applied": lambda d: d.kustomization["resources"].append(SECRET_TEMPLATE),
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_k8s_checks_catch(d: Deploy, name: str) -> None:
    broken = copy.deepcopy(d)
    BREAKS[name](broken)
    assert any(check(broken) for check in K8S_CHECKS), name


# ---------------------------------------------------------------------------------------------
# compose


def gateway_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        n: s
        for n, s in compose.get("services", {}).items()
        if str(s.get("build", {}).get("dockerfile", "")).endswith("Dockerfile")
        or str(s.get("image", "")).startswith("wsg")
    }


def compose_problems(d: Deploy) -> list[str]:
    problems = []
    compose = d.compose
    services = compose.get("services", {})
    gateways = gateway_services(compose)
    if len(gateways) < 2:
        problems.append(f"{len(gateways)} gateway replica(s), not two")
    pg = services.get("postgres", {})
    if not str(pg.get("image", "")).startswith("postgres:15") or "healthcheck" not in pg:
        problems.append("no postgres:15 service with a healthcheck")
    for vol in pg.get("volumes", []):
        source = vol.split(":")[0]
        if not source.startswith((".", "/")) and source not in (compose.get("volumes") or {}):
            problems.append(f"postgres: named volume {source} is not declared")
    host_ports: list[str] = []
    image = image_facts(d.dockerfile)
    for name, svc in gateways.items():
        build = svc.get("build", {})
        if build:
            context = (DEPLOY / build.get("context", ".")).resolve()
            if not (context / build["dockerfile"]).is_file():
                problems.append(f"{name}: no Dockerfile {build['dockerfile']} in {context}")
        env = svc.get("environment", {})
        url = env.get("WSG_DATABASE", "")
        host = re.sub(r"^postgres(ql)?://([^@/]*@)?", "", url).split(":")[0].split("/")[0]
        if not url.startswith("postgresql://") or host not in services:
            problems.append(f"{name}: WSG_DATABASE does not point at a compose service")
        depends = svc.get("depends_on", {})
        if (
            not isinstance(depends, dict)
            or depends.get("postgres", {}).get("condition") != "service_healthy"
        ):
            problems.append(f"{name}: does not wait for postgres to be healthy")
        targets = {}
        for vol in svc.get("volumes", []):
            source, target, *mode = vol.split(":")
            targets[target] = (source, mode)
            src = (DEPLOY / source).resolve()
            if src.is_relative_to((DEPLOY / "secrets").resolve()):
                if "ca.key" in source or "clients" in source or src == DEPLOY / "secrets":
                    problems.append(f"{name}: mounts {source}: the CA or client keys")
                continue  # made by `wsg init --keys` (deploy/README.md), never committed
            if not src.exists():
                problems.append(f"{name}: mounts {source}, which does not exist")
            if mode != ["ro"]:
                problems.append(f"{name}: {source} is not mounted read-only")
        config = targets.get(image["env"]["WSG_CONFIG"])
        if not config or (DEPLOY / config[0]).resolve() != (DEPLOY / "wsg.toml").resolve():
            problems.append(f"{name}: deploy/wsg.toml is not mounted at WSG_CONFIG")
        policies = targets.get(d.toml["policy_dir"])
        if not policies or not all((DEPLOY / policies[0] / f).is_file() for f in POLICY_FILES):
            problems.append(f"{name}: the policies are not mounted at policy_dir")
        data = d.toml["data"]
        needed = {f"{data}/keys", f"{data}/pki/ca.crt", f"{data}/pki/server.crt"}
        needed |= {f"{data}/pki/server.key", f"{data}/roles.json"}
        if not needed <= set(targets):
            problems.append(f"{name}: no keys and PKI mounted in the data directory")
        if not any(str(t).split(":")[0] == data for t in svc.get("tmpfs", [])):
            problems.append(f"{name}: the data directory is not a writable tmpfs")
        container_ports = set()
        for p in svc.get("ports", []):
            *host_part, container = str(p).split(":")
            container_ports.add(int(container))
            host_ports.append(":".join(host_part))
        if container_ports != {api_port(d), health_port(d), metrics_port(d)}:
            problems.append(
                f"{name}: publishes {sorted(container_ports)}, "
                "not the API, health and metrics ports"
            )
    if len(host_ports) != len(set(host_ports)):
        problems.append("two replicas publish the same host port")
    return problems


def test_compose(d: Deploy) -> None:
    assert compose_problems(d) == []


@pytest.mark.parametrize(
    "name",
    [
        "one replica",
        "same host port",
        "missing file",
        "no wait",
        "writable policies",
        "CA key mounted",
        "all secrets mounted",
    ],
)
def test_compose_check_catches(d: Deploy, name: str) -> None:
    broken = copy.deepcopy(d)
    services = broken.compose["services"]
    if name == "one replica":
        del services["wsg-2"]
    elif name == "same host port":
        services["wsg-2"]["ports"] = services["wsg-1"]["ports"]
    elif name == "missing file":
        services["wsg-1"]["volumes"] = [
            v.replace("wsg.toml:", "wsg.yaml:") for v in services["wsg-1"]["volumes"]
        ]
    elif name == "no wait":
        services["wsg-2"]["depends_on"] = ["postgres"]
    elif name == "CA key mounted":
        services["wsg-1"]["volumes"].append("./secrets/pki/ca.key:/var/lib/wsg/pki/ca.key:ro")
    elif name == "all secrets mounted":
        services["wsg-1"]["volumes"].append("./secrets:/var/lib/wsg")
    elif name == "writable policies":
        services["wsg-1"]["volumes"] = [
            v.removesuffix(":ro") if "policies" in v else v for v in services["wsg-1"]["volumes"]
        ]
    assert compose_problems(broken)


def test_every_yaml_parses() -> None:
    files = sorted(DEPLOY.rglob("*.y*ml"))
    assert len(files) >= 7
    for path in files:
        docs = [
            doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None
        ]
        assert docs and all(isinstance(doc, dict) for doc in docs), path


def test_generated_configmap_is_current() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_k8s_configmap
    finally:
        sys.path.pop(0)
    assert gen_k8s_configmap.render() == (K8S / "configmap.yaml").read_text(encoding="utf-8")
