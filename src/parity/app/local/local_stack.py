"""The local stack's use cases: up, down, status, logs.

``up`` runs in stages so that secrets exist before anything needs them:
LocalStack first (seeded with the local secrets and the static client), then
the other dependencies, then the services and the edge, each stage waited for
with a bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from parity.adapters.aws import AwsTarget, Bucket, SecretStore
from parity.adapters.docker import Compose, ContainerState, Docker, require_engine
from parity.adapters.git import source_revision
from parity.app.local import secrets, sources, warm
from parity.app.local.offline import build_standins
from parity.app.local.replace import DockerFleet, Settings, register_all, registered, replace, target_members
from parity.app.local.static import publish_clients
from parity.app.workspace import Workspace, localstack_target, urls, write_rendered
from parity.errors import NotReady
from parity.render.compose import LOCALSTACK_IMAGE_VAR, image_name, render_compose
from parity.spec import Stack, load_stack
from parity.waits import wait_healthy

Report = Callable[[str], None]


@dataclass
class UpResult:
    containers: list[ContainerState]
    urls: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)


def compose_for(ws: Workspace, stack: Stack) -> Compose:
    return Compose(ws.compose_files(), stack.project)


def sync_static(stack: Stack, docker: Docker, target: AwsTarget) -> int:
    """The local images' clients into LocalStack's bucket, behind the edge's /assets/."""
    bucket = Bucket(target, stack.edge.bucket)
    bucket.ensure()
    return publish_clients(stack, docker, bucket, {name: image_name(stack, name) for name in stack.services})


def reconcile_postgres(stack: Stack, compose: Compose, env: dict[str, str]) -> None:
    """LocalStack keeps secrets in memory, so a restarted LocalStack seeds a new
    database password while the volume keeps the old one: set the role's
    password to the secret again (via the container's local socket)."""
    for name, dep in stack.local.dependencies.items():
        if dep.kind != "postgres" or "POSTGRES_PASSWORD" not in dep.secrets:
            continue
        container = next(c.name for c in compose.containers() if c.service == name)
        script = (
            "printf '%s\\n' \"ALTER ROLE CURRENT_USER PASSWORD :'pw';\" | "
            'psql -v ON_ERROR_STOP=1 -q -U "$POSTGRES_USER" -d "$POSTGRES_DB" -v pw="$PARITY_PG_PASSWORD"'
        )
        compose.exec(container, ["sh", "-c", script], env={"PARITY_PG_PASSWORD": env["POSTGRES_PASSWORD"]})


def compose_settings(stack: Stack, ws: Workspace) -> dict[str, str]:
    """Variables the compose file interpolates. LocalStack stays pinned to the
    last release that runs without a token unless the user brings one."""
    if ws.localstack_token and not ws.offline and not ws.localstack_image:
        return {LOCALSTACK_IMAGE_VAR: stack.local.localstack_with_token}
    return {}


