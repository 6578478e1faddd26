"""`inv exec [--env ENV] --service S [--task ID] [-- CMD]`: a shell (or CMD)
in one running replica of a service.

On ECS (``--env``): ECS Exec. ExecuteCommand opens a session in the task's
container (interactive: the only mode ECS offers) and AWS's Session Manager
plugin carries it to this terminal, as `aws ecs execute-command` does: the
plugin gets the session through an environment variable (its token never on a
command line) and the target ``ecs:CLUSTER_TASK_RUNTIME-ID``. The environment
must allow it (``aws.execute_command``, rendered with the permissions and the
session log it needs); the plugin must be installed. Locally: `docker exec`
into one container of the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parity.app.operations.operate import OpsContext, require_stack, task_id
from parity.errors import ConfigError, ParityError
from parity.spec import require_services

SHELL = "/bin/sh"  # in every image the stack builds (Debian-based); bash is not


@dataclass
class ExecRequest:
    """What ExecuteCommand is asked, and what the plugin needs beside the answer."""

    cluster: str
    task: str  # the task's ARN
    container: str
    command: str
    runtime_id: str

    def request(self) -> dict[str, Any]:
        """ExecuteCommand's input (validated against botocore's model in the tests)."""
        return {
            "cluster": self.cluster,
            "task": self.task,
            "container": self.container,
            "command": self.command,
            "interactive": True,
        }


def choose_task(tasks: list[dict[str, Any]], wanted: str | None, service: str, env: str) -> dict[str, Any]:
    """The task ``wanted`` names (its ID, or a prefix of it only one task has),
    else the longest-running one."""
    running = [t for t in tasks if t.get("lastStatus") == "RUNNING"]
    if not running:
        starting = f" ({len(tasks)} starting)" if tasks else ""
        raise ParityError(
            f"{service} has no running task in {env}{starting}", hint=f"`inv status --env {env}` shows its deployment"
        )
    if wanted is None:
        return min(running, key=lambda t: (str(t.get("startedAt") or ""), t.get("taskArn", "")))
    found = [t for t in running if task_id(t.get("taskArn", "")).startswith(wanted)]
    if len(found) != 1:
        known = ", ".join(task_id(t.get("taskArn", ""))[:8] for t in running)
        what = "no running task" if not found else f"{len(found)} running tasks"
        raise ParityError(f"--task {wanted}: {what} of {service} matches (running: {known})")
    return found[0]


def exec_request(ctx: OpsContext, service: str, wanted: str | None, command: str | None) -> ExecRequest:
    """Everything checked that can be before a session opens; the request to send."""
    stack = ctx.stack
    require_services(stack, [service])
    if not stack.aws.execute_command:
        raise ConfigError(
            f"deploy/{ctx.env}.yaml: aws.execute_command is off, so no task of {ctx.env} can be entered",
            hint=f"set it true, then `inv infra-apply --env {ctx.env}` and `inv promote --env {ctx.env}` (new tasks)",
        )
    from parity.adapters.operations import PLUGIN, PLUGIN_HINT

    if not ctx.plugin.available():
        raise ParityError(f"{PLUGIN} is not installed: ECS Exec needs it to carry the session", hint=PLUGIN_HINT)
    require_stack(ctx)
    task = choose_task(ctx.ecs.running_tasks(stack.cluster, service), wanted, service, ctx.env)
    tid = task_id(task.get("taskArn", ""))
    container = next((c for c in task.get("containers") or [] if c.get("name") == service), None)
    if not task.get("enableExecuteCommand") or container is None:
        raise ParityError(
            f"task {tid[:8]} of {service} was started without ECS Exec",
            hint=f"`inv infra-apply --env {ctx.env}` turns it on for the service; its next tasks (`inv promote --env {ctx.env}`) have it",
        )
    agent = next((a for a in container.get("managedAgents") or [] if a.get("name") == "ExecuteCommandAgent"), {})
    if agent.get("lastStatus") != "RUNNING":
        raise ParityError(
            f"task {tid[:8]} of {service}: ECS Exec's agent is {agent.get('lastStatus', 'not there')}",
            hint="wait a minute and try again; if it stays so, the task role may lack the ssmmessages permissions (`inv infra-apply`)",
        )
    return ExecRequest(stack.cluster, task["taskArn"], service, command or SHELL, container.get("runtimeId", ""))


def ecs_exec(ctx: OpsContext, service: str, wanted: str | None = None, command: str | None = None) -> int:
    """Open the session and hand it to the plugin; the plugin's exit code."""
    req = exec_request(ctx, service, wanted, command)
    answer = ctx.ecs.execute_command(req.cluster, req.task, req.container, req.command)
    cluster = answer.get("clusterArn", req.cluster).rsplit("/", 1)[-1]
    target = f"ecs:{cluster}_{task_id(answer.get('taskArn', req.task))}_{req.runtime_id}"
    return ctx.plugin.start(answer["session"], ctx.stack.region, target, ctx.ecs.endpoint)


def local_exec(ws: Any, service: str, wanted: str | None = None, command: list[str] | None = None) -> int:
    """`docker exec` into one running container of ``service`` (a service, a
    dependency or the edge): ``wanted`` names it, or a prefix only one has."""
    from parity.adapters.docker import Docker, require_engine
    from parity.app.local.local_stack import compose_for
    from parity.spec import load_stack

    stack = load_stack(ws.root, "local")
    require_services(stack, [service], also=[*stack.local.dependencies, "edge"])
    require_engine()
    running = [c.name for c in compose_for(ws, stack).containers() if c.service == service and c.state == "running"]
    if not running:
        raise ParityError(
            f"{service} has no running container", hint="`inv up` starts the stack; `inv status` shows it"
        )
    found = [n for n in running if n == wanted] or [n for n in running if wanted is None or n.startswith(wanted)]
    if wanted is not None and len(found) != 1:
        raise ParityError(
            f"--task {wanted}: {'no' if not found else len(found)} running containers of {service} match (running: {', '.join(running)})"
        )
    return Docker().exec_interactive(found[0], command or [SHELL])
