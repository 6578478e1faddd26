"""The environment as one CloudFormation template, rendered purely from the
spec (``inv infra-render``): network, edge (ALB, CloudFront, WAF), ECS, IAM and
operations (alarms, autoscaling, budget). Account and region stay pseudo
parameters; per-environment values come from the overlay.

Ownership (README "Who owns what in AWS"): the template owns the services but
not their revision. Each service takes a ``<Logical>TaskDefinition`` parameter;
empty, the service starts on a placeholder revision at zero tasks; given (what
ECS runs now, passed back by ``infra-plan``/``infra-apply``), it stays on it.
"""

from __future__ import annotations

from typing import Any

from parity.errors import ConfigError
from parity.render.infra import ecs, edge, iam, network, ops
from parity.render.infra.common import Template, logical, stack_name, taskdef_parameter, uses_tls
from parity.render.infra.edge import needs_edge_stack
from parity.spec import Stack

__all__ = [
    "STATEFUL_TYPES",
    "logical",
    "needs_edge_stack",
    "render_edge_template",
    "render_template",
    "stack_name",
    "taskdef_parameter",
]

# Replacing (or removing) one of these loses something a new one does not bring back: a plan
# calls it out, saying what goes.
STATEFUL_TYPES = {
    "AWS::S3::Bucket": "its objects go",
    "AWS::Logs::LogGroup": "its logs go",
    "AWS::ECR::Repository": "its images go",
    "AWS::SecretsManager::Secret": "its values go",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "a new DNS name: infra.origin_domain's record must follow",
    "AWS::ServiceDiscovery::PrivateDnsNamespace": "its discovery names (crawler.internal) go until the services register again",
}


def check(stack: Stack) -> None:
    """What applying to a real account needs that rendering and an emulator do
    not (the template takes them as parameters): one line each, exit 2."""
    if not uses_tls(stack):
        return
    if not stack.infra.certificate_arn:
        raise ConfigError(
            f"deploy/{stack.env}.yaml: infra.certificate_arn: required key is missing "
            "(the ALB's HTTPS listener needs an ACM certificate in the stack's region)"
        )


def render_template(stack: Stack) -> dict[str, Any]:
    """The CloudFormation template of the environment ``stack.env``. Values only
    a real account has (the certificate, the origin's name) are parameters, so it
    renders before they exist; ``check`` refuses to apply without them."""
    t = Template(stack)
    network.render(t)
    ecs.render_registries(t)
    iam.render(t)
    iam.render_exec(t)
    edge.render(t)
    ecs.render_services(t)
    ops.render(t)
    ecs.reference_alarms(t)
    return t.document()


def render_edge_template(stack: Stack) -> dict[str, Any]:
    """The companion stack ``<stack>-edge`` (us-east-1): the web ACL, where
    ``needs_edge_stack``; the environment's stack takes its ARN as a parameter.
    It holds no certificate, so it renders without one (``check`` is the apply's)."""
    t = Template(stack, part="edge")
    edge.render_edge(t)
    return t.document()
