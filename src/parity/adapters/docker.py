"""The only code that talks to Docker, through python-on-whales.

Every failure becomes a ``CommandFailed`` carrying the command, exit code and
output. Secret values reach ``docker compose`` only through the environment of
the child process (``environment: [NAME]`` in the compose file), never on a
command line and never in a file.

python-on-whales prints the whole environment of every call when
``PYTHON_ON_WHALES_DEBUG=1``, secrets included: the variable is removed when
this module is imported and again before every call (``_failures`` wraps each
one), so no call can print it, and no child process inherits it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_on_whales import DockerClient
from python_on_whales.components.container.models import ContainerInspectResult
from python_on_whales.exceptions import DockerException
from python_on_whales.utils import run as pow_run

from parity.errors import BuildFailed, CommandFailed, ParityError

_PUSHED_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


@dataclass(frozen=True)
class ContainerState:
    """One container of the stack, as ``inv status`` shows it."""

    name: str
    service: str
    state: str
    health: str
    networks: list[str] = field(default_factory=list)
    published_ports: list[str] = field(default_factory=list)
    image_id: str = ""
    started_at: str = ""  # when its process last started: a restart changes it
    config_hash: str = ""  # compose's hash of the settings it was created with
    addresses: dict[str, str] = field(default_factory=dict)  # network (without the project prefix) -> IPv4


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_NO_REGISTRY = ("registry-1.docker.io", "pull access denied", "failed to resolve source metadata")


_DEBUG_DUMP = "PYTHON_ON_WHALES_DEBUG"


def _no_env_dump() -> None:
    """Remove the variable that makes python-on-whales print the environment."""
    os.environ.pop(_DEBUG_DUMP, None)


_no_env_dump()


@contextlib.contextmanager
def _failures(hint: str | None = None) -> Iterator[None]:
    """Every docker call runs inside this: never with the environment dump on,
    and its failure becomes one CommandFailed."""
    _no_env_dump()
    try:
        yield
    except DockerException as exc:
        output = (exc.stderr or "") + (exc.stdout or "")
        if any(marker in output for marker in _NO_REGISTRY) and os.environ.get("PARITY_OFFLINE") != "1":
            hint = "no image registry answers; set PARITY_OFFLINE=1 to build stand-ins from a local Debian base"
        raise CommandFailed(exc.docker_command, exc.return_code, output, hint) from None


_STEP = re.compile(r"^#(\d+) (\[[^\]]+\] .+)$")  # "#13 [website-agent build 9/9] RUN npm run build"
_ERROR = re.compile(r"error|failed|cannot|not found", re.IGNORECASE)


def build_failure(log: str, keep: int = 8) -> tuple[str, list[str]]:
    """From BuildKit's plain progress log: the step that failed (``[service
    stage 9/9] RUN npm run build``, '' if none did) and what it printed from
    its first error line on, at most ``keep`` lines (its last lines when no
    line reads as an error): the compiler's own message, with its location."""
    names: dict[str, str] = {}
    failed = ""
    for line in log.splitlines():
        if m := _STEP.match(line):
            names[m.group(1)] = m.group(2)
        elif re.match(r"^#\d+ ERROR: ", line):
            failed = line[1:].split(" ", 1)[0]
    if not failed:
        return "", []
    printed = []  # "#13 0.558 text": the step's output, without its number and timestamp
    for line in log.splitlines():
        if (m := re.match(rf"^#{failed} \d+\.\d+ (.*)$", line)) and m.group(1).strip():
            printed.append(m.group(1).rstrip())
    first = next((i for i, line in enumerate(printed) if _ERROR.search(line)), None)
    return names.get(failed, f"step #{failed}"), printed[first : first + keep] if first is not None else printed[-keep:]


CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_seconds(container_id: str, root: Path = CGROUP_ROOT) -> tuple[float, float] | None:
    """(user, system) CPU seconds of a container's cgroup: cgroup v1 (``cpuacct/docker/ID``,
    Docker's cgroupfs driver) or v2 (``system.slice/docker-ID.scope`` or ``docker/ID``,
    ``cpu.stat``); None when neither is there."""
    v1 = root / "cpuacct" / "docker" / container_id
    if (v1 / "cpuacct.usage_user").is_file():
        user, system = ((v1 / f"cpuacct.usage_{k}").read_text() for k in ("user", "sys"))
        return int(user) / 1e9, int(system) / 1e9
    for v2 in (root / "system.slice" / f"docker-{container_id}.scope", root / "docker" / container_id):
        if (v2 / "cpu.stat").is_file():
            stat = dict(line.split() for line in (v2 / "cpu.stat").read_text().splitlines() if line.strip())
            return int(stat["user_usec"]) / 1e6, int(stat["system_usec"]) / 1e6
    return None


def _inspect_json(docker_cmd: list[Any], refs: list[str], kind: str = "container") -> list[dict[str, Any]]:
    """``docker <kind> inspect`` of every ref in one call, as plain JSON."""
    return json.loads(pow_run([*docker_cmd, kind, "inspect", *refs]) or "[]") if refs else []


def inspected_state(inspected: dict[str, Any], project: str) -> ContainerState:
    """A ContainerState from one object of ``docker inspect``'s JSON."""
    return container_state(ContainerInspectResult(**inspected), project)


def container_state(info: Any, project: str) -> ContainerState:
    """A ContainerState from a python-on-whales Container (or its inspect result)."""
    health = info.state.health.status if info.state.health else "none"
    ports = []
    for inner, bindings in (info.network_settings.ports or {}).items():
        for b in bindings or []:
            ports.append(f"{b['HostIp']}:{b['HostPort']}->{inner}")
    labels = info.config.labels or {}
    return ContainerState(
        name=info.name.lstrip("/"),
        service=labels.get("com.docker.compose.service", info.name.lstrip("/")),
        state=info.state.status,
        health=health,
        networks=sorted(n.removeprefix(f"{project}_") for n in (info.network_settings.networks or {})),
        published_ports=sorted(ports),
        image_id=info.image,
        started_at=str(info.state.started_at or ""),
        config_hash=labels.get("com.docker.compose.config-hash", ""),
        addresses={
            n.removeprefix(f"{project}_"): net.ip_address
            for n, net in (info.network_settings.networks or {}).items()
            if net.ip_address
        },
    )


