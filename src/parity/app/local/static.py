"""The built client, as the plan's pipeline publishes it: copied out of the
exact image, uploaded to the edge's bucket with /assets/* immutable for a year
and everything else for an hour. Used by `inv up` (LocalStack) and `inv promote`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from parity.adapters.aws import Bucket
from parity.adapters.docker import Docker
from parity.spec import Stack


def cache_control_for(stack: Stack) -> Callable[[str], str]:
    """Cache-Control by object key, from the spec's S3 routes."""
    immutable = [r.path.lstrip("/") for r in stack.edge.routes if r.origin == "s3" and r.cache == "immutable"]

    def pick(key: str) -> str:
        if any(key.startswith(p) for p in immutable):
            return "public, max-age=31536000, immutable"
        return "public, max-age=3600"

    return pick


def publish_clients(
    stack: Stack, docker: Docker, bucket: Bucket, images: Mapping[str, str], skip_unchanged: bool = False
) -> int:
    """Upload the client of every service in ``images`` (service -> image
    reference) that has one; returns the number of files uploaded
    (``skip_unchanged``: not those the bucket holds already)."""
    count = 0
    for service, image in images.items():
        static_dir = stack.services[service].static_dir
        if static_dir:
            with docker.copied_out(image, static_dir) as folder:
                count += bucket.sync(folder, cache_control_for(stack), skip_unchanged)
    return count
