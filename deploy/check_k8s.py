"""Validate the Kubernetes manifests under deploy/k8s without a cluster (``make deploy-check``).

For every ``kustomization.yaml``: each file it lists under ``resources`` is validated with
``kubernetes-validate --strict`` (unknown fields are errors) against the oldest Kubernetes we
support and the newest schemas the package ships; a manifest in the directory that the
kustomization does not list is an error too, so no file escapes the check. Where ``kubectl``
is installed (it is not a project dependency), each kustomization is also rendered with
``kubectl kustomize`` and the result validated the same way; without it, that step is
skipped and says so. What the manifests say (commands, settings, ports) is checked by
tests/unit/test_deploy.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

K8S = Path(__file__).resolve().parent / "k8s"
OLDEST_SUPPORTED = "1.29.0"  # autoscaling/v2, policy/v1 and batch/v1 TTL are all GA by then
VALIDATE = Path(sys.executable).parent / "kubernetes-validate"


def listed_files(kustomization: Path) -> tuple[list[Path], list[str]]:
    """The manifest files ``kustomization`` lists, and the problems found with its listing."""
    spec = yaml.safe_load(kustomization.read_text()) or {}
    folder = kustomization.parent
    files: list[Path] = []
    problems: list[str] = []
    for entry in spec.get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            if not (path / "kustomization.yaml").is_file():
                problems.append(f"{kustomization}: {entry} has no kustomization.yaml")
        elif path.is_file():
            files.append(path)
        else:
            problems.append(f"{kustomization}: {entry} does not exist")
    present = {p.resolve() for p in folder.glob("*.yaml") if p.name != "kustomization.yaml"}
    for stray in sorted(present - set(files)):
        problems.append(f"{kustomization}: {stray.name} is not listed under resources")
    return files, problems


def validate(paths: list[Path], label: str) -> bool:
    ok = True
    for version in (OLDEST_SUPPORTED, None):
        args = [str(VALIDATE), "--strict", "--quiet"]
        args += ["--kubernetes-version", version] if version else []
        result = subprocess.run([*args, *map(str, paths)], check=False)
        print(
            f"kubernetes-validate {label}: {len(paths)} file(s), "
            f"Kubernetes {version or 'latest'}: {'ok' if result.returncode == 0 else 'FAILED'}"
        )
        ok = ok and result.returncode == 0
    return ok


def main() -> int:
    kustomizations = sorted(K8S.rglob("kustomization.yaml"))
    if not kustomizations:
        print(f"no kustomization.yaml under {K8S}", file=sys.stderr)
        return 1
    ok = True
    kubectl = shutil.which("kubectl")
    for kustomization in kustomizations:
        folder = kustomization.parent
        name = folder.relative_to(K8S.parent.parent)
        files, problems = listed_files(kustomization)
        for problem in problems:
            print(problem, file=sys.stderr)
        ok = ok and not problems
        if files:
            ok = validate(files, f"{name} (listed files)") and ok
        if kubectl is None:
            print(f"kubectl not found: {name} not rendered (its listed files were validated)")
            continue
        rendered = subprocess.run(
            [kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=False
        )
        if rendered.returncode != 0:
            print(f"kubectl kustomize {name} failed:\n{rendered.stderr}", file=sys.stderr)
            ok = False
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="intentcast-k8s-") as out:
            out.write(rendered.stdout)
            out.flush()
            ok = validate([Path(out.name)], f"{name} (rendered by kubectl kustomize)") and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
