"""Integration tests bring the real stack up with the real `inv up` (offline
stand-ins when PARITY_OFFLINE=1) and inspect it with the docker CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "huskit"


def inv(*args: str, check: bool = True, timeout: float = 1500) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"inv {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def docker(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def containers_of(service: str) -> list[str]:
    out = docker(
        "ps",
        "-q",
        "--filter",
        f"label=com.docker.compose.project={PROJECT}",
        "--filter",
        f"label=com.docker.compose.service={service}",
    ).stdout.split()
    assert out, f"no running container for {service}"
    return out


def inspect(container: str) -> dict:
    return json.loads(docker("inspect", container).stdout)[0]


@pytest.fixture(scope="session")
def stack():
    """The stack, up and healthy; the output of the `inv up` that started it."""
    proc = inv("up")
    return proc.stdout + proc.stderr
