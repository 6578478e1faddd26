"""Plan §12: "SSE streaming works >30s for LLM responses". A stream of one
tick a second runs through the edge for --stream-seconds (default 35, longer
than CloudFront's 30 s origin response timeout, which bounds only the silence
between bytes), and every event must arrive on time and in order: nothing on
the way buffers. An origin silent for longer than that timeout gets a 504."""

import time

import httpx
import pytest
from e2elib.sse import Event, describe, parse, timing_problems
from playwright.sync_api import TimeoutError as PlaywrightTimeout

SLACK = 20  # seconds beyond the stream's own length before giving up
SILENCE = 5.0  # a tick is due every second: this long without data means buffering


@pytest.fixture
def seconds(pytestconfig) -> int:
    return pytestconfig.getoption("stream_seconds")


@pytest.mark.smoke
@pytest.mark.long
def test_sse_stream_over_http(base_url, seconds):
    """SSE through the edge from a plain HTTP client: every tick on time, in order"""
    events: list[Event] = []
    timeout = httpx.Timeout(10, read=SILENCE)
    start = time.monotonic()

    def timed_lines(response: httpx.Response):
        for line in response.iter_lines():
            yield time.monotonic() - start, line
            if time.monotonic() - start > seconds + SLACK:
                break

    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        try:
            with client.stream(
                "GET", f"/api/stream?seconds={seconds}", headers={"accept": "text/event-stream"}
            ) as response:
                assert response.status_code == 200, f"/api/stream answered {response.status_code}"
                assert response.headers.get("content-type", "").startswith("text/event-stream")
                assert "content-length" not in response.headers, (
                    "the stream has a Content-Length: it was buffered whole"
                )
                for event in parse(timed_lines(response)):
                    events.append(event)
                    if event.name == "done":
                        break
        except httpx.ReadTimeout:
            pytest.fail(
                f"nothing arrived for {SILENCE:.0f} s (at {time.monotonic() - start:.1f} s, after {len(events)} events): "
                f"the response is buffered; arrivals: {describe(events) or 'none'}",
                pytrace=False,
            )
    problems = timing_problems(events, seconds)
    assert not problems, "; ".join(problems) + f"\narrivals: {describe(events)}"


# Records when each tick reaches the page's log (and when the stream is done),
# measured in the page, from the click that starts the EventSource.
RECORD_AND_START_JS = """(seconds) => {
  const log = document.getElementById('stream-log');
  const status = document.getElementById('stream-status');
  window.__e2e = { ticks: [], done: null, t0: 0 };
  new MutationObserver((muts) => {
    for (const m of muts) for (const n of m.addedNodes)
      if (n.nodeType === 1) window.__e2e.ticks.push([performance.now() - window.__e2e.t0, n.dataset.id]);
  }).observe(log, { childList: true });
  new MutationObserver(() => {
    if (status.textContent === 'done' && window.__e2e.done === null) window.__e2e.done = performance.now() - window.__e2e.t0;
  }).observe(status, { childList: true, characterData: true, subtree: true });
  document.getElementById('stream-seconds').value = String(seconds);
  window.__e2e.t0 = performance.now();
  document.getElementById('stream-start').click();
}"""


@pytest.mark.browser
@pytest.mark.long
def test_sse_stream_in_browser(page, seconds):
    """SSE through the edge in Chromium (EventSource): every tick on time, in order"""
    page.goto("/")
    page.wait_for_selector("#stream-start")
    page.evaluate(RECORD_AND_START_JS, seconds)
    try:
        page.wait_for_function(
            # a function, not an expression string: Playwright evals a string in the page, which the CSP forbids
            "() => document.getElementById('stream-status').textContent === 'done'",
            timeout=(seconds + SLACK) * 1000,
        )
    except PlaywrightTimeout:
        pass  # reported below, with what did arrive
    seen = page.evaluate("window.__e2e")
    events = [Event(at=t / 1000, name="tick", id=str(i)) for t, i in seen["ticks"]]
    if seen["done"] is not None:
        events.append(Event(at=seen["done"] / 1000, name="done"))
    problems = timing_problems(events, seconds)
    assert not problems, "; ".join(problems) + f"\narrivals: {describe(events)}"
    assert page.locator("#stream-log li").count() == seconds


@pytest.mark.smoke
@pytest.mark.long
def test_origin_silent_past_cloudfronts_timeout_is_a_504(base_url, spec):
    """An origin silent past CloudFront's origin response timeout gets a 504 through the edge"""
    timeout = spec.edge.origin_response_timeout
    start = time.monotonic()
    # The local edge does not retry a timed-out request (CloudFront may: allow for its attempts).
    with httpx.Client(base_url=base_url, timeout=httpx.Timeout(10, read=timeout * 3 + 15)) as client:
        r = client.get(f"/api/stream?seconds=1&delay={timeout + 5}", headers={"accept": "text/event-stream"})
    took = time.monotonic() - start
    assert r.status_code == 504, (
        f"delay {timeout + 5} s: HTTP {r.status_code} after {took:.1f} s, wanted CloudFront's 504"
    )
    assert took >= timeout - 1, f"504 after {took:.1f} s: the edge gave up before its {timeout} s timeout"
