"""The AWS environment as CloudFormation: `inv infra-render`, `inv infra-plan`,
`inv infra-apply` (`--planned`), `inv infra-bootstrap`, `inv infra-scan`.

- infra: plan (change sets), apply, adopt what exists, the kept plan of infra.yml
- stack_states: what each CloudFormation stack state means, what to run next
- infra_scan: checkov on every environment's template
"""
