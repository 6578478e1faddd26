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


class FakeClock:
    """A clock that moves only when slept on."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
