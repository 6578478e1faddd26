"""Unit tests: SSRF address classification, guard policy, settings, url validation."""

import asyncio

import pytest

from crawler_app.crawl import CrawlError, redact, validate_url
from crawler_app.settings import Settings
from crawler_app.ssrf import ForbiddenTarget, Guard, Unresolvable, check_addresses, classify, is_allowed


@pytest.mark.parametrize(
    "addr,kind",
    [
        ("169.254.169.254", "metadata"),  # EC2 IMDS
        ("169.254.170.2", "metadata"),  # ECS task metadata / credentials
        ("169.254.0.1", "metadata"),
        ("fe80::1", "metadata"),
        ("fe80::1%eth0", "metadata"),
        ("fd00:ec2::254", "metadata"),  # EC2 IMDS over IPv6
        ("::ffff:169.254.169.254", "metadata"),  # IPv4-mapped
        ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64-embedded
        ("100.100.100.200", "metadata"),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "reserved"),  # TEST-NET-1
        ("198.18.0.1", "reserved"),  # benchmarking
        ("2001:db8::1", "reserved"),  # documentation
        ("10.0.0.1", "private"),
        ("10.255.255.255", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # carrier-grade NAT
        ("100.127.255.254", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("93.184.216.34", "public"),
        ("8.8.8.8", "public"),
        ("172.32.0.1", "public"),
        ("100.128.0.1", "public"),
        ("2606:4700::1111", "public"),
    ],
)
def test_classify(addr, kind):
    assert classify(addr) == kind


@pytest.mark.parametrize("kind", ["metadata", "multicast", "unspecified", "reserved"])
def test_always_forbidden_whatever_the_settings(kind):
    assert not is_allowed(kind, allow_private=True, allow_loopback=True)


def test_policy_private_and_loopback_need_opt_in():
    assert is_allowed("public", allow_private=False)
    assert not is_allowed("private", allow_private=False)
    assert is_allowed("private", allow_private=True)
    assert not is_allowed("loopback", allow_private=True)
    assert is_allowed("loopback", allow_private=False, allow_loopback=True)


def test_any_bad_record_refuses_the_host():
    check_addresses("ok.test", ["93.184.216.34", "2606:4700::1111"], allow_private=False)
    with pytest.raises(ForbiddenTarget) as exc:
        check_addresses("mixed.test", ["93.184.216.34", "169.254.169.254"], allow_private=True)
    assert exc.value.kind == "metadata"
    with pytest.raises(ForbiddenTarget):
        check_addresses("lan.test", ["93.184.216.34", "10.0.0.5"], allow_private=False)
    check_addresses("lan.test", ["93.184.216.34", "10.0.0.5"], allow_private=True)
    with pytest.raises(Unresolvable):
        check_addresses("empty.test", [], allow_private=True)


def test_guard_resolves_caches_and_times_out():
    calls = []

    async def resolver(host):
        calls.append(host)
        if host == "slow.test":
            await asyncio.sleep(5)
        return {"meta.test": ["169.254.170.2"], "pub.test": ["8.8.8.8"]}[host]

    async def run():
        g = Guard(resolver, allow_private=True, allow_loopback=False, timeout=0.2)
        await g.check_host("pub.test")
        await g.check_host("PUB.test")
        for _ in range(2):
            with pytest.raises(ForbiddenTarget):
                await g.check_host("meta.test")
        with pytest.raises(Unresolvable):
            await g.check_host("slow.test")
        with pytest.raises(ForbiddenTarget):
            g.check_ip("169.254.169.254")
        g.check_ip("10.0.0.1")  # private allowed here

    asyncio.run(run())
    assert calls == ["pub.test", "meta.test", "slow.test"]


def test_settings_defaults_are_safe():
    s = Settings.from_env({})
    assert (s.host, s.port, s.mongodb_database) == ("0.0.0.0", 4999, "crawler_db")
    assert s.crawl_timeout == 30 and s.max_pages == 2 and s.headless is True
    assert s.allow_private_networks is False
    assert s.allow_loopback is False  # never enabled from the environment
    assert s.reload is True  # NODE_ENV defaults to development, as in the plan
    assert "mongodb_uri" not in repr(Settings(mongodb_uri="mongodb://u:secret@h/"))


def test_settings_from_env():
    s = Settings.from_env(
        {
            "HOST": "127.0.0.1",
            "PORT": "5000",
            "NODE_ENV": "production",
            "MONGODB_URI": "mongodb://db:27017",
            "MONGODB_DATABASE": "other",
            "CRAWL4AI_TIMEOUT": "12.5",
            "CRAWL4AI_HEADLESS": "True",
            "CRAWLER_MAX_PAGES": "4",
            "CHROMIUM_PATH": "/opt/chrome",
            "CRAWLER_ALLOW_PRIVATE_NETWORKS": "true",
            "CRAWLER_ALLOW_LOOPBACK": "true",
            "CRAWLER_BROWSER_ENDPOINT": "ws://127.0.0.1:9323/",
            "CRAWLER_MAX_PAGES_PER_USER": "2",
            "CRAWLER_MAX_QUEUED_PER_USER": "0",
        }
    )
    assert s.browser_endpoint == "ws://127.0.0.1:9323/"
    assert (s.max_pages_per_user, s.max_queued_per_user) == (2, 0)
    assert s.api_docs is False and Settings(node_env="development").api_docs is True
    assert (s.host, s.port, s.node_env, s.reload) == ("127.0.0.1", 5000, "production", False)
    assert (s.mongodb_uri, s.mongodb_database, s.crawl_timeout, s.max_pages) == ("mongodb://db:27017", "other", 12.5, 4)
    assert s.chromium_path == "/opt/chrome" and s.allow_private_networks is True
    assert s.allow_loopback is False
    with pytest.raises(ValueError):
        Settings.from_env({"CRAWLER_ALLOW_PRIVATE_NETWORKS": "maybe"})
    with pytest.raises(ValueError):
        Settings.from_env({"CRAWLER_MAX_PAGES": "0"})


@pytest.mark.parametrize(
    "url",
    [None, 42, "", "   ", "ftp://example.com/", "file:///etc/passwd", "javascript:alert(1)", "data:text/html,hi",
     "example.com", "http://", "http:///path", "http://exa mple.com/", "http://example.com:99999/",
     "http://example.com/" + "a" * 3000],
)
def test_validate_url_rejects(url):
    with pytest.raises(CrawlError) as exc:
        validate_url(url)
    assert (exc.value.status, exc.value.code) == (400, "invalid_url")


def test_validate_url_accepts_and_redacts():
    assert validate_url(" https://Example.com/a?b=c ") == "https://Example.com/a?b=c"
    assert redact("https://user:pw@example.com:8443/p?token=s#f") == "https://example.com:8443/p"


def test_browser_env_holds_nothing_but_the_basics():
    from crawler_app.browser import browser_env

    env = browser_env({"PATH": "/usr/bin", "HOME": "/home/crawler", "MONGODB_URI": "mongodb://u:p@h/",
                       "GROQ_API_KEY": "k", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"})
    assert env == {"PATH": "/usr/bin", "HOME": "/home/crawler"}
    assert browser_env({})["PATH"]
