"""What proves the stack: `inv e2e`, `inv parity`, `inv test`,
`inv service-test`.

- e2e_run: the e2e suite against the stack, in groups; its records
- e2e_client: the e2e's own client network to the edge
- records: the e2e records promote reads (by image ID, group, age)
- parity: the running stack, the spec and the task definition, field by field
- test_run: every suite in order (`inv test`), each service's own suite
"""
