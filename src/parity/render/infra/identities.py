"""Who may change an environment: its bootstrap stack ``<stack>-bootstrap``,
rendered from the spec and applied ONCE by an administrator (``inv
infra-bootstrap --env ENV``), before any workflow can reach AWS.

It holds what the environment's own stack must not hold, because the stack
cannot be created by a role it creates and a CloudFormation service role must
outlive every operation of the stack it serves:

- the account's GitHub OIDC provider (in the environment that owns it);
- the environment stack's CloudFormation service role ``<stack>-cloudformation``:
  trusted by CloudFormation only, allowed the services of the resource types
  the environment's templates hold and, in IAM, only the roles they create;
- one role per kind of workflow job, each trusted by exactly the OIDC claims
  of the jobs of that kind (``sub`` = ``repo:OWNER/REPO:environment:ENV``
  for a job in a GitHub environment, ``repo:OWNER/REPO:ref:refs/heads/BRANCH``
  for one without; ``aud`` = ``sts.amazonaws.com``), allowed what its steps call:

  ``plan``     infra.yml's plan job (main, no environment: reviewers see the plan
               before they approve): read the stacks and services, look up which
               of the template's fixed-name resources exist already (to adopt
               them), create and delete change sets, pass the service role to
               CloudFormation.
  ``apply``    infra.yml's apply job (the environment): the plan's rights,
               executing a change set and deleting a first creation that was
               rolled back; everything else is the service role's.
  ``promote``  main.yml's deploy job and rollback.yml (the environment):
               ``inv infra-plan`` (the plan's rights), then push to ECR, register
               the task definitions of this environment's families only, update
               its services, deregister a revision that failed, publish the client
               to the bucket, invalidate CloudFront.

Which job runs which steps with which role is read from the workflows by the
rehearsal (``inv rehearse``), which fails when a job needs more than its role
allows or assumes a role that does not trust it.
"""

from __future__ import annotations

from typing import Any

from parity.render.infra import edge, iam, render_template
from parity.render.infra.common import Template, arn, stack_name
from parity.render.infra.edge import WAF_REGION, needs_edge_stack
from parity.render.taskdef import family, repository
from parity.spec import Stack

GITHUB = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
KINDS = ("plan", "apply", "promote")

# The IAM service prefixes a resource type's create, update and delete handlers
# call (its namespace, and what it creates beside it: a Cloud Map namespace is a
# Route 53 hosted zone; an ECS service or ALB may create its service-linked role).
SERVICES_OF_TYPES = {
    "AWS::ApplicationAutoScaling::": ["application-autoscaling", "cloudwatch"],
    "AWS::Budgets::": ["budgets"],
    "AWS::CloudFront::": ["cloudfront"],
    "AWS::CloudWatch::": ["cloudwatch"],
    "AWS::EC2::": ["ec2"],
    "AWS::ECR::": ["ecr"],
    "AWS::ECS::": ["ecs"],
    "AWS::ElasticLoadBalancingV2::": ["elasticloadbalancing", "acm"],
    "AWS::IAM::": [],  # below: only the roles the templates name
    "AWS::Logs::": ["logs"],
    "AWS::S3::": ["s3"],
    "AWS::SecretsManager::": ["secretsmanager"],
    "AWS::ServiceDiscovery::": ["servicediscovery", "route53"],
    "AWS::SNS::": ["sns"],
    "AWS::WAFv2::": ["wafv2"],
}
SERVICE_LINKED = [
    "ecs.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
    "ecs.application-autoscaling.amazonaws.com",
]


def bootstrap_name(stack: Stack) -> str:
    return f"{stack_name(stack)}-bootstrap"


def role_name(stack: Stack, kind: str) -> str:
    """``huskit-prod-github-promote``; ``cloudformation``: the stack's service role."""
    return f"{stack_name(stack)}-{'cloudformation' if kind == 'cloudformation' else 'github-' + kind}"


