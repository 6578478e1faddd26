"""The SHA-256 of everything the spec renders: each environment's CloudFormation
templates as `inv infra-render` prints them (tasks.py's own code, run in
process), the bootstrap stack's, each service's task definition, and the local
stack's compose files, edge config and WAF engine (as rendered, and the bytes
committed in compose/).

``tests/unit/fixtures/rendered-digests.json`` holds them as recorded from a
known commit (its ``from`` field); test_rendered_digests.py fails on any
difference. A restructuring must leave them as they are; a deliberate change
of a renderer records them again:

    python tests/unit/rendered_digests.py --write
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FILE = ROOT / "tests" / "unit" / "fixtures" / "rendered-digests.json"
ACCOUNT = "123456789012"


def sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def _tasks(root: Path) -> Any:
    spec = importlib.util.spec_from_file_location("_parity_tasks_for_digests", root / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _printed(fn: Any, *args: Any, **kwargs: Any) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        fn(*args, **kwargs)
    text = out.getvalue()
    if not text.startswith("{"):
        raise AssertionError(f"{fn.__name__}{args} printed no template: {text[:200]!r}")
    return text


def environments(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "deploy").glob("*.yaml"))


def collect(root: Path = ROOT) -> dict[str, str]:
    """artefact -> its digest, for the spec (stack.yaml, deploy/) and compose/ at ``root``."""
    from parity.render.compose import dump, render_compose, render_offline_override
    from parity.render.edge import render_edge
    from parity.render.infra import needs_edge_stack
    from parity.render.infra.identities import render_bootstrap_template
    from parity.render.taskdef import render_taskdef
    from parity.render.waf import render_waf_js
    from parity.spec import load_stack

    tasks = _tasks(root)
    render = tasks.infra_render.body.__wrapped__  # the task's code, without its error-to-exit wrapper
    out: dict[str, str] = {}
    for env in environments(root):
        stack = load_stack(root, env)
        out[f"infra-render --env {env}"] = sha(_printed(render, None, env))
        if needs_edge_stack(stack):
            out[f"infra-render --env {env} --edge"] = sha(_printed(render, None, env, edge=True))
        if stack.infra.github is not None:
            out[f"bootstrap template {env}"] = sha(json.dumps(render_bootstrap_template(stack), indent=2))
        for service in stack.services:
            taskdef = render_taskdef(stack, service, f"registry/{service}@sha256:{'0' * 64}", ACCOUNT)
            out[f"task definition {env} {service}"] = sha(json.dumps(taskdef, indent=2, sort_keys=True))
    local = load_stack(root, "local")
    out["rendered compose/compose.yaml"] = sha(dump(render_compose(local)))
    out["rendered compose/compose.offline.yaml"] = sha(dump(render_offline_override(local)))
    out["rendered edge config"] = sha(render_edge(local))
    out["rendered WAF engine"] = sha(render_waf_js(local))
    for path in sorted((root / "compose").rglob("*")):
        if path.is_file():
            out[f"committed {path.relative_to(root)}"] = sha(path.read_bytes())
    return out


def main() -> None:
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/unit/rendered_digests.py --write")
    sys.path.insert(0, str(ROOT / "src"))
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    FILE.write_text(json.dumps({"from": head.stdout.strip(), "digests": collect()}, indent=2) + "\n")
    print(f"wrote {FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
