"""Which source an image was built from: the build context's own commit,
a dirty tree marked (real git in a temporary folder), recorded by image ID."""

import subprocess

from parity.adapters.git import source_revision
from parity.app.deploy.promote import promote
from parity.app.local import sources

from .deploy_fakes import ACCOUNT, image_id, make_ctx
from .test_promote import root, tested  # noqa: F401 - the fixture


def git(path, *args):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin", "HOME": str(path)}  # fmt: skip
    subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, env=env)


def commit_all(path, message):
    git(path, "add", "-A")
    git(path, "commit", "-qm", message)
    return subprocess.run(
        ["git", "-C", str(path), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def checkout(path):
    path.mkdir(parents=True)
    git(path, "init", "-q")
    (path / "app.py").write_text("v1\n")
    return commit_all(path, "one")


def test_the_context_commit_and_a_dirty_tree(tmp_path):
    repo = tmp_path / "parity"
    checkout(repo)
    (repo / "services" / "crawler").mkdir(parents=True)
    (repo / "services" / "crawler" / "main.py").write_text("x\n")
    (repo / "README").write_text("r\n")
    sha = commit_all(repo, "two")
    context = repo / "services" / "crawler"
    assert len(sha) == 40 and source_revision(context) == sha
    (repo / "README").write_text("changed outside the context\n")
    assert source_revision(context) == sha
    (context / "main.py").write_text("changed\n")
    assert source_revision(context) == f"{sha}-dirty"
    git(repo, "checkout", "--", ".")
    (context / "new.py").write_text("untracked\n")
    assert source_revision(context) == f"{sha}-dirty"
    assert source_revision(tmp_path / "nowhere") is None


def test_a_context_that_is_its_own_checkout_has_its_own_commit(tmp_path):
    outer = tmp_path / "parity"
    checkout(outer)
    inner_sha = checkout(outer / "services" / "website-agent")
    assert source_revision(outer / "services" / "website-agent") == inner_sha
    plain = tmp_path / "plain"
    plain.mkdir()
    assert source_revision(plain) is None


def test_a_clean_record_is_not_replaced_by_a_dirty_one(tmp_path):
    sources.record_builds(tmp_path, {"crawler": "sha256:c"}, {"crawler": "abc"})
    sources.record_builds(tmp_path, {"crawler": "sha256:c"}, {"crawler": "def-dirty"})
    assert sources.source_tag(tmp_path, "sha256:c") == "abc"
    sources.record_builds(tmp_path, {"crawler": "sha256:d"}, {"crawler": None})
    assert sources.source_tag(tmp_path, "sha256:d") == "source-unknown"
    assert sources.source_tag(tmp_path, "sha256:never-built") == "source-unknown"


def test_promote_tags_each_image_with_its_source(root):  # noqa: F811
    tested(root)
    sources.record_builds(root, {"website-agent": image_id("website-agent"), "crawler": image_id("crawler")},
                          {"website-agent": "a" * 40, "crawler": "b" * 40 + "-dirty"})  # fmt: skip
    ctx = make_ctx(root, "prod", url="https://huskit.example")
    promote(ctx)
    registry = f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/huskit"
    web, crawler = (image_id(s)[7:19] for s in ("website-agent", "crawler"))
    assert [ref for _i, ref in ctx.registry.tags] == [
        f"{registry}/website-agent:{'a' * 40}-{web}",
        f"{registry}/crawler:{'b' * 40}-dirty-{crawler}",
    ]
    assert f"crawler: tagged {'b' * 40}-dirty-{crawler}: built from uncommitted changes" in ctx.lines


def test_git_is_asked_about_the_services_being_built_alone():
    from parity.spec import load_stack

    from .conftest import ROOT

    stack = load_stack(ROOT, "local")
    asked = []
    one = next(iter(stack.services))
    assert sources.revisions(stack, ROOT, lambda path: asked.append(path) or "abc", [one]) == {one: "abc"}
    assert asked == [ROOT / stack.services[one].build.context]
    assert set(sources.revisions(stack, ROOT, lambda path: "abc")) == set(stack.services)
