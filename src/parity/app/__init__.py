"""Use cases: what the tasks do, written against small interfaces. By capability:

- local/           the local stack: `inv up` (warm, rolling, --watch), down, build, load, render-local, images
- checks/          `inv e2e`, parity, test, service-test (and the e2e records promote reads)
- infrastructure/  `inv infra-render`, infra-plan, infra-apply, infra-bootstrap, infra-scan
- deploy/          `inv render --env`, promote, rollback
- rehearsal/       `inv rehearse`
- operations/      `inv status`, logs, exec (--env)
- benchmarks/      `inv bench`

Beside them, what all of them use: workspace (where things are, the mode),
jsonfile (records on disk) and report (`inv report`: each run's record stamped,
the page drawn from them). No module imports one that imports it back
(tests/unit/test_import_cycles.py).
"""
