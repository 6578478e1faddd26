"""`inv render --env ENV`: the task definitions the environment would run,
rendered from the spec with the account from STS and each image pinned by
digest. Before the first push of an image to the environment's registry its
manifest digest is not known yet; the reference then says so instead of
guessing (promote pushes, then pins the digest the registry returned).

Before the account exists (or without credentials), rendering still works
when ``offline_ok``: the account is the one given (``--account``) or the
placeholder ``ACCOUNT_ID``, repositories are where ECR would put them, and
``Release.not_compared`` says which live parts were not looked up."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from parity.app.deploy.context import DeployContext
from parity.errors import AwsUnavailable, ConfigError, ParityError
from parity.render.compose import image_name
from parity.render.taskdef import render_taskdef, repository


@dataclass
class Release:
    """What would be deployed: per service, the local image (by ID), its
    repository in the environment's registry and the rendered task definition."""

    account: str
    images: dict[str, str]
    repositories: dict[str, str]
    refs: dict[str, str]
    taskdefs: dict[str, dict[str, Any]] = field(default_factory=dict)
    not_compared: list[str] = field(default_factory=list)  # live parts not looked up, and why


PLACEHOLDER_ACCOUNT = "ACCOUNT_ID"


def checked_account(account: str | None) -> str | None:
    """An account given on the command line: 12 digits."""
    if account is not None and account != PLACEHOLDER_ACCOUNT and not re.fullmatch(r"\d{12}", str(account)):
        raise ConfigError(f"--account: {account!r} is not an AWS account ID (12 digits)")
    return account


def account_for(ctx: DeployContext, given: str | None, offline_ok: bool, not_compared: list[str]) -> str:
    """The account the ARNs name: STS's; the one given, when given; without
    AWS (and ``offline_ok``) the given one or a placeholder."""
    given = checked_account(given)
    if given:
        return given
    try:
        return ctx.ecs.account_id()
    except AwsUnavailable as exc:
        if not offline_ok:
            raise
        not_compared.append(f"{ACCOUNT_NOTE}{exc.message}; ARNs name {PLACEHOLDER_ACCOUNT} (give --account)")
        return PLACEHOLDER_ACCOUNT


ACCOUNT_NOTE = "the account: "


def unavailable_since(not_compared: list[str]) -> str | None:
    """Why AWS was unavailable when the account was asked for (None: it answered, or was not asked)."""
    note = next((n for n in not_compared if n.startswith(ACCOUNT_NOTE)), None)
    return note.removeprefix(ACCOUNT_NOTE).split("; ARNs name ")[0] if note else None


def local_images(ctx: DeployContext) -> dict[str, str]:
    """service -> local image ID of the image the local stack runs."""
    out = {}
    for service in ctx.stack.services:
        ref = image_name(ctx.stack, service)
        image_id = ctx.registry.image_id(ref)
        if image_id is None:
            raise ParityError(f"{service}: image {ref} was never built", hint="`inv up` builds it")
        out[service] = image_id
    return out


def repositories(
    ctx: DeployContext,
    account: str = PLACEHOLDER_ACCOUNT,
    not_compared: list[str] | None = None,
    unavailable: str | None = None,
) -> dict[str, str]:
    """service -> ``host/name`` where its image goes. The ECR repository must
    exist (it is looked up in ECR even when a local registry stands in for it).
    With ``not_compared`` (a list), AWS being unavailable is noted there and the
    repositories are where ECR would put them in ``account``; once AWS was
    unavailable (``unavailable``: why, from an earlier call), it is not asked again."""
    out = {}
    for service in ctx.stack.services:
        name = repository(ctx.stack, service)
        try:
            if unavailable is not None and not_compared is not None:
                raise AwsUnavailable(unavailable)
            uri = ctx.ecs.repository_uri(name)
        except AwsUnavailable as exc:
            if not_compared is None:
                raise
            unavailable = exc.message
            if not any(n.startswith("ECR repositories") for n in not_compared):
                not_compared.append(f"ECR repositories (not checked): {exc.message}")
            uri = f"{account}.dkr.ecr.{ctx.stack.region}.amazonaws.com/{name}"
        if uri is None:
            hint = (
                f"`inv infra-apply --env {ctx.env}` creates it"
                if ctx.stack.infra.owns_repositories
                else "`inv infra-apply` of the environment that owns the repositories (infra.owns_repositories) creates it"
            )
            if not_compared is None:
                raise ParityError(f"ECR repository {name} does not exist in {ctx.stack.region}", hint=hint)
            # looking ahead (a dry run, a render): where ECR will put it
            not_compared.append(f"ECR repository {name}: it does not exist yet ({hint})")
            uri = f"{account}.dkr.ecr.{ctx.stack.region}.amazonaws.com/{name}"
        out[service] = f"{ctx.stack.aws.registry}/{name}" if ctx.stack.aws.registry else uri
    return out


def pending_ref(repo: str, image_id: str) -> str:
    return f"{repo}@<digest after push of {image_id[:19]}>"


def render(
    ctx: DeployContext, account: str | None = None, images: dict[str, str] | None = None, offline_ok: bool = False
) -> Release:
    """Render every service's task definition for the environment (without
    AWS too, when ``offline_ok``: see the module's docstring)."""
    not_compared: list[str] = []
    account = account_for(ctx, account, offline_ok, not_compared)
    # AWS did not answer for the account: it is not asked for the repositories either
    unavailable = unavailable_since(not_compared)
    images = images or local_images(ctx)
    repos = repositories(ctx, account, not_compared if offline_ok else None, unavailable)
    refs = {}
    for service, image_id in images.items():
        digest = ctx.registry.repo_digest(image_id, repos[service])
        refs[service] = f"{repos[service]}@{digest}" if digest else pending_ref(repos[service], image_id)
    release = Release(account=account, images=images, repositories=repos, refs=refs, not_compared=not_compared)
    pin(ctx, release, refs)
    return release


def pin(ctx: DeployContext, release: Release, refs: dict[str, str]) -> None:
    """(Re-)render the task definitions with these image references."""
    release.refs = dict(refs)
    release.taskdefs = {s: render_taskdef(ctx.stack, s, refs[s], release.account) for s in release.images}
