"""The first day of production, offline: `inv rehearse` (bootstrap, then every
workflow job's AWS steps against the emulator with IAM enforced, as that job's role).

- rehearse: the run, its tree of named checks (OK / NG / SKIP)
- rehearse_jobs: each workflow job's steps (infrastructure and deploy, as they run in CI)
"""