@contextlib.contextmanager
def injected_env(values: Mapping[str, str]) -> Iterator[None]:
    """Expose ``values`` to child processes (compose reads bare ``environment``
    names from its own environment) and remove them again afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    _no_env_dump()
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


# Run in a new replica by Docker.passes_within: the health command at once, then on every pass in
# which the port listens (a LISTEN line in /proc/net/tcp or tcp6), and every 20th pass regardless.
_READINESS_LOOP = (
    "i=0; while :; do "
    'if [ $((i % 20)) -eq 0 ] || grep -q "$PARITY_LISTEN" /proc/net/tcp /proc/net/tcp6 2>/dev/null; then '
    'timeout {timeout} sh -c "$PARITY_HEALTH_CHECK" >/dev/null 2>&1 && exit 0; fi; '
    "i=$((i + 1)); sleep 0.05; done"
)


def require_engine() -> None:
    """Fail early, with a hint, when no Docker engine answers."""
    if shutil.which("docker") is None:
        raise ParityError("the docker CLI is not installed", hint="install Docker Engine with the compose plugin")
    _no_env_dump()
    try:
        DockerClient().system.info()
    except DockerException:
        raise ParityError(
            "no Docker engine answers", hint="start it (on the build machines: ../shared/sandbox/docker-engine.sh)"
        ) from None


def established(proc_net_tcp: str, port: int) -> int:
    """Established TCP connections to local ``port``, counted in the text of
    ``/proc/net/tcp`` (and ``tcp6``) as a container sees it."""
    count = 0
    for line in proc_net_tcp.splitlines():
        fields = line.split()
        if len(fields) < 4 or ":" not in fields[1] or fields[0] == "sl":
            continue
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == "01":
            count += 1
    return count


class Docker:
    """Images and containers outside compose."""

    def __init__(self) -> None:
        self.client = DockerClient()

    def _image(self, ref: str) -> Any:
        """The inspect result of a local image, or None when there is none."""
        with _failures():
            if not self.client.image.exists(ref):
                return None
            return self.client.image.inspect(ref)

    def image_id(self, ref: str) -> str | None:
        """The content ID (``sha256:...``) of a local image, or None."""
        image = self._image(ref)
        return image.id if image else None

    def image_facts(self, refs: list[str], label: str) -> dict[str, tuple[str, str | None]]:
        """ref -> (image ID, the value of ``label``) for every ref that exists,
        in one docker call (a warm ``inv up`` checks many images)."""
        if not refs:
            return {}
        fmt = '{{.Id}} {{index .Config.Labels "' + label + '"}}'
        out: dict[str, tuple[str, str | None]] = {}
        # one line per image, in order; a missing one fails the call: then one by one
        argv = [*self.client.client_config.docker_cmd, "image", "inspect", "--format", fmt, *refs]
        proc = subprocess.run(argv, capture_output=True, text=True)
        lines = proc.stdout.splitlines()
        if proc.returncode != 0 or len(lines) != len(refs):
            return {ref: facts for ref in refs if (facts := self._facts_one(ref, label)) is not None}
        for ref, line in zip(refs, lines, strict=True):
            image_id, _, value = line.partition(" ")
            out[ref] = (image_id, None if value in ("", "<no value>") else value)
        return out

    def _facts_one(self, ref: str, label: str) -> tuple[str, str | None] | None:
        image = self._image(ref)
        return (image.id, (image.config.labels or {}).get(label)) if image else None

    def image_size(self, ref: str) -> int | None:
        image = self._image(ref)
        return int(image.size) if image else None

    def image_architecture(self, ref: str) -> str | None:
        """Docker's name of the CPU architecture an image is built for (``amd64``, ``arm64``)."""
        image = self._image(ref)
        return image.architecture if image else None

    def image_label(self, ref: str, label: str) -> str | None:
        image = self._image(ref)
        return (image.config.labels or {}).get(label) if image else None

    def build(
        self,
        context: Path,
        tag: str,
        build_args: Mapping[str, str] | None = None,
        target: str | None = None,
        labels: Mapping[str, str] | None = None,
        dockerfile: str | None = None,
    ) -> None:
        with _failures(hint=f"build it by hand to see the whole log: docker build -t {tag} {context}"):
            self.client.build(
                str(context),
                file=str(Path(context) / dockerfile) if dockerfile else None,
                tags=[tag],
                build_args=dict(build_args or {}),
                labels=dict(labels or {}),
                target=target,
                load=True,
                progress=False,
            )

    def inspect_raw(self, refs: list[str], kind: str = "container") -> list[dict[str, Any]]:
        """``docker <kind> inspect`` output as plain JSON (env values included:
        callers keep only what they may show)."""
        with _failures():
            return _inspect_json(self.client.client_config.docker_cmd, refs, kind)

    def save(self, refs: list[str], path: Path) -> None:
        """``docker save`` the images (with their tags) into one tar file."""
        with _failures(hint="is there room for the archive?"):
            self.client.image.save(refs, output=path)

    def load(self, path: Path) -> None:
        """``docker load`` a tar file made by ``save``; IDs and tags come back as they were."""
        with _failures(hint=f"is {path} an archive made by `inv build --save`?"):
            self.client.image.load(path, quiet=True)

    @contextlib.contextmanager
    def copied_out(self, image: str, path: str) -> Iterator[Path]:
        """``path`` copied out of ``image`` into a temporary folder, removed afterwards."""
        dest = Path(tempfile.mkdtemp(prefix="parity-"))
        try:
            with _failures(hint=f"is {path} where the image keeps it?"):
                container = self.client.container.create(image)
                try:
                    self.client.copy((container, path), dest)
                finally:
                    container.remove(force=True)
            yield dest / Path(path).name
        finally:
            shutil.rmtree(dest, ignore_errors=True)

    # -- throwaway containers: the bench's load generator ---------------------------

    def run_once(
        self,
        image: str,
        command: list[str],
        *,
        name: str,
        network: str,
        entrypoint: str | None = None,
        mounts: Mapping[Path, str] | None = None,
        nofile: int | None = None,
        timeout: float,
    ) -> str:
        """Run ``command`` in a throwaway container on ``network`` and return its
        stdout. Bounded: past ``timeout`` seconds the container is removed."""
        argv = [*self.client.client_config.docker_cmd, "run", "--rm", "--name", name, "--network", network]
        if entrypoint:
            argv += ["--entrypoint", entrypoint]
        for src, dest in (mounts or {}).items():
            argv += ["-v", f"{src}:{dest}:ro"]
        if nofile:
            argv += ["--ulimit", f"nofile={nofile}:{nofile}"]
        argv += [image, *command]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            subprocess.run([*argv[: len(self.client.client_config.docker_cmd)], "rm", "-f", name], capture_output=True)
            raise CommandFailed(argv, -1, f"still running after {timeout:.0f} s: removed", None) from None
        if proc.returncode != 0:
            raise CommandFailed(argv, proc.returncode, proc.stderr + proc.stdout, None)
        return proc.stdout

    def address(self, container: str, network: str) -> str:
        """The container's IPv4 address on ``network``."""
        with _failures():
            nets = self.client.container.inspect(container).network_settings.networks or {}
        if network not in nets or not nets[network].ip_address:
            raise CommandFailed(["docker", "inspect", container], 0, f"not on network {network}", None)
        return nets[network].ip_address

    def memory_used(self, container: str) -> int:
        """Bytes of memory the container uses right now (as `docker stats` counts it)."""
        with _failures():
            return int(self.client.container.stats(container)[0].memory_used)

    def cpu_seconds(self, containers: list[str]) -> dict[str, tuple[float, float]]:
        """CPU time (user, system seconds) each running container has used so far,
        read from its cgroup (v1 ``cpuacct`` or v2 ``cpu.stat``); a container whose
        cgroup this host does not show is left out. The bench samples it twice to
        say which container took the cores during a level."""
        if not containers:
            return {}
        # one inspect; a name not (or no longer) there only drops out (docker exits 1, prints the rest)
        proc = subprocess.run(
            [*self.client.client_config.docker_cmd, "container", "inspect", *containers], capture_output=True, text=True
        )
        found = json.loads(proc.stdout or "[]")
        return {c["Name"].lstrip("/"): usage for c in found if (usage := cgroup_cpu_seconds(c["Id"])) is not None}

    # -- throwaway networks and containers (e2e's own client address) ---------------

    def create_network(self, name: str, subnet: str) -> bool:
        """Create a bridge network with ``subnet``; False when the subnet is taken."""
        try:
            self.client.network.create(name, subnet=subnet, labels={"parity.role": "e2e-client"})
        except DockerException as exc:
            if "overlap" in (exc.stderr or "") + (exc.stdout or ""):
                return False
            raise CommandFailed(exc.docker_command, exc.return_code, (exc.stderr or "") + (exc.stdout or "")) from None
        return True

    def connect(self, network: str, container: str) -> None:
        with _failures():
            self.client.network.connect(network, container)

    def run_detached(
        self,
        image: str,
        name: str,
        network: str,
        ip: str | None,
        entrypoint: str,
        args: list[str],
        port: int,
        labels: list[str],
    ) -> None:
        """Start a container (no health check) with the address ``ip`` on ``network``
        (None: one the network's address range gives), its ``port`` published on
        127.0.0.1 (any free host port: see ``host_port``)."""
        argv = [
            *self.client.client_config.docker_cmd,
            "run",
            "-d",
            "--name",
            name,
            "--network",
            network,
            *(["--ip", ip] if ip else []),
            "-p",
            f"127.0.0.1::{port}",
            "--no-healthcheck",
            "--entrypoint",
            entrypoint,
            # compose labels its images: overridden, so the tool is never taken for a member of the stack
            *[arg for label in labels for arg in ("--label", label)],
            image,
            *args,
        ]
        with _failures():
            pow_run(argv)

    def labelled_leftovers(self, label: str, older_than: float) -> tuple[list[str], list[str]]:
        """(containers, networks) carrying ``label`` created more than ``older_than`` seconds ago."""
        import datetime as dt

        now = dt.datetime.now(dt.UTC)

        def old(created: dt.datetime) -> bool:
            return (now - created.astimezone(dt.UTC)).total_seconds() > older_than

        with _failures():
            containers = [
                c.name for c in self.client.container.list(all=True, filters={"label": label}) if old(c.created)
            ]
            networks = [n.name for n in self.client.network.list(filters={"label": label}) if old(n.created)]
        return containers, networks

    def host_port(self, container: str, port: int) -> int:
        """The host port Docker picked for ``port`` of ``container``."""
        with _failures():
            out = pow_run([*self.client.client_config.docker_cmd, "port", container, f"{port}/tcp"])
        return int(out.strip().splitlines()[0].rsplit(":", 1)[1])

    def remove_quietly(
        self, container: str | None = None, network: str | None = None, disconnect: str | None = None
    ) -> None:
        """Best-effort clean-up: remove a container, take ``disconnect`` off a network, remove it."""
        with contextlib.suppress(DockerException):
            if container:
                self.client.container.remove(container, force=True)
        if network:
            with contextlib.suppress(DockerException):
                if disconnect:
                    self.client.network.disconnect(network, disconnect, force=True)
            with contextlib.suppress(DockerException):
                self.client.network.remove(network)

    # -- containers: what the rolling replacement does to one replica ------------

    def passes_within(self, container: str, command: str, timeout: float, within: float, port: int) -> bool:
        """Whether a health ``command`` exits 0 in the container within
        ``within`` seconds: one exec whose loop runs it at once, then whenever
        the container listens on ``port`` (its own socket table, read every
        0.05 s: no process start until then) and at the latest every second.
        It returns as soon as the command passes; a container that exits ends it."""
        return self.passes_in(
            container,
            _READINESS_LOOP.format(timeout=int(max(1, timeout))),
            within,
            env={"PARITY_HEALTH_CHECK": command, "PARITY_LISTEN": f":{port:04X} [0-9A-F]*:0000 0A "},
        )

    def passes_in(self, container: str, script: str, within: float, env: Mapping[str, str] | None = None) -> bool:
        """Whether a shell ``script`` (a loop that exits 0 once what it waits
        for is there) ends with 0 in the container within ``within`` seconds.
        ``env`` reaches it through the docker CLI's environment (``-e NAME``)."""
        argv = [*self.client.client_config.docker_cmd, "exec"]
        for name in env or {}:
            argv += ["-e", name]
        argv += [container, "timeout", f"{max(within, 0.5):.2f}", "sh", "-c", script]
        try:
            pow_run(argv, env=dict(env or {}))
        except DockerException:
            return False
        return True

    def connections(self, container: str, port: int) -> int:
        """Established TCP connections to ``port`` inside the container (0 once it is gone)."""
        argv = [*self.client.client_config.docker_cmd, "exec", container, "cat", "/proc/net/tcp", "/proc/net/tcp6"]
        try:
            return established(pow_run(argv) or "", port)
        except DockerException:
            return 0

    def start(self, containers: list[str]) -> None:
        """Start the containers side by side (``docker start A B`` starts one
        after the other, each with its network set up: a third of a second apiece)."""
        with _failures(hint="`docker logs CONTAINER` shows why it did not start"):
            with ThreadPoolExecutor(max_workers=max(1, len(containers))) as pool:
                list(pool.map(self.client.container.start, containers))

    def stop_and_remove(self, containers: list[str], grace: int) -> None:
        """A graceful stop (SIGTERM, then SIGKILL after ``grace`` s), then removal."""
        if not containers:
            return
        with _failures():
            self.client.container.stop(containers, time=grace)
            self.client.container.remove(containers, force=True)

    def logs(self, container: str, tail: int = 20) -> list[str]:
        with _failures():
            return [_ANSI.sub("", line) for line in self.client.container.logs(container, tail=tail).splitlines()]

    def exec_interactive(self, container: str, command: list[str]) -> int:
        """Run ``command`` in ``container`` on this terminal (``docker exec -i``,
        with a TTY when there is one) until it ends; its exit code."""
        tty = ["-t"] if sys.stdin.isatty() and sys.stdout.isatty() else []
        _no_env_dump()
        return subprocess.run(
            [*self.client.client_config.docker_cmd, "exec", "-i", *tty, container, *command]
        ).returncode

    # -- registries: promote pushes the tested image by content --------------------

    def tag(self, image: str, ref: str) -> None:
        """Give ``image`` (a tag or an ID) the name ``ref``."""
        with _failures():
            self.client.image.tag(image, ref)

    def login(self, server: str, username: str, password: str) -> None:
        """Log in to a registry; the password goes through stdin, never argv."""
        with _failures(hint=f"check the registry {server} and the credentials of the AWS chain"):
            self.client.login(server=server, username=username, password=password)

    def push(self, ref: str) -> str:
        """Push ``ref`` and return the manifest digest the registry stored (``sha256:...``)."""
        argv = [*self.client.client_config.docker_cmd, "push", ref]
        registry = ref.split("/", 1)[0]
        with _failures(hint=f"is the registry {registry} up, and does the repository exist?"):
            output = pow_run(argv)
        found = _PUSHED_DIGEST.findall(output or "")
        if not found:
            raise CommandFailed(argv, 0, output or "", hint="the push printed no digest")
        return found[-1]

    def repo_digest(self, image: str, repository: str) -> str | None:
        """The manifest digest ``image`` had when it was last pushed to
        ``repository`` (``host/name``), or None if it never was."""
        found = self._image(image)
        for entry in (found.repo_digests or []) if found else []:
            repo, _, digest = entry.partition("@")
            if repo == repository:
                return digest
        return None


