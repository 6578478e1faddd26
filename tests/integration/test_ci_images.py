"""The CI hand-over with the real engine: images built once, saved with their
IDs, loaded back with the same IDs, and run by `inv up --no-build`."""

import json

import pytest

from .conftest import containers_of, docker, inv

pytestmark = pytest.mark.integration


def test_build_save_load_up_no_build_keeps_the_image_ids(stack, tmp_path):
    out = tmp_path / "images"
    inv("build", "--save", str(out))
    ids = json.loads((out / "images.json").read_text())
    assert set(ids) == {"website-agent", "crawler"} and all(v.startswith("sha256:") for v in ids.values())
    assert (out / "crawler.tar").stat().st_size > 1_000_000
    proc = inv("load", "--dir", str(tmp_path))
    for service, image_id in ids.items():
        assert f"loaded {service}: {image_id}" in proc.stdout
    proc = inv("up", "--no-build")
    assert "using the service images already here (--no-build)" in proc.stdout
    for service, image_id in ids.items():
        for container in containers_of(service):
            assert docker("inspect", "-f", "{{.Image}}", container).stdout.strip() == image_id
