"""No docker call prints the environment, whatever PYTHON_ON_WHALES_DEBUG says:
python-on-whales dumps the whole environment of a call (secrets included)
when it is 1. A stand-in `docker` on PATH answers every call, so no engine
is needed; the real python-on-whales code paths run."""

import os
import subprocess
import sys
import textwrap

from .conftest import ROOT

SECRET = "hunter2-never-printed"

SCRIPT = textwrap.dedent(
    f"""
    import os
    from parity.adapters.docker import Compose, Docker
    os.environ["PYTHON_ON_WHALES_DEBUG"] = "1"   # set again after the import
    os.environ["SOME_TOKEN"] = "{SECRET}"
    Docker().tag("a", "b")
    os.environ["PYTHON_ON_WHALES_DEBUG"] = "1"
    Compose([], "p").up(env={{"DATABASE_URL": "{SECRET}"}})
    os.environ["PYTHON_ON_WHALES_DEBUG"] = "1"
    Docker().login("127.0.0.1:5055", "AWS", "{SECRET}")
    os.environ["PYTHON_ON_WHALES_DEBUG"] = "1"
    Compose([], "p").exec("c", ["true"], env={{"X_SECRET": "{SECRET}"}})
    print("calls done")
    """
)


def test_no_docker_call_prints_the_environment(tmp_path):
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{fake.parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "src"),
        "PYTHON_ON_WHALES_DEBUG": "1",
        "ANOTHER_SECRET": SECRET,
    }
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "calls done" in proc.stdout
    out = proc.stdout + proc.stderr
    assert SECRET not in out
    assert "Env:" not in out