class Compose:
    """The local stack's compose project (fixed project name, so a clone in any
    folder drives the same stack)."""

    def __init__(self, files: list[Path], project: str) -> None:
        self.files = files
        self.project = project
        self.client = DockerClient(compose_files=[str(f) for f in files], compose_project_name=project)

    # python-on-whales reads an empty service list as "do nothing"; None means all.

    def build(self, services: list[str] | None = None) -> None:
        """Build the services' images; a failure names the failing step and
        carries its error lines (BuildKit's plain log, kept only then)."""
        argv = [*self._cli(), "--progress", "plain", "build", *(services or [])]
        _no_env_dump()
        try:
            pow_run(argv, capture_stderr=True)
        except DockerException as exc:
            output = (exc.stderr or "") + (exc.stdout or "")
            step, lines = build_failure(output)
            err = BuildFailed(argv, exc.return_code, output, hint="`docker compose build` shows the whole log")
            if step:
                err.message = f"the build failed at {step}"
            err.details = lines
            raise err from None

    def up(self, services: list[str] | None = None, env: Mapping[str, str] | None = None) -> None:
        with injected_env(env or {}), _failures(hint="`inv logs --service SERVICE` shows why a service did not start"):
            self.client.compose.up(services or None, detach=True, remove_orphans=True, quiet=True)

    def _cli(self) -> list[str]:
        """``docker compose`` with the project and files, for the commands
        python-on-whales does not wrap."""
        argv = [*self.client.client_config.docker_cmd, "compose", "-p", self.project]
        for f in self.files:
            argv += ["-f", str(f)]
        return argv

    def create_replicas(self, service: str, count: int, env: Mapping[str, str] | None = None) -> None:
        """Create (not start) replicas of ``service`` up to ``count``, beside
        the existing ones (which are left alone, as are its dependencies), from
        the service's current image and settings. The caller starts them: a
        ``compose up --scale`` would also wait on every ``depends_on``
        condition of a running stack, 0.7 s of a watch loop's 5.

        Never ``--no-deps``: compose 2.26 hashes a service's ``depends_on``
        into its config hash and ``--no-deps`` prunes it, so a replica created
        that way carries another hash and the next plain ``up`` recreates it
        (and, were the edge started so, the edge). ``--scale`` itself is not
        hashed. ``--no-recreate`` applies to the dependencies too."""
        argv = [*self._cli(), "create", "--no-recreate", "--no-build", "--scale", f"{service}={count}", service]
        with (
            injected_env(env or {}),
            _failures(hint=f"`inv logs --service {service}` shows why a replica was not created"),
        ):
            pow_run(argv)

    def config_hashes(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """Service -> the config hash compose gives its containers now (``config --hash``)."""
        with injected_env(env or {}), _failures():
            out = pow_run([*self._cli(), "config", "--hash", "*"])
        return dict(line.split(" ", 1) for line in (out or "").splitlines() if " " in line)

    def memory(self) -> dict[str, tuple[int, int]]:
        """Container name -> (memory used, memory limit) in bytes, right now."""
        with _failures():
            running = [c.name for c in self.containers() if c.state == "running"]
            if not running:
                return {}
            return {s.container_name: (s.memory_used, s.memory_limit) for s in self.client.container.stats(running)}

    def network_drift(self, expected: Mapping[str, Mapping[str, object]]) -> list[str]:
        """Networks of the project whose isolation settings differ from the
        compose file (compose itself does not notice, and reuses them)."""
        drift = []
        with _failures():
            for name, conf in expected.items():
                full = f"{self.project}_{name}"
                if not self.client.network.exists(full):
                    continue
                net = self.client.network.inspect(full)
                want_opts = dict(conf.get("driver_opts") or {})
                have_opts = {
                    k: v for k, v in (net.options or {}).items() if k in want_opts or k.endswith("inhibit_ipv4")
                }
                if bool(net.internal) != bool(conf.get("internal")) or have_opts != want_opts:
                    drift.append(name)
        return drift

    def down(self, volumes: bool = False) -> None:
        with _failures():
            self.client.compose.down(volumes=volumes, remove_orphans=True, quiet=True)

    def containers(self, names: list[str] | None = None) -> list[ContainerState]:
        """Every container of the project (what ``compose ps --all`` lists: its
        labels, not one-off ``run`` containers), from one ``docker ps`` and
        one ``docker inspect`` of them all; ``names``: those only, from one
        ``docker inspect``. python-on-whales inspects each container with a
        call of its own: 0.3 s for the stack, and a rolling replacement asks often."""
        docker = self.client.client_config.docker_cmd
        labels = [
            f"--filter=label=com.docker.compose.project={self.project}",
            "--filter=label=com.docker.compose.oneoff=False",
        ]

        def inspect_all() -> list[dict[str, Any]]:
            if names is not None:
                return _inspect_json(docker, names)
            return _inspect_json(
                docker, (pow_run([*docker, "container", "ls", "-aq", "--no-trunc", *labels]) or "").split()
            )

        with _failures():
            try:
                found = inspect_all()
            except DockerException:  # one was removed between the two calls: ask again
                found = inspect_all()
        return sorted((inspected_state(c, self.project) for c in found), key=lambda s: s.name)

    def names(self, service: str) -> list[str]:
        """The names of the service's containers, running or not (one ``docker ps``, no inspect)."""
        argv = [*self.client.client_config.docker_cmd, "container", "ls", "-a", "--format", "{{.Names}}",
                f"--filter=label=com.docker.compose.project={self.project}", "--filter=label=com.docker.compose.oneoff=False",
                f"--filter=label=com.docker.compose.service={service}"]  # fmt: skip
        with _failures():
            return sorted((pow_run(argv) or "").split())

    def logs(
        self, service: str | None = None, tail: int | None = None, follow: bool = False, since: str | None = None
    ) -> Iterator[str]:
        """Log lines (``since``: what docker's ``--since`` takes); with ``follow``
        the iterator runs until interrupted."""
        with _failures():
            if follow:
                for _source, line in self.client.compose.logs(
                    [service] if service else [],
                    follow=True,
                    stream=True,
                    tail=str(tail) if tail else None,
                    since=since,
                ):
                    yield _ANSI.sub("", line.decode(errors="replace").rstrip("\n"))
            else:
                text = self.client.compose.logs(
                    [service] if service else [], tail=str(tail) if tail else None, since=since
                )
                yield from (_ANSI.sub("", line) for line in text.splitlines())

    def exec(self, container: str, command: list[str], env: Mapping[str, str] | None = None) -> str:
        """Run ``command`` in a container. ``env`` values are passed through the
        docker CLI's environment (``-e NAME``), never on its command line."""
        argv = [*self.client.client_config.docker_cmd, "exec"]
        for name in env or {}:
            argv += ["-e", name]
        argv += [container, *command]
        with _failures():
            return pow_run(argv, env=dict(env or {}))
