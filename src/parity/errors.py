"""One error family. Every failure a user can meet is a ParityError with a
one-line message and, where useful, a hint; ``tasks.py`` turns it into a clean
exit. Messages never contain secret values."""

from __future__ import annotations


class ParityError(Exception):
    """Base of every error the toolkit reports to a user. ``details``: lines
    shown under the message (a failed build's errors, a service's last log
    lines), never part of it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details: list[str] = []

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class ConfigError(ParityError):
    """The stack spec or an overlay is invalid; nothing was run."""

    exit_code = 2


class CommandFailed(ParityError):
    """An external command (docker, compose) exited non-zero."""

    def __init__(
        self, command: list[str] | str, returncode: int | None, output: str = "", hint: str | None = None
    ) -> None:
        cmd = command if isinstance(command, str) else " ".join(map(str, command))
        tail = output.strip().splitlines()[-1] if output.strip() else ""
        msg = f"`{cmd}` failed" + (f" (exit {returncode})" if returncode is not None else "")
        if tail:
            msg += f": {tail}"
        super().__init__(msg, hint)
        self.command = cmd
        self.returncode = returncode
        self.output = output


class BuildFailed(CommandFailed):
    """An image build failed; ``details`` are the failing step's error lines."""


class NotReady(ParityError):
    """Something did not become ready/healthy within its bounded wait."""

    services: list[str] = []

    def with_services(self, services: list[str]) -> NotReady:
        self.services = services
        return self


class SecretError(ParityError):
    """A secret or one of its JSON keys could not be resolved. Names only, never values."""


class AwsUnavailable(ParityError):
    """AWS could not be asked at all: no credentials, rejected or expired
    ones, no endpoint. Render, diff and a dry run go on without the live
    parts and say so; anything that changes AWS stops."""


class DeployFailed(ParityError):
    """A deployment to ECS failed or was rolled back."""


class RollbackFailed(DeployFailed):
    """Putting a service back on its previous revision failed too (ECS's own
    circuit-breaker rollback or ours): the service may be down."""

    exit_code = 3
