"""`inv render --env ENV`: the task definitions the environment would run,
rendered from the spec with the account from STS and each image pinned by
digest. Before the first push of an image to the environment's registry its
manifest digest is not known yet; the reference then says so instead of
guessing (promote pushes, then pins the digest the registry returned)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from parity.app.context import DeployContext
from parity.errors import ParityError
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


def repositories(ctx: DeployContext) -> dict[str, str]:
    """service -> ``host/name`` where its image goes. The ECR repository must
    exist (it is looked up in ECR even when a local registry stands in for it)."""
    out = {}
    for service in ctx.stack.services:
        name = repository(ctx.stack, service)
        uri = ctx.ecs.repository_uri(name)
        if uri is None:
            hint = (
                f"`inv infra-apply --env {ctx.env}` creates it"
                if ctx.stack.infra.owns_repositories
                else "`inv infra-apply` of the environment that owns the repositories (infra.owns_repositories) creates it"
            )
            raise ParityError(f"ECR repository {name} does not exist in {ctx.stack.region}", hint=hint)
        out[service] = f"{ctx.stack.aws.registry}/{name}" if ctx.stack.aws.registry else uri
    return out


def pending_ref(repo: str, image_id: str) -> str:
    return f"{repo}@<digest after push of {image_id[:19]}>"


def render(ctx: DeployContext, account: str | None = None, images: dict[str, str] | None = None) -> Release:
    """Render every service's task definition for the environment."""
    account = account or ctx.ecs.account_id()
    images = images or local_images(ctx)
    repos = repositories(ctx)
    refs = {}
    for service, image_id in images.items():
        digest = ctx.registry.repo_digest(image_id, repos[service])
        refs[service] = f"{repos[service]}@{digest}" if digest else pending_ref(repos[service], image_id)
    release = Release(account=account, images=images, repositories=repos, refs=refs)
    pin(ctx, release, refs)
    return release


def pin(ctx: DeployContext, release: Release, refs: dict[str, str]) -> None:
    """(Re-)render the task definitions with these image references."""
    release.refs = dict(refs)
    release.taskdefs = {s: render_taskdef(ctx.stack, s, refs[s], release.account) for s in release.images}
