"""tasks.py's ``cli`` decorator and the command-line checks that run before
anything touches Docker or AWS: one line, the right exit code, no traceback."""

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoRegionError
from invoke import Exit

from .conftest import ROOT


def load_tasks():
    spec = importlib.util.spec_from_file_location("parity_tasks", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("exc", "line", "code"),
    [
        (
            EndpointConnectionError(endpoint_url="https://ecs.eu-central-1.amazonaws.com/"),
            "error: AWS: Could not connect to the endpoint URL",
            1,
        ),
        (
            ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "DescribeServices"),
            "error: AWS: ThrottlingException: Rate exceeded",
            1,
        ),
        (NoRegionError(), "error: AWS: You must specify a region.", 1),
    ],
)
def test_an_aws_error_that_escaped_its_adapter_is_still_one_line(exc, line, code):
    tasks = load_tasks()

    @tasks.cli
    def failing():
        raise exc

    with pytest.raises(Exit) as caught:
        failing()
    assert caught.value.code == code
    assert str(caught.value.message).startswith(line) and "\n" not in caught.value.message


def test_other_exceptions_are_not_swallowed():
    tasks = load_tasks()

    @tasks.cli
    def failing():
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        failing()


def repo_copy(tmp_path):
    """tasks.py and the spec in a folder of their own (the package from this worktree)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "tasks.py", repo)
    shutil.copy(ROOT / "stack.yaml", repo)
    shutil.copytree(ROOT / "deploy", repo / "deploy")
    return repo


def inv(repo, *args):
    env = {
        "PATH": f"{os.path.dirname(sys.executable)}:/nonexistent-so-docker-cannot-run",
        "HOME": str(repo),
        "PYTHONPATH": str(ROOT / "src"),
    }
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=repo, capture_output=True, text=True, env=env, timeout=60
    )


def test_render_local_with_a_rate_limit_that_is_not_a_clean_prefix_exits_2_with_one_line(tmp_path):
    repo = repo_copy(tmp_path)
    overlay = repo / "deploy" / "local.yaml"
    overlay.write_text(overlay.read_text() + "edge:\n  rate_limits:\n    - {path: /api/auth, limit: 20, window: 300}\n")
    proc = inv(repo, "render-local")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        "error: stack.yaml + deploy/local.yaml: edge.rate_limits.0.path: "
        "'/api/auth' is not a path prefix: it must start and end with '/' (e.g. /api/auth/)"
    )
    assert not (repo / "compose").exists()  # nothing was written


@pytest.mark.parametrize(
    "args",
    [
        ("logs", "--service", "web"),
        ("logs", "--env", "prod", "--service", "web"),
        ("exec", "--service", "web"),
        ("exec", "--env", "staging", "--service", "web"),
        ("rollback", "--env", "prod", "--service", "web"),
    ],
)
def test_an_unknown_service_exits_2_with_the_known_names(tmp_path, args):
    proc = inv(repo_copy(tmp_path), *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().startswith("error: unknown service 'web' (known: website-agent, crawler")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_console_prints_arns_as_they_are():
    """rich would turn ``:secret:`` (in every Secrets Manager ARN) into an emoji."""
    from parity.console import console, err_console

    arn = "arn:aws:secretsmanager:eu-central-1:ACCOUNT_ID:secret:huskit/prod/crawler:MONGODB_URI::"
    for con in (console, err_console):
        with con.capture() as out:
            con.print(arn, markup=False, soft_wrap=True)
        assert out.get().strip() == arn


@pytest.mark.parametrize("args", [("logs",), ("logs", "--tail", "200"), ("logs", "--since", "10m", "--filter", "GET")])
def test_logs_of_every_service_parse(tmp_path, args):
    """`inv logs` without a service (as CI's `inv logs --tail 200` runs it): the
    arguments are taken and the task goes as far as looking for docker
    (absent here), where invoke used to stop wanting a positional SERVICE."""
    proc = inv(repo_copy(tmp_path), *args)
    assert proc.returncode == 1, proc.stderr
    assert (
        proc.stderr.strip()
        == "error: the docker CLI is not installed (hint: install Docker Engine with the compose plugin)"
    )
