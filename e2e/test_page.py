"""Plan §12: "Website loads with COEP/COOP headers" and "WebContainer
initializes": the page is cross-origin isolated in a real browser, shared
memory works across threads, and the preview path stays embeddable."""

import pytest

COEP = ("cross-origin-embedder-policy", "require-corp")
COOP = ("cross-origin-opener-policy", "same-origin")

# What WebContainer needs: a SharedArrayBuffer shared with a worker thread.
SHARED_MEMORY_JS = """async () => {
  const sab = new SharedArrayBuffer(4);
  const view = new Int32Array(sab);
  const src = "onmessage = (e) => { Atomics.add(new Int32Array(e.data), 0, 41); postMessage('ok'); };";
  const worker = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
  await new Promise((resolve, reject) => {
    worker.onmessage = resolve;
    worker.onerror = (e) => reject(new Error('worker: ' + e.message));
    setTimeout(() => reject(new Error('worker did not answer in 5 s')), 5000);
    worker.postMessage(sab);
  });
  worker.terminate();
  Atomics.add(view, 0, 1);
  return Atomics.load(view, 0);
}"""


@pytest.mark.smoke
def test_page_has_coep_and_coop_headers(http):
    """The page loads through the edge with COEP require-corp and COOP same-origin"""
    r = http.get("/")
    assert r.status_code == 200, f"GET / answered {r.status_code}"
    assert "text/html" in r.headers.get("content-type", "")
    for name, value in (COEP, COOP):
        assert r.headers.get(name) == value, f"{name}: {r.headers.get(name)!r}, wanted {value!r}"


@pytest.mark.smoke
@pytest.mark.browser
def test_page_is_cross_origin_isolated_in_browser(page):
    """In Chromium the page is crossOriginIsolated and shares memory with a worker"""
    response = page.goto("/")
    assert response is not None and response.status == 200
    page.wait_for_function(
        "() => document.getElementById('coi-status').dataset.state !== 'pending'", timeout=10_000
    )  # a function: the CSP forbids eval
    assert page.evaluate("self.crossOriginIsolated") is True, (
        "self.crossOriginIsolated is false: COEP/COOP missing or wrong"
    )
    assert page.evaluate("typeof SharedArrayBuffer") == "function", "SharedArrayBuffer does not exist"
    assert page.text_content("#coi-status") == "true"
    assert page.text_content("#sab-status") == "true"
    assert page.evaluate(SHARED_MEMORY_JS) == 42, "a worker's Atomics.add on the SharedArrayBuffer was not seen"


@pytest.mark.smoke
def test_preview_path_has_no_isolation_headers(http):
    """/webcontainer/vercel-preview/... carries neither COEP nor COOP"""
    r = http.get("/webcontainer/vercel-preview/e2e-check/index.html")
    assert r.status_code == 200, f"preview answered {r.status_code}"
    for name, _ in (COEP, COOP):
        assert name not in r.headers, f"preview carries {name}: {r.headers[name]}"
