"""Looking at an environment running: `inv status`, `inv logs`, `inv exec`
(with `--env`: ECS; without: the local stack).

- operate: the operating context (spec + small AWS interfaces), shared helpers
- operate_status: services, deployments, tasks, drift, the last e2e record
- operate_logs: CloudWatch Logs of a service
- operate_exec: ECS Exec (or docker exec locally)
"""
