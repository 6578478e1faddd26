"""Access to the local stack's containers, for the checks that need it.

Everything goes through the docker CLI, found by compose labels, so the suite
needs nothing but ``docker`` on the PATH. When the suite runs against another
environment (``--base-url`` not the local edge), ``access()`` says why these
checks are skipped instead."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from urllib.parse import urlsplit

DOCKER_TIMEOUT = 60


def docker(
    *args: str, timeout: float = DOCKER_TIMEOUT, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess:
    """One docker CLI call; a failure raises with the command and its stderr."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, input=stdin)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`docker {' '.join(args)}` exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return proc


@dataclass
class LocalStack:
    """The running compose project: containers by service, exec, logs."""

    project: str
    edge_container: str

    def container_ids(self, service: str | None = None, all_states: bool = False) -> list[str]:
        args = ["ps", "-q", "--no-trunc", "--filter", f"label=com.docker.compose.project={self.project}"]
        if service:
            args += ["--filter", f"label=com.docker.compose.service={service}"]
        if all_states:
            args.insert(1, "-a")
        return docker(*args).stdout.split()

    def inspect(self, container: str) -> dict:
        return json.loads(docker("inspect", container).stdout)[0]

    def containers(self, service: str | None = None) -> list[dict]:
        """`docker inspect` of every running container (of one service)."""
        ids = self.container_ids(service)
        if not ids:
            return []
        return json.loads(docker("inspect", *ids).stdout)

    def network(self, short: str) -> str:
        """A compose network's full name (``public`` -> ``huskit_public``)."""
        return f"{self.project}_{short}"

    def exec(self, container: str, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
        return docker("exec", container, *argv, timeout=timeout, check=False)

    def last_log_lines(self, lines: int = 15) -> str:
        """The last lines of every container of the stack, one block each."""
        out = []
        for c in self.containers():
            name = c["Name"].lstrip("/")
            proc = docker("logs", "--tail", str(lines), name, check=False, timeout=20)
            text = (proc.stdout + proc.stderr).rstrip()
            out.append(f"--- {name} (last {lines} lines) ---\n{text or '(no output)'}")
        return "\n".join(out)


def is_local_edge(base_url: str, edge_port: int) -> bool:
    parts = urlsplit(base_url)
    return parts.hostname in ("127.0.0.1", "localhost") and (parts.port or 80) == edge_port


def access(base_url: str, project: str, edge_port: int, edge_container: str | None) -> tuple[LocalStack | None, str]:
    """The local stack if the checks may use its containers, else (None, why not).

    ``edge_container`` names the container that stands for the edge when the
    suite runs against an extra edge (the break-it tests); otherwise the base
    URL must be the local edge itself."""
    if not edge_container and not is_local_edge(base_url, edge_port):
        return None, f"needs container access: {base_url} is not the local edge (http://127.0.0.1:{edge_port})"
    if shutil.which("docker") is None:
        return None, "needs container access: the docker CLI is not installed"
    try:
        docker("info", "--format", "{{.ServerVersion}}", timeout=15)
    except (RuntimeError, subprocess.TimeoutExpired):
        return None, "needs container access: no Docker engine answers"
    stack = LocalStack(project=project, edge_container="")
    if not edge_container:
        edges = stack.container_ids("edge")
        if not edges:
            return None, f"needs container access: the local stack (compose project {project}) is not running"
        edge_container = stack.inspect(edges[0])["Name"].lstrip("/")
    stack.edge_container = edge_container
    return stack, ""