def github_environment(stack: Stack) -> str:
    gh = stack.infra.github
    return (gh.environment if gh and gh.environment else None) or stack.env


def subjects(stack: Stack, kind: str) -> list[str]:
    """The OIDC ``sub`` claims a role of this kind trusts."""
    gh = stack.infra.github
    if gh is None:
        return []
    context = f"ref:refs/heads/{gh.branch}" if kind == "plan" else f"environment:{github_environment(stack)}"
    return [f"repo:{repo}:{context}" for repo in gh.repositories]


def environment_types(stack: Stack) -> list[str]:
    """The resource types of the environment's stack and of its us-east-1 companion."""
    kinds = {r["Type"] for r in render_template(stack)["Resources"].values()}
    if needs_edge_stack(stack):
        companion = Template(stack, part="edge")  # render_edge_template would ask for the certificate first
        edge.render_edge(companion)
        kinds |= {r["Type"] for r in companion.resources.values()}
    return sorted(kinds)


def environment_roles(stack: Stack) -> list[str]:
    """The names of the roles the environment's stack creates."""
    resources = render_template(stack)["Resources"].values()
    return sorted(r["Properties"]["RoleName"] for r in resources if r["Type"] == "AWS::IAM::Role")


def _stacks(stack: Stack) -> list[Any]:
    name = stack_name(stack)
    out = [arn(stack, "cloudformation", f"stack/{name}/*")]
    if needs_edge_stack(stack):
        out.append(
            {"Fn::Sub": f"arn:${{AWS::Partition}}:cloudformation:{WAF_REGION}:${{AWS::AccountId}}:stack/{name}-edge/*"}
        )
    return out


def _role_arn(stack: Stack, name: str) -> Any:
    return arn(stack, "iam", f"role/{name}", region=False)


def _secret_names(stack: Stack) -> list[str]:
    """Every secret of the environment's template: the services' and the origin
    lock's (a plan reads its versions, and looks each up to adopt it)."""
    resources = render_template(stack)["Resources"].values()
    names = [r["Properties"]["Name"] for r in resources if r["Type"] == "AWS::SecretsManager::Secret"]
    return [*iam.secret_names(Template(stack)), *(n for n in names if n not in iam.secret_names(Template(stack)))]


def _plan_statements(stack: Stack) -> list[dict[str, Any]]:
    """``inv infra-plan``: read the stacks, make (and drop) change sets with the
    service role, look up the prefix list, what the services run and which of
    the template's fixed-name resources exist already (to adopt them)."""
    found = [
        {
            "Sid": "FindTheBucket",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": arn(stack, "s3", stack.edge.bucket, region=False, account=False),
        },
        {"Sid": "FindTheLogGroups", "Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"},
        {
            # a secret's ARN ends in six random characters; one that does not exist is asked for by its name alone
            "Sid": "FindTheSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:DescribeSecret",
            "Resource": [arn(stack, "secretsmanager", f"secret:{name}*") for name in _secret_names(stack)],
        },
    ]
    if stack.infra.owns_repositories:
        found.append({
            "Sid": "FindTheRepositories",
            "Effect": "Allow",
            "Action": "ecr:DescribeRepositories",
            "Resource": [arn(stack, "ecr", f"repository/{repository(stack, s)}") for s in stack.services],
        })  # fmt: skip
    return [
        {
            "Sid": "PlanTheStacks",
            "Effect": "Allow",
            "Action": [
                "cloudformation:CreateChangeSet", "cloudformation:DeleteChangeSet", "cloudformation:DescribeChangeSet",
                "cloudformation:DescribeStackEvents", "cloudformation:DescribeStacks", "cloudformation:GetTemplate",
                "cloudformation:ListStackResources",
            ],
            "Resource": _stacks(stack),
        },
        *found,
        {
            "Sid": "PassTheServiceRoleToCloudFormation",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": _role_arn(stack, role_name(stack, "cloudformation")),
            "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
        },
        {"Sid": "FindThePrefixList", "Effect": "Allow", "Action": "ec2:DescribeManagedPrefixLists", "Resource": "*"},
        {
            "Sid": "ReadTheRevisionsRunning",
            "Effect": "Allow",
            "Action": ["ecs:DescribeClusters", "ecs:DescribeServices"],
            "Resource": [arn(stack, "ecs", f"cluster/{stack.cluster}")]
            + [arn(stack, "ecs", f"service/{stack.cluster}/{s}") for s in stack.services],
        },
    ]  # fmt: skip