def up(
    ws: Workspace,
    timeout: float = 300,
    report: Report = print,
    clock: Callable[[], float] = time.monotonic,
    build: bool = True,
) -> UpResult:
    """Bring the whole local stack up and wait until every container is healthy.
    ``build=False`` runs the service images already here (loaded from a CI
    artefact, say) and fails if one is missing rather than build another."""
    timings: dict[str, float] = {}
    start = clock()
    stack = load_stack(ws.root, "local")
    for path in write_rendered(stack, ws):
        report(f"rendered {path.relative_to(ws.root)}")
    require_engine()
    docker = Docker()
    compose = compose_for(ws, stack)
    if ws.offline:
        build_standins(stack, ws.root, ws.offline_base, docker, report)
    drift = compose.network_drift(render_compose(stack)["networks"])
    if drift:
        report(f"network isolation changed ({', '.join(drift)}): recreating the stack, volumes kept")
        compose.down()
    t = clock()
    state = warm.load(ws.root)
    prints = warm.fingerprints(ws, stack)  # each build context walked once, before the build: the tree may change
    key = warm.inputs_key(ws, stack, prints)
    done: dict = {}  # what this run did, recorded for the next one once it succeeds
    names = {s: image_name(stack, s) for s in stack.services}
    if build:
        services = render_compose(stack)["services"]
        keys = {
            s: warm.build_key(ws.root / svc.build.context, services[s].get("build"), prints[s])
            for s, svc in stack.services.items()
        }
        images = {s: facts[0] for s, facts in docker.image_facts(list(names.values()), "").items() if facts}
        images = {s: images.get(names[s]) for s in stack.services}
        todo = [s for s in stack.services if s not in warm.unchanged_builds(state, keys, images)]
        if todo:
            report(f"building {', '.join(todo)} (cached layers are reused)")
            built_from = sources.revisions(
                stack, ws.root, source_revision, todo
            )  # before the build: the tree may change
            compose.build(todo)
            built = {s: docker.image_id(names[s]) or "" for s in todo}
            sources.record_builds(ws.root, built, built_from)
            images.update(built)
        else:
            report("service images: their sources did not change since they were built")
        done["builds"] = {s: {"key": keys[s], "image": images[s]} for s in stack.services if images.get(s)}
    else:
        missing = [names[s] for s in stack.services if docker.image_id(names[s]) is None]
        if missing:
            raise NotReady(f"--no-build, but no image {', '.join(missing)}", hint="`inv load --dir DIR` or `inv build`")
        report("using the service images already here (--no-build)")
    timings["build"] = clock() - t

    deps = list(stack.local.dependencies)
    aws = [n for n, d in stack.local.dependencies.items() if d.kind == "localstack"]
    t = clock()
    settings = compose_settings(stack, ws)
    running = compose.containers()
    if not all_healthy(running, aws):
        report("starting LocalStack")
        compose.up(aws, env=settings)
        running = wait_or_explain(compose, aws, timeout, clock)
    target = localstack_target(stack)
    store = SecretStore(target)
    template = secrets.load_seed(ws.root / stack.local.seed)
    created = secrets.seed(store, template)  # a LocalStack that restarted has lost them: seeded again
    if created:
        report(f"seeded {len(created)} secrets in LocalStack: {', '.join(created)}")
    static = warm.digest(
        [c.started_at for c in running if c.service in aws],
        {s: docker.image_id(names[s]) for s, svc in stack.services.items() if svc.static_dir},
        stack.edge.bucket,
    )
    if created or state.get("static") != static:
        synced = sync_static(stack, docker, target)
        report(f"synced {synced} static files to s3://{stack.edge.bucket}")
    done["static"] = static
    secret_values = {**secrets.resolve(stack, store, [*stack.services, *deps]), **secrets.origin_lock_env(stack, store)}
    env = {**settings, **secret_values}
    timings["localstack"] = clock() - t

    t = clock()
    if created or not all_healthy(compose.containers(), deps):
        report("starting dependencies")
        compose.up(deps, env=env)
        wait_or_explain(compose, deps, timeout, clock)
        reconcile_postgres(stack, compose, env)
    timings["dependencies"] = clock() - t

    t = clock()
    report("starting services and the edge")
    fleet = DockerFleet(stack, compose, docker, env)
    checked: set[str] = set()
    # Replaced replica by replica while the running edge keeps serving; with no
    # edge running, nobody is served: compose recreates them below.
    hashes = compose.config_hashes(env=env)
    # The services are rolled through the edge that runs now; an edge whose own settings changed
    # (a new start command, new origin lock values: LocalStack re-seeded after a restart) is
    # recreated after them, below: the only moment without an edge.
    stale = outdated(stack, compose, docker, hashes) if edge_running(compose) else []
    for name in stale:
        checked.update(replace(Settings.of(stack, name), fleet, report, clock).new)
    if stale and not edge_current(compose, hashes):
        report("the edge's own settings changed: it is recreated (new connections wait a moment)")
    everything = [*stack.services, *deps, "edge"]
    # The new replicas carry the config hash a plain `up` computes (see
    # DockerFleet.create), so this leaves them, and the edge, alone.
    compose.up([], env=env)
    states = wait_or_explain(compose, everything, timeout, clock, frozenset(checked))
    for name in register_all(stack, fleet):
        report(f"registered the replicas of {name} in the edge's target group")
    timings["services"] = clock() - t
    if build:
        done["fast"] = warm.record(ws, stack, key, secret_values)  # the values just read, not read again
    warm.save(ws.root, done)
    timings["total"] = clock() - start
    return UpResult(containers=states, urls=urls(stack), timings=timings)


def all_healthy(containers: list[ContainerState], services: list[str]) -> bool:
    """Every one of ``services`` has a container, and all of them run healthy."""
    mine = [c for c in containers if c.service in services]
    return {c.service for c in mine} >= set(services) and all(
        c.state == "running" and c.health in ("healthy", "none") for c in mine
    )


