"""Plan §12: "CloudFront serves static assets with correct cache headers".

Hashed client files (/assets/*) come from the S3 bucket through the edge's
cache, immutable for a year; other static files are cached an hour; HTML and
/api/* are never cached."""

import re

import pytest

ASSET_RE = re.compile(r'(?:href|src)="(/assets/[^"]+)"')
YEAR = "max-age=31536000"
HOUR = "max-age=3600"
NOT_CACHEABLE = ("no-store", "no-cache", "private", "max-age=0")


def _asset_paths(http) -> list[str]:
    html = http.get("/").text
    found = sorted(set(ASSET_RE.findall(html)))
    assert found, "the page links no /assets/* file"
    return found


def _directives(cache_control: str) -> set[str]:
    return {d.strip().lower() for d in cache_control.split(",") if d.strip()}


@pytest.mark.smoke
def test_hashed_assets_are_immutable(http):
    """/assets/* are served with `immutable, max-age=31536000`"""
    for path in _asset_paths(http):
        r = http.get(path)
        assert r.status_code == 200, f"{path}: HTTP {r.status_code}"
        cc = _directives(r.headers.get("cache-control", ""))
        assert {"immutable", YEAR} <= cc, f"{path}: Cache-Control {r.headers.get('cache-control')!r}"
        assert r.headers.get("content-type", "").split(";")[0] in (
            "text/css",
            "text/javascript",
            "application/javascript",
        )


@pytest.mark.smoke
def test_assets_come_from_the_s3_origin_via_the_cdn_cache(http):
    """/assets/* come from the S3 origin through the edge cache (X-Cache, S3 ETag)"""
    for path in _asset_paths(http):
        http.get(path)
        r = http.get(path)
        x_cache = r.headers.get("x-cache", "")
        assert re.search(r"from (edge|cloudfront)", x_cache, re.I), (
            f"{path}: X-Cache {x_cache!r}: not through the CDN's S3 behaviour"
        )
        assert x_cache.lower().startswith("hit"), f"{path}: second fetch not a cache hit (X-Cache {x_cache!r})"
        etag = r.headers.get("etag", "")
        assert re.fullmatch(r'"[0-9a-f]{32}(-\d+)?"', etag), (
            f"{path}: ETag {etag!r} is not S3's (MD5): not from the bucket"
        )
        assert "x-powered-by" not in r.headers


@pytest.mark.smoke
def test_other_static_files_cached_one_hour(http):
    """Non-hashed static files (/favicon.svg) are cached for an hour, not immutable"""
    r = http.get("/favicon.svg")
    assert r.status_code == 200, f"/favicon.svg: HTTP {r.status_code}"
    cc = _directives(r.headers.get("cache-control", ""))
    assert HOUR in cc and "immutable" not in cc, f"/favicon.svg: Cache-Control {r.headers.get('cache-control')!r}"


@pytest.mark.smoke
@pytest.mark.parametrize("path", ["/", "/api/crawler/health"])
def test_html_and_api_are_not_cached(http, path):
    """HTML and /api/* are not cached, at the edge or in the browser"""
    for _ in range(2):
        r = http.get(path)
        cc = _directives(r.headers.get("cache-control", ""))
        assert cc & set(NOT_CACHEABLE), f"{path}: Cache-Control {r.headers.get('cache-control')!r} allows caching"
        assert not r.headers.get("x-cache", "").lower().startswith("hit"), f"{path}: served from the edge cache"


@pytest.mark.container
def test_assets_match_the_bucket_objects(http, spec, local):
    """/assets/* through the edge are the bucket's objects (ETag, bytes, Cache-Control)"""
    import boto3

    name, dep = next((n, d) for n, d in spec.local.dependencies.items() if d.kind == "localstack")
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{dep.publish}",
        region_name=spec.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    for path in _asset_paths(http):
        obj = s3.get_object(Bucket=spec.edge.bucket, Key=path.lstrip("/"))
        r = http.get(path)
        assert r.headers.get("etag") == obj["ETag"], (
            f"{path}: edge ETag {r.headers.get('etag')} != bucket {obj['ETag']}"
        )
        assert r.content == obj["Body"].read(), f"{path}: bytes differ from s3://{spec.edge.bucket}/{path.lstrip('/')}"
        assert r.headers.get("cache-control") == obj.get("CacheControl"), (
            f"{path}: Cache-Control differs from the object's"
        )
