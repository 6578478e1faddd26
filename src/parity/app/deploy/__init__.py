"""Deploying to ECS: `inv render --env`, `inv promote`, `inv rollback`.

- context: the environment's spec and small interfaces to ECS, ECR, the registry
- release: the task definitions an environment would run, images pinned by digest
- changes: what a promote would change (diffs against the live revisions)
- promote: push, register, deploy, wait, smoke, roll back on failure
- rollout: following one ECS deployment to its end
- rollback: the previous revision, registered again
"""
