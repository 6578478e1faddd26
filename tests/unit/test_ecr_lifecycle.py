"""ECR can never expire what an ACTIVE revision runs (issue 16, finding 6).

A simulated repository, set up as the rendered template says (its tag
mutability), receives the pushes of promote's own ``push`` over a history
of releases; the rendered lifecycle policy is then evaluated on it as ECR
documents the rules (https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html):
by priority, each image expired by at most one rule, and an image that matches
a rule's tag selection is not considered by a rule of lower priority;
``sinceImagePushed`` selects by age, ``imageCountMoreThan`` all but the newest
N. Every digest a revision references (any ACTIVE one is a rollback target)
must survive."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import pytest

from parity.app.deploy.promote import push
from parity.app.deploy.release import Release
from parity.errors import CommandFailed
from parity.render.infra import render_template

from .deploy_fakes import make_ctx
from .test_infra_render import stack_for
from .test_promote import root  # noqa: F401 - the fixture

REPO = "111122223333.dkr.ecr.eu-central-1.amazonaws.com/huskit/crawler"


@dataclass
class Image:
    digest: str
    pushed_day: int
    tags: set[str] = field(default_factory=set)


class SimulatedEcr:
    """A repository with the template's ImageTagMutability, pushed to by promote."""

    def __init__(self, mutability: str) -> None:
        self.mutability = mutability
        self.images: dict[str, Image] = {}
        self.day = 0
        self.pending: dict[str, str] = {}  # REPO:TAG -> image id

    @property
    def tagged(self) -> dict[str, str]:  # what FakeEcs.image_digest reads
        return {f"{REPO}:{t}": i.digest for i in self.images.values() for t in i.tags}

    def tag(self, image_id, ref):
        self.pending[ref] = image_id

    def push(self, ref):
        tag = ref.rsplit(":", 1)[1]
        digest = "sha256:" + hashlib.sha256(self.pending[ref].encode()).hexdigest()
        holder = next((i for i in self.images.values() if tag in i.tags), None)
        if holder and holder.digest != digest:
            if self.mutability == "IMMUTABLE":
                raise CommandFailed(["docker", "push", ref], 1, f"tag invalid: The image tag '{tag}' already exists")
            holder.tags.discard(tag)  # a mutable tag moves: the old digest is left untagged
        image = self.images.setdefault(digest, Image(digest, self.day))
        image.tags.add(tag)
        return digest

    def login(self, *_a):
        pass


def expired(policy: dict, images: list[Image], today: int) -> set[str]:
    """The digests ECR's lifecycle policy expires today."""
    out: set[str] = set()
    remaining = list(images)
    for rule in sorted(policy["rules"], key=lambda r: r["rulePriority"]):
        sel = rule["selection"]

        def matches(image: Image, sel: dict = sel) -> bool:
            if sel["tagStatus"] == "untagged":
                return not image.tags
            if sel["tagStatus"] == "any":
                return True
            prefixes, patterns = sel.get("tagPrefixList", []), sel.get("tagPatternList", [])
            return any(t.startswith(p) for t in image.tags for p in prefixes) or any(
                fnmatchcase(t, p) for t in image.tags for p in patterns
            )

        matching = [i for i in remaining if matches(i)]
        if sel["countType"] == "sinceImagePushed":
            chosen = [i for i in matching if today - i.pushed_day > sel["countNumber"]]
        else:  # imageCountMoreThan: all but the newest N
            chosen = sorted(matching, key=lambda i: -i.pushed_day)[sel["countNumber"] :]
        if rule["action"]["type"] == "expire":
            out |= {i.digest for i in chosen}
        remaining = [i for i in remaining if i not in matching]
    return out


def history(root, ecr: SimulatedEcr, builds: list[str]) -> dict[int, str]:  # noqa: F811 - the fixture's value
    """Promote each image (by ID) on its own day, as promote pushes it; revision -> digest."""
    ctx = make_ctx(root, "prod")
    ctx.registry = ecr
    ctx.ecs.registry = ecr
    revisions = {}
    for n, image_id in enumerate(builds):
        ecr.day = n
        release = Release("111122223333", {"crawler": image_id}, {"crawler": REPO}, {})
        revisions[n + 2] = push(ctx, release, None)["crawler"].split("@")[1]
    return revisions


def repository(template: dict) -> tuple[str, dict]:
    props = template["Resources"]["CrawlerRepository"]["Properties"]
    return props["ImageTagMutability"], json.loads(props["LifecyclePolicy"]["LifecyclePolicyText"])


def image(n: int) -> str:
    return "sha256:" + hashlib.sha256(f"build {n}".encode()).hexdigest()


@pytest.mark.parametrize("days_later", [15, 400])
def test_a_rebuild_from_the_same_source_leaves_the_rollback_target_tagged(root, days_later):  # noqa: F811
    """No build record (``source-unknown``), or a non-reproducible rebuild of one
    commit: two images, one source. The first stays the rollback target."""
    mutability, policy = repository(render_template(stack_for("prod")))
    ecr = SimulatedEcr(mutability)
    revisions = history(root, ecr, [image(1), image(2)])
    assert len(ecr.images) == 2 and all(i.tags for i in ecr.images.values())
    assert not expired(policy, list(ecr.images.values()), today=days_later) & set(revisions.values())


def test_a_hundred_releases_later_every_active_revision_can_still_pull(root):  # noqa: F811
    mutability, policy = repository(render_template(stack_for("prod")))
    ecr = SimulatedEcr(mutability)
    revisions = history(root, ecr, [image(n) for n in range(105)])
    assert not expired(policy, list(ecr.images.values()), today=120) & set(revisions.values())


def test_the_same_image_promoted_twice_is_pushed_once(root):  # noqa: F811
    """Staging then prod: the second promote finds its tag in ECR (immutable: a second
    push of a differently compressed manifest would be refused)."""
    mutability, _ = repository(render_template(stack_for("prod")))
    assert mutability == "IMMUTABLE"
    ecr = SimulatedEcr(mutability)
    first, again = history(root, ecr, [image(7), image(7)]).values()
    assert first == again and len(ecr.images) == 1


def test_untagged_leftovers_still_expire():
    _, policy = repository(render_template(stack_for("prod")))
    leftover, kept = Image("sha256:left", 0), Image("sha256:kept", 0, {"abc-0123456789ab"})
    assert expired(policy, [leftover, kept], today=15) == {"sha256:left"}
