"""`pip install -e '.[dev]'` must bring everything `inv test` imports, the
crawler's own suite included (it runs in the toolkit's environment)."""

import re
import tomllib

from .conftest import ROOT


def names(lines):
    out = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            out.add(re.split(r"[<>=!~\[ ;]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return out


def test_dev_extras_cover_the_crawler_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    ours = names(project["dependencies"]) | names(project["optional-dependencies"]["dev"])
    crawler = ROOT / "services" / "crawler"
    needed = names((crawler / "requirements.txt").read_text().splitlines())
    needed |= names((crawler / "requirements-test.txt").read_text().splitlines())
    assert needed - ours == set()


def test_the_bench_load_generator_ships_with_the_package():
    import tomllib

    from parity.app.benchmarks.bench_sse import SCRIPT

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert SCRIPT.is_file()
    assert "*.mjs" in data["tool"]["setuptools"]["package-data"]["parity.app.benchmarks"]


def test_the_edge_waf_engine_ships_with_the_package():
    import tomllib

    from parity.render.waf import ENGINE

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert ENGINE.is_file()
    assert "*.js" in data["tool"]["setuptools"]["package-data"]["parity.render"]