def _apply_statements(stack: Stack) -> list[dict[str, Any]]:
    return [
        *_plan_statements(stack),
        # a first creation that was rolled back (ROLLBACK_COMPLETE) is deleted, then created again
        {"Sid": "ApplyAReviewedChangeSet", "Effect": "Allow", "Action": ["cloudformation:DeleteStack", "cloudformation:ExecuteChangeSet"], "Resource": _stacks(stack)},
    ]  # fmt: skip


def _promote_statements(stack: Stack) -> list[dict[str, Any]]:
    services = list(stack.services)
    repositories = [arn(stack, "ecr", f"repository/{repository(stack, s)}") for s in services]
    return [
        *_plan_statements(stack),
        {"Sid": "LogInToEcr", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {
            "Sid": "PushTheTestedImages",
            "Effect": "Allow",
            "Action": [
                "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload", "ecr:DescribeImages",
                "ecr:DescribeRepositories", "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage",
                "ecr:UploadLayerPart",
            ],
            "Resource": repositories,
        },
        {
            "Sid": "RegisterThisEnvironmentsFamilies",
            "Effect": "Allow",
            "Action": "ecs:RegisterTaskDefinition",
            "Resource": [arn(stack, "ecs", f"task-definition/{family(stack, s)}:*") for s in services],
        },
        {
            # no resource-level permission exists for these (Service Authorization Reference)
            "Sid": "ReadAndRetireRevisions",
            "Effect": "Allow",
            "Action": ["ecs:DeregisterTaskDefinition", "ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions"],
            "Resource": "*",
        },
        {
            "Sid": "DeployTheServices",
            "Effect": "Allow",
            "Action": "ecs:UpdateService",
            "Resource": [arn(stack, "ecs", f"service/{stack.cluster}/{s}") for s in services],
        },
        {
            "Sid": "PassTheTaskRolesToEcs",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": [_role_arn(stack, iam.role_name(stack.aws.execution_role)), _role_arn(stack, iam.role_name(stack.aws.task_role))],
            "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        },
        {"Sid": "PublishTheClient", "Effect": "Allow", "Action": "s3:PutObject", "Resource": arn(stack, "s3", f"{stack.edge.bucket}/*", region=False, account=False)},
        {
            # the distribution is the environment stack's, created after this role: any of the account's
            "Sid": "InvalidateTheCdn",
            "Effect": "Allow",
            "Action": "cloudfront:CreateInvalidation",
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/*"},
        },
    ]  # fmt: skip


STATEMENTS = {"plan": _plan_statements, "apply": _apply_statements, "promote": _promote_statements}


def job_policy(stack: Stack, kind: str) -> dict[str, Any]:
    """The identity policy of the role of one kind of job."""
    return {"Version": "2012-10-17", "Statement": STATEMENTS[kind](stack)}


def trust_policy(stack: Stack, kind: str) -> dict[str, Any]:
    provider = arn(stack, "iam", f"oidc-provider/{GITHUB}", region=False)
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{GITHUB}:aud": AUDIENCE, f"{GITHUB}:sub": subjects(stack, kind)}},
        }],
    }  # fmt: skip


def service_role_policy(stack: Stack) -> dict[str, Any]:
    """What CloudFormation may do for the environment's stacks: the services of
    their resource types, and in IAM only the roles they name."""
    prefixes: set[str] = set()
    for kind in environment_types(stack):
        namespace = next((ns for ns in SERVICES_OF_TYPES if kind.startswith(ns)), None)
        if namespace is None:
            raise ValueError(f"{kind}: no service prefixes known for it (SERVICES_OF_TYPES)")  # a renderer bug
        prefixes.update(SERVICES_OF_TYPES[namespace])
    roles = [_role_arn(stack, name) for name in environment_roles(stack)]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "TheTemplatesServices", "Effect": "Allow", "Action": [f"{p}:*" for p in sorted(prefixes)], "Resource": "*"},
            {
                "Sid": "TheTemplatesRoles",
                "Effect": "Allow",
                "Action": [
                    "iam:CreateRole", "iam:DeleteRole", "iam:DeleteRolePolicy", "iam:GetRole", "iam:GetRolePolicy",
                    "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:PutRolePolicy", "iam:TagRole",
                    "iam:UntagRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole",
                ],
                "Resource": roles,
            },
            {
                "Sid": "PassTheTemplatesRolesToEcs",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": roles,
                "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            },
            {
                "Sid": "ServiceLinkedRoles",
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": "*",
                "Condition": {"StringEquals": {"iam:AWSServiceName": SERVICE_LINKED}},
            },
        ],
    }  # fmt: skip


def render_bootstrap_template(stack: Stack) -> dict[str, Any]:
    """The bootstrap stack of ``stack.env`` (see the module's docstring); the
    environment must name its deployers (``infra.github``)."""
    gh = stack.infra.github
    if gh is None:
        raise ValueError("infra.github is not set: nothing deploys this environment from CI")
    t = Template(stack, part="bootstrap")
    depends: list[str] = []
    if gh.owns_oidc_provider:
        t.add("GithubOidcProvider", "AWS::IAM::OIDCProvider", {"Url": f"https://{GITHUB}", "ClientIdList": [AUDIENCE]})
        depends = ["GithubOidcProvider"]
    t.add("CloudFormationRole", "AWS::IAM::Role", {
        "RoleName": role_name(stack, "cloudformation"),
        "Description": f"CloudFormation's service role for {stack_name(stack)} (and its companion): what it may create",
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"}, "Action": "sts:AssumeRole"}],
        },
        "Policies": [{"PolicyName": "environment", "PolicyDocument": service_role_policy(stack)}],
    })  # fmt: skip
    t.output(
        "CloudFormationRoleArn", {"Fn::GetAtt": ["CloudFormationRole", "Arn"]}, "The environment stack's service role"
    )
    for kind in KINDS:
        logical_id = f"Github{kind.capitalize()}Role"
        t.add(logical_id, "AWS::IAM::Role", {
            "RoleName": role_name(stack, kind),
            "Description": f"GitHub Actions: the {kind} jobs of {stack_name(stack)}",
            "AssumeRolePolicyDocument": trust_policy(stack, kind),
            "Policies": [{"PolicyName": kind, "PolicyDocument": job_policy(stack, kind)}],
        }, **({"DependsOn": depends} if depends else {}))  # fmt: skip
        t.output(f"{logical_id}Arn", {"Fn::GetAtt": [logical_id, "Arn"]}, f"role-to-assume of the {kind} jobs")
    return t.document()


def concrete(value: Any, account: str, region: str, partition: str = "aws") -> Any:
    """``value`` (a rendered policy) with its ``Fn::Sub`` of pseudo parameters
    filled in, as CloudFormation will: for linters and the rehearsal."""
    if isinstance(value, dict):
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            text = value["Fn::Sub"]
            for name, real in (("AWS::Partition", partition), ("AWS::Region", region), ("AWS::AccountId", account)):
                text = text.replace("${" + name + "}", real)
            return text
        return {k: concrete(v, account, region, partition) for k, v in value.items()}
    if isinstance(value, list):
        return [concrete(v, account, region, partition) for v in value]
    return value
