// A module worker started by the page from /assets/ (served by the S3 behaviour in production):
// under COEP require-corp it loads only if its own response allows it, and is isolated only
// if the edge serves it with the isolation headers. It reports what it sees, once.
const scope = self as unknown as { crossOriginIsolated: boolean; postMessage(data: unknown): void };
scope.postMessage({ isolated: scope.crossOriginIsolated === true, sab: typeof SharedArrayBuffer === 'function' });
