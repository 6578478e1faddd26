import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def raw_spec() -> dict:
    return yaml.safe_load((ROOT / "stack.yaml").read_text())


@pytest.fixture
def spec(raw_spec) -> dict:
    """A fresh, mutable copy of the real stack.yaml."""
    data = copy.deepcopy(raw_spec)
    data["env"] = "local"
    return data
