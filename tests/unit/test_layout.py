"""Where things are: app/ holds its capabilities as sub-packages and only a
handful of modules itself; each sub-package opens with a docstring naming its
verbs, and every verb named is a task of tasks.py."""

from __future__ import annotations

import ast
import importlib.util
import re

import invoke

from .conftest import ROOT

APP = ROOT / "src" / "parity" / "app"
HANDFUL = 5
VERB = re.compile(r"`inv ([a-z][a-z0-9-]*)")


def task_names() -> set[str]:
    spec = importlib.util.spec_from_file_location("parity_tasks_for_layout", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return set(invoke.Collection.from_module(module).task_names)


def test_app_holds_a_handful_of_modules_and_its_capabilities_as_packages():
    direct = sorted(p.name for p in APP.glob("*.py") if p.name != "__init__.py")
    assert len(direct) <= HANDFUL, f"app/ holds {len(direct)} modules directly: {', '.join(direct)}"
    packages = sorted(p.name for p in APP.iterdir() if (p / "__init__.py").is_file())
    assert len(packages) >= 4, packages


def test_each_package_names_its_verbs_and_each_verb_is_a_task():
    tasks = task_names()
    for init in sorted(APP.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        verbs = set(VERB.findall(doc))
        assert verbs, f"{init.relative_to(ROOT)}: its docstring names no verb (`inv ...`)"
        assert verbs <= tasks, f"{init.relative_to(ROOT)} names {sorted(verbs - tasks)}, which tasks.py does not define"
        for module in sorted(init.parent.glob("*.py")):
            if module.name != "__init__.py":
                assert module.stem in doc, (
                    f"{init.relative_to(ROOT)}: its docstring does not say what {module.name} holds"
                )
