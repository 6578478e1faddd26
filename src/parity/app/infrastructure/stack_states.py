"""Every CloudFormation stack status, as one line: what happened and what to
run next. ``infra-plan`` and ``infra-apply`` read a stack's status through
this table before they ask CloudFormation for anything, and a failed apply
ends with its line, so no state leads to a change set CloudFormation refuses
or to a message that guesses. Pure: no AWS call.

Kinds:
- ``new``: nothing was created; a plan or apply creates the stack.
- ``ready``: the stack can be updated (a plan shows the change set).
- ``recreate``: a first creation failed and was rolled back (the stack holds
  nothing); ``infra-apply`` deletes it and creates it again, adopting what the
  failed creation retained.
- ``busy``: another operation is running; wait for it.
- ``stuck``: CloudFormation allows neither an update nor a new creation until
  someone acts; the line names the command.
"""

from __future__ import annotations

from dataclasses import dataclass

from parity.errors import ParityError


@dataclass(frozen=True)
class State:
    kind: str
    happened: str
    next: str  # ``{name}`` the stack, ``{env}`` the environment

    def line(self, status: str, name: str, env: str) -> str:
        return f"stack {name} is {status}: {self.happened}; next: {self.next.format(name=name, env=env)}"


_PLAN = "`inv infra-plan --env {env}`"
_APPLY = "`inv infra-apply --env {env}`"
_EVENTS = "`aws cloudformation describe-stack-events --stack-name {name}`"
_WAIT = "wait for it to end (" + _EVENTS + " follows it), then " + _PLAN

STATES: dict[str, State] = {
    # nothing exists (yet)
    "REVIEW_IN_PROGRESS": State(
        "new",
        "it exists only as a change set that was never executed (an interrupted plan or another tool); nothing was created",
        _APPLY + " creates it",
    ),
    "DELETE_COMPLETE": State("new", "it was deleted", _APPLY + " creates it again, adopting the resources it retained"),
    # can be updated
    "CREATE_COMPLETE": State("ready", "created", _PLAN + " shows what an apply would change"),
    "UPDATE_COMPLETE": State("ready", "updated", _PLAN + " shows what an apply would change"),
    "IMPORT_COMPLETE": State(
        "ready", "resources were adopted into it", _APPLY + " brings them and the rest to the template"
    ),
    "UPDATE_ROLLBACK_COMPLETE": State(
        "ready",
        "the last update failed and CloudFormation rolled it back: the stack is as it was before that update",
        "fix the cause the failed events name (" + _EVENTS + "), then " + _APPLY,
    ),
    "IMPORT_ROLLBACK_COMPLETE": State(
        "ready",
        "an adoption (import) failed and was rolled back: nothing was adopted",
        "fix the cause the failed events name (" + _EVENTS + "), then " + _APPLY,
    ),
    # a first creation that failed
    "ROLLBACK_COMPLETE": State(
        "recreate",
        "its first creation failed and was rolled back; it holds nothing, and CloudFormation can only delete it",
        "fix the cause the failed events name, then " + _APPLY + ": it deletes the empty stack and creates it again, "
        "adopting the resources the failed creation retained",
    ),
    "ROLLBACK_FAILED": State(
        "stuck",
        "its first creation failed and so did the rollback: some resources could not be deleted",
        "read why in " + _EVENTS + ", then delete it: `aws cloudformation delete-stack --stack-name {name}` "
        "(add --retain-resources LOGICAL_IDS for those that still cannot be deleted), then " + _APPLY,
    ),
    "CREATE_FAILED": State(
        "stuck",
        "its creation failed and was not rolled back (rollback disabled)",
        "`aws cloudformation rollback-stack --stack-name {name}`, then " + _APPLY,
    ),
    # an update that failed and could not be undone
    "UPDATE_FAILED": State(
        "stuck",
        "an update failed and was not rolled back (rollback disabled)",
        "`aws cloudformation rollback-stack --stack-name {name}`, then " + _PLAN,
    ),
    "UPDATE_ROLLBACK_FAILED": State(
        "stuck",
        "an update failed and so did its rollback; CloudFormation allows no update until the rollback goes on",
        "read why in " + _EVENTS + ", then `aws cloudformation continue-update-rollback --stack-name {name}` "
        "(add --resources-to-skip LOGICAL_IDS for those that cannot be rolled back), then " + _PLAN,
    ),
    "IMPORT_ROLLBACK_FAILED": State(
        "stuck",
        "an adoption (import) failed and so did its rollback",
        "read why in " + _EVENTS + "; adopted resources are retained, so deleting the stack "
        "(`aws cloudformation delete-stack --stack-name {name}`) keeps them, then " + _APPLY,
    ),
    "DELETE_FAILED": State(
        "stuck",
        "a deletion of the stack failed (a resource could not be deleted: the ALB's deletion protection, a non-empty bucket, ...)",
        "finish it: `aws cloudformation delete-stack --stack-name {name}` (add --retain-resources LOGICAL_IDS for "
        "those that cannot be deleted), then " + _APPLY + " creates it again, adopting what it retained",
    ),
    # an operation is running
    "CREATE_IN_PROGRESS": State("busy", "it is being created", _WAIT),
    "UPDATE_IN_PROGRESS": State("busy", "it is being updated", _WAIT),
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": State(
        "busy", "an update succeeded and replaced resources are being removed", _WAIT
    ),
    "UPDATE_ROLLBACK_IN_PROGRESS": State("busy", "an update failed and is being rolled back", _WAIT),
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": State(
        "busy", "an update was rolled back and the resources it made are being removed", _WAIT
    ),
    "ROLLBACK_IN_PROGRESS": State("busy", "its first creation failed and is being rolled back", _WAIT),
    "DELETE_IN_PROGRESS": State("busy", "it is being deleted", _WAIT),
    "IMPORT_IN_PROGRESS": State("busy", "resources are being adopted (imported) into it", _WAIT),
    "IMPORT_ROLLBACK_IN_PROGRESS": State("busy", "an adoption (import) failed and is being rolled back", _WAIT),
}


def state(status: str | None) -> State | None:
    """The table's row for ``status`` (None: no stack)."""
    if status is None:
        return None
    found = STATES.get(status)
    if found is None:  # a status AWS added after this table: say so rather than guess
        return State("stuck", "a status this toolkit does not know", "look at it in the CloudFormation console")
    return found


def line(status: str, name: str, env: str) -> str:
    """One line: ``stack NAME is STATUS: what happened; next: what to run``."""
    return state(status).line(status, name, env)  # type: ignore[union-attr]


def require_usable(status: str | None, name: str, env: str) -> str:
    """The kind of a stack a plan can start from (``none``, ``new``, ``ready``,
    ``recreate``); a busy or stuck one raises its line."""
    found = state(status)
    if found is None:
        return "none"
    if found.kind in ("busy", "stuck"):
        raise ParityError(line(status, name, env))  # type: ignore[arg-type]
    return found.kind
