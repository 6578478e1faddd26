"""Publishing the built client: the plan's Cache-Control per key, copied out of
the given image only for services that have a client, temp copies cleaned up."""

import contextlib
from pathlib import Path

from parity.app.local.static import cache_control_for, publish_clients
from parity.spec.load import load_stack

from .conftest import ROOT


def test_cache_control_follows_the_s3_routes():
    pick = cache_control_for(load_stack(ROOT))
    assert pick("assets/app-XZRW3KPH.js") == "public, max-age=31536000, immutable"
    assert pick("favicon.svg") == "public, max-age=3600"
    assert pick("robots.txt") == "public, max-age=3600"


class FakeDocker:
    def __init__(self, tmp: Path):
        self.tmp, self.copies = tmp, []

    @contextlib.contextmanager
    def copied_out(self, image, path):
        folder = self.tmp / "client"
        (folder / "assets").mkdir(parents=True)
        (folder / "assets" / "app-1.js").write_text("x")
        (folder / "favicon.svg").write_text("<svg/>")
        self.copies.append((image, path))
        yield folder


class FakeBucket:
    def __init__(self):
        self.uploads = {}

    def sync(self, folder, cache_control, skip_unchanged=False):
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                key = p.relative_to(folder).as_posix()
                self.uploads[key] = cache_control(key)
        return len(self.uploads)


def test_publish_only_services_with_a_client(tmp_path):
    stack = load_stack(ROOT)
    docker, bucket = FakeDocker(tmp_path), FakeBucket()
    count = publish_clients(stack, docker, bucket, {"website-agent": "img@sha256:web", "crawler": "img@sha256:c"})
    assert count == 2
    assert docker.copies == [("img@sha256:web", "/app/build/client")]
    assert bucket.uploads == {
        "assets/app-1.js": "public, max-age=31536000, immutable",
        "favicon.svg": "public, max-age=3600",
    }


def test_a_sync_that_skips_unchanged_uploads_only_what_the_bucket_does_not_hold(tmp_path, monkeypatch):
    """Against moto's S3 (in process): the ETags it keeps are the MD5s S3 gives a single-part upload."""
    from moto import mock_aws

    from parity.adapters.aws import AwsTarget, Bucket

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    folder = tmp_path / "client"
    (folder / "assets").mkdir(parents=True)
    (folder / "assets" / "app-1.js").write_text("one")
    (folder / "index.txt").write_text("index")
    pick = cache_control_for(load_stack(ROOT))
    with mock_aws():
        bucket = Bucket(AwsTarget(region="eu-central-1"), "huskit-static-test")
        bucket.ensure()
        assert bucket.sync(folder, pick, skip_unchanged=True) == 2  # an empty bucket: everything
        assert bucket.sync(folder, pick, skip_unchanged=True) == 0
        (folder / "assets" / "app-2.js").write_text("two")
        (folder / "index.txt").write_text("index, changed")
        assert bucket.sync(folder, pick, skip_unchanged=True) == 2
        assert bucket.sync(folder, pick) == 3  # without: every file, as promote uploads
        body = bucket.s3.get_object(Bucket="huskit-static-test", Key="index.txt")
        assert body["Body"].read() == b"index, changed" and body["CacheControl"] == "public, max-age=3600"
