"""The local stack: `inv up` (warm path, rolling replacement, `--watch`),
`inv down`, `inv build`, `inv load`, `inv render-local`, `inv images`.

- local_stack: up/down, the order things start in, compose's settings
- warm: what a warm `inv up` may skip, and how it knows
- replace: a service's replicas replaced one by one behind the edge
- watch: `inv up --watch` (edit -> rebuilt or synced -> served)
- images: build, save, load; their sizes
- sources: which commit each image was built from (the tag promote pushes)
- secrets: LocalStack seeded from localstack/secrets.json; values resolved for compose
- static: the built client in the bucket behind /assets/
- offline: stand-ins for upstream images (PARITY_OFFLINE=1)
"""
