"""Measuring the local stack: `inv bench`.

- bench: the figures, their record and the report's page
- bench_sse: the edge's SSE capacity (sse_load.mjs, run in a container)
- bench_loop: the edit loop (edit -> served), phase by phase
"""