def edge_running(compose: Compose) -> bool:
    return any(c.service == "edge" and c.state == "running" for c in compose.containers())


def edge_current(compose: Compose, hashes: Mapping[str, str]) -> bool:
    """The edge runs, on the settings compose would give it now."""
    edges = [c for c in compose.containers() if c.service == "edge" and c.state == "running"]
    return bool(edges) and all(not hashes.get("edge") or c.config_hash == hashes["edge"] for c in edges)


def outdated(stack: Stack, compose: Compose, docker: Docker, hashes: Mapping[str, str] | None = None) -> list[str]:
    """Services whose running containers are not on the image just built, or
    (given compose's config ``hashes``) not on the settings compose would
    give them now: a new environment, a secret LocalStack re-seeded, a
    changed limit. Like a new task definition revision on ECS, they get a
    rolling replacement rather than compose's all-at-once recreate."""
    out = []
    containers = compose.containers()
    refs = {name: image_name(stack, name) for name in stack.services}
    images = docker.image_facts(list(refs.values()), "")  # one docker call for them all
    for name in stack.services:
        image = images[refs[name]][0] if refs[name] in images else None
        running = [c for c in containers if c.service == name and c.state == "running"]
        want = (hashes or {}).get(name)
        new_image = bool(image) and any(c.image_id != image for c in running)
        new_settings = bool(want) and any(c.config_hash != want for c in running)
        if running and (new_image or new_settings):
            out.append(name)
    return out


def wait_or_explain(
    compose: Compose,
    services: list[str],
    timeout: float,
    clock: Callable[[], float],
    checked: frozenset[str] = frozenset(),
) -> list[ContainerState]:
    """wait_healthy, and on failure attach the last log lines of the culprits."""
    try:
        return wait_healthy(compose.containers, services, timeout, clock=clock, checked=checked)
    except NotReady as exc:
        lines: list[str] = []
        for svc in exc.services[:3]:
            lines.append(f"--- last log lines of {svc} ---")
            lines += list(compose.logs(svc, tail=20))
        exc.details = lines
        raise


def down(ws: Workspace, volumes: bool = False) -> None:
    stack = load_stack(ws.root, "local")
    require_engine()
    compose_for(ws, stack).down(volumes=volumes)


def status(ws: Workspace) -> tuple[list[ContainerState], dict[str, str], list[str]]:
    """The containers, the URLs, and warnings about state Docker cannot see."""
    stack = load_stack(ws.root, "local")
    require_engine()
    containers = compose_for(ws, stack).containers()
    return containers, urls(stack), drift_warnings(ws, stack, containers)


def drift_warnings(ws: Workspace, stack: Stack, containers: list[ContainerState]) -> list[str]:
    """State Docker cannot see: a LocalStack restarted by Docker (after a
    daemon restart, say) looks healthy but has lost the secrets and the
    bucket; an edge whose target group lists replicas that are gone (removed
    or recreated outside `inv up`) sends requests to nobody."""
    compose = compose_for(ws, stack)
    return [
        *_localstack_warnings(ws, stack, containers),
        *target_warnings(stack, containers, registered_targets(stack, compose)),
    ]


def _localstack_warnings(ws: Workspace, stack: Stack, containers: list[ContainerState]) -> list[str]:
    aws = {n for n, d in stack.local.dependencies.items() if d.kind == "localstack"}
    if not any(c.service in aws and c.health == "healthy" for c in containers):
        return []
    seeded = next(iter(secrets.load_seed(ws.root / stack.local.seed)), None)
    if seeded is None or SecretStore(localstack_target(stack)).get(seeded) is not None:
        return []
    return ["LocalStack has restarted and lost its secrets and bucket: run `inv up` to seed it again"]


def registered_targets(stack: Stack, compose: Compose) -> dict[str, str]:
    """Public service -> what the running edge answers for its target group
    (``default``: every replica by DNS name; '' when no edge answers)."""
    return {name: registered(stack, name, compose) for name in stack.public_services()}


def target_warnings(stack: Stack, containers: list[ContainerState], registered: Mapping[str, str]) -> list[str]:
    """Target groups of the edge that are not the running replicas of their service."""
    out = []
    for name, members in registered.items():
        if members in ("", "default"):
            continue
        running = target_members(containers, name)
        if members.split(",") != running:
            out.append(
                f"the edge's target group for {name} is {members}, its running replicas are {', '.join(running) or 'none'}: "
                "requests may fail; `inv up` registers them again"
            )
    return out
