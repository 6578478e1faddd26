"""`inv rehearse --env ENV`: the first day of production, offline.

An emulated account (moto, with AWS's authorization put in: adapters/emulator.py)
goes through the README's "Bootstrap a fresh account" as its administrator,
then through every workflow job that reaches AWS, in the order the day runs
them, each AS THE ROLE IT ASSUMES: the job's token carries the claims GitHub
issues for it (repository, environment or branch), the emulator lets it assume
only a role whose trust admits them, and every call it makes is authorized
against that role's policy and the resource it touches. Which job runs which
`inv` commands with which role is read from .github/workflows/*.yml.

The day: infra.yml (plan, then apply exactly that plan) creates the
environment; main.yml's promote job plans and promotes, its first run failing
(the services must be left at 0 tasks), then one that works; infra.yml again
(after the first promote); a second promote, one that fails (rolled back, its
revision retired); rollback.yml; a last plan that must be empty. Then, each on a
fresh account: a first create that fails midway and its retry, and a create
over resources made by hand (the plan's sections 6.2-6.8). What no emulator
enforces is listed at the end: checked on the rendered template where the
project has the rule, said plainly where it has not.

The result is a tree of named checks, OK / NG / SKIP (as ecspresso's verify),
and ``Report.failed`` for the exit code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from parity import iam_policy, workflows
from parity.app.rehearsal.rehearse_jobs import (
    NG,
    OK,
    ORIGIN,
    SKIP,
    Check,
    Day,
    Report,
    Say,
    Section,
    Skip,
    run_job,
    services,
)
from parity.errors import ConfigError, ParityError
from parity.render.infra.identities import (
    AUDIENCE,
    GITHUB,
    KINDS,
    concrete,
    render_bootstrap_template,
    role_name,
    subjects,
)
from parity.spec import Stack, load_stack

__all__ = ["NG", "OK", "SKIP", "Report", "rehearse"]


def rehearse(root: Path, env: str, say: Say = print, failures: bool = True) -> Report:
    """Run the day for ``env`` and return the report (printed as it goes, then whole).
    ``failures`` False: the day only, without CloudFormation's failure paths."""
    from parity.adapters.emulator import emulator

    base = load_stack(root, env)
    if base.infra.github is None:
        raise ConfigError(
            f"deploy/{env}.yaml: infra.github is not set: no workflow deploys {env}, so there is no first day to rehearse",
            hint="`inv promote --env local` rehearses the local environment against its emulator",
        )
    report = Report(env)
    repository = workflows.repository(root)
    with emulator(running_tasks=max(s.desired_count for s in base.services.values())) as url:
        day = Day(root, env, url, report, say)
        _identities(day, repository)
        if not report.failed:
            _jobs(day, repository)
        stack = day.stack  # with the README's certificate
    scenarios = (
        ("CloudFormation's failure path: a first create that fails midway, then its retry", _failed_create),
        ("adopting what exists: a create over resources made by hand (plan 6.2-6.8)", _adoption),
    )
    for title, scenario in scenarios if failures else ():
        with emulator() as url:
            day = Day(root, env, url, report, say)
            day.set_up()
            day.open(title)
            scenario(day, repository)
    _rules(report)
    _template_rules(report, stack)
    _gated_rules(report, stack, env)
    for line in report.lines():
        say(line)
    return report


# -- the sections ----------------------------------------------------------------------


def _identities(day: Day, repository: str) -> None:
    """The administrator's part, then who may assume what."""
    day.open('administrator (README "Bootstrap a fresh account")')
    day.check(
        "step 1: an administrator (AdministratorAccess); from here every call is authorized",
        day.account.make_administrator,
    )
    day.check("what prod must have made first (the account's OIDC provider, the ECR repositories)", day.prerequisites)

    def certificate() -> str:
        day.stack = day.with_certificate(day.base)
        return str(day.stack.infra.certificate_arn)

    day.check("step 2: an ACM certificate for the ALB; infra.certificate_arn and origin_domain set", certificate)
    day.check(
        f"step 3: inv infra-bootstrap --env {day.env} (once, as the administrator)", lambda: day.bootstrap(day.stack)
    )

    day.open("who may assume which role (each job's OIDC claims against each role's trust)")
    variables = {"AWS_ACCOUNT_ID": day.account.account_id}
    jobs = workflows.aws_jobs(day.root, day.env, variables)
    template = concrete(render_bootstrap_template(day.stack), day.account.account_id, day.stack.region)
    roles = {r["Properties"]["RoleName"]: r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"}
    provider = f"arn:aws:iam::{day.account.account_id}:oidc-provider/{GITHUB}"
    for job in jobs:

        def trusted(job: workflows.AwsJob = job) -> str:
            name = job.role.rsplit("/", 1)[-1]
            assert name in roles, (
                f"{job.name} assumes {job.role}, which the bootstrap stack does not make (roles: {', '.join(sorted(roles))})"
            )
            assert job.refs, (
                f"{job.name} can run from any branch (no `if: github.ref == 'refs/heads/...'` and not push-only)"
            )
            sub = job.subject(repository)
            context = {f"{GITHUB}:sub": sub, f"{GITHUB}:aud": job.audience}
            trust = roles[name]["Properties"]["AssumeRolePolicyDocument"]
            decision = iam_policy.trusts(trust, "Federated", provider, "sts:AssumeRoleWithWebIdentity", context)
            assert decision.allowed, f"{name} does not trust {job.name}: its token's sub is {sub}, aud {job.audience}"
            return f"{name} trusts sub {sub}"

        day.check(f"{job.name} ({job.environment or 'no environment'}) -> {job.role.rsplit('/', 1)[-1]}", trusted)

    def exactly() -> str:
        claimed = {(j.role.rsplit("/", 1)[-1], j.subject(repository)) for j in jobs}
        extra = []
        for kind in KINDS:
            name = role_name(day.stack, kind)
            for sub in subjects(day.stack, kind):
                if (name, sub) not in claimed:
                    extra.append(f"{name} trusts {sub}, which no job assumes it with")
        assert not extra, "; ".join(extra)
        return f"{len(claimed)} (role, claim) pairs, all used"

    day.check("every role trusts only the claims of jobs that assume it", exactly)

    def service_repositories() -> str:
        asking = [f"{f}:{j}" for f, j, _ in workflows.token_jobs(day.root) if f == str(workflows.SERVICE_EXAMPLE)]
        assert not asking, f"{', '.join(asking)} may ask for an AWS token, but no role trusts a service repository"
        return "no job there asks for an AWS token; no role trusts them"

    day.check("the service repositories' workflow (ci/github/service-repository.yml)", service_repositories)

    def no_stray_tokens() -> str:
        stray = [f"{f}:{j}" for f, j, assumes in workflows.token_jobs(day.root) if not assumes]
        assert not stray, f"{', '.join(stray)} may ask for an OIDC token but assume no role"
        return "only the jobs above may ask for one"

    day.check("no other job may ask for an OIDC token", no_stray_tokens)

    def refused() -> str:
        from parity.adapters.rehearsal import github_claims, mint_token

        promote = next((j for j in jobs if j.workflow == "main.yml"), None)
        if promote is None:
            raise Skip("no main.yml job for this environment")
        wrong = github_claims(
            repository, f"repo:{repository}:pull_request", AUDIENCE, "refs/pull/1/merge", "pull-request.yml", None
        )
        try:
            day.account.assume(promote.role, mint_token(wrong), "pull-request")
        except ParityError as exc:
            assert "AccessDenied" in str(exc), str(exc)
            return "AccessDenied for sub repo:...:pull_request (the emulator evaluates the trust)"
        raise AssertionError(f"a pull request's token assumed {promote.role}")

    day.check("a pull request's token is refused by the promote role", refused)


def _infra_job(jobs: list[Any], task: str) -> Any:
    """The job of infra.yml that runs ``inv <task>`` (None when there is none)."""
    return next((j for j in jobs if j.workflow == "infra.yml" and any(c.task == task for c in j.commands)), None)


def _jobs(day: Day, repository: str) -> None:
    from parity.adapters.rehearsal import ClientSite, EcrPush

    jobs = workflows.aws_jobs(day.root, day.env, {"AWS_ACCOUNT_ID": day.account.account_id})
    plan_job, apply_job = _infra_job(jobs, "infra-plan"), _infra_job(jobs, "infra-apply")
    promote_job = next((j for j in jobs if any(c.task == "promote" for c in j.commands)), None)
    rollback_job = next((j for j in jobs if any(c.task == "rollback" for c in j.commands)), None)
    missing = [
        n
        for n, j in (
            ("infra.yml plan", plan_job),
            ("infra.yml apply", apply_job),
            ("a promote job", promote_job),
            ("a rollback job", rollback_job),
        )
        if j is None
    ]
    if missing:
        day.open("the workflows")
        day.check("every step of the day has a job", lambda: _missing(missing))
        return
    assert plan_job and apply_job and promote_job and rollback_job
    day.registry = EcrPush(day.stack, day.account)
    day.site = ClientSite(day.stack, day.account)

    planned = run_job(day, plan_job, repository, " (the environment's first plan)")
    run_job(day, apply_job, repository, " (the first create)", after=planned)
    _stand_ins(day)

    # main.yml's first run: the smoke checks fail (a first promote that fails)
    first = run_job(day, promote_job, repository, " run 1: its smoke checks fail", smoke=False)
    day.check(
        "the failed first promote leaves every service at 0 tasks (issue 16, finding 5)",
        lambda: _left_at_zero(day, first),
    )
    day.check(
        "... and retires the revisions it registered (ecs:DeregisterTaskDefinition)",
        lambda: _retired(day, first),
        promote_job.name,
    )

    run_job(day, promote_job, repository, " run 2: the first promote")
    planned = run_job(day, plan_job, repository, " (after the first promote: README)")
    run_job(day, apply_job, repository, " (after the first promote)", after=planned)
    good = run_job(day, promote_job, repository, " run 3", only="promote")
    bad = run_job(day, promote_job, repository, " run 4: its smoke checks fail", smoke=False, only="promote")
    day.check("the failed promote puts every service back on run 3's revision", lambda: _back_on(day, good))
    day.check("... and retires the revisions it registered", lambda: _retired(day, bad), promote_job.name)
    run_job(day, rollback_job, repository)
    final = run_job(day, promote_job, repository, ": the last plan of the day", only="infra-plan")
    day.check("the last plan is empty (nothing to apply)", lambda: _empty(final))


def _missing(missing: list[str]) -> str:
    raise AssertionError(f"no workflow job for: {', '.join(missing)}")


def _stand_ins(day: Day) -> None:
    """What the README has an operator set after the first apply (aws.url and
    aws.distribution_id, while they are not read from the stack's outputs), and
    a distribution for them, since moto makes none."""
    from parity.spec.models import Aws

    day.open("stand-ins for what moto accepts in the template without making it")

    def distribution() -> str:
        dist_id, domain = day.account.stand_in_distribution(ORIGIN)
        update = {
            k: v
            for k, v in (("url", f"https://{domain}"), ("distribution_id", dist_id))
            if k in Aws.model_fields and getattr(day.stack.aws, k) is None
        }
        if update:
            day.stack = day.stack.model_copy(update={"aws": day.stack.aws.model_copy(update=update)})
        return f"distribution {dist_id} ({domain})" + (
            f"; README step: {', '.join('aws.' + k for k in update)} set from it" if update else ""
        )

    day.check("the CloudFront distribution (for promote's invalidation and smoke URL)", distribution)


def _left_at_zero(day: Day, run: dict[str, Any]) -> str:
    if "failed" not in run:
        raise AssertionError("the first promote did not fail as rehearsed")
    left = {
        s: (svc.get("desiredCount"), svc.get("taskDefinition", "").rsplit("/", 1)[-1])
        for s, svc in services(day).items()
    }
    running = {s: v for s, v in left.items() if v[0]}
    assert not running, (
        "left running on the placeholder revision, whose :bootstrap image was never pushed (in AWS: CannotPullContainer until the circuit breaker gives up): "
        + ", ".join(f"{s} {n} task(s) on {td}" for s, (n, td) in running.items())
    )
    return ", ".join(f"{s} 0 tasks on {td}" for s, (_n, td) in left.items())


def _retired(day: Day, run: dict[str, Any]) -> str:
    if "failed" not in run:
        raise AssertionError("that promote did not fail as rehearsed")
    refused = next((line for line in run.get("log", []) if "could not deregister" in line), None)
    if refused:
        raise AssertionError(refused)  # promote reports it and goes on; the rehearsal does not
    before = {s: svc["taskDefinition"] for s, svc in run["before"].items()}
    ecs = day.account.client("ecs")
    fresh = []
    for service, old in before.items():
        family = old.rsplit("/", 1)[-1].rsplit(":", 1)[0]
        arns = ecs.list_task_definitions(familyPrefix=family, status="INACTIVE")["taskDefinitionArns"]
        newer = [a for a in arns if int(a.rsplit(":", 1)[-1]) > int(old.rsplit(":", 1)[-1])]
        fresh += newer
        assert newer, (
            f"{service}: no revision after {old.rsplit('/', 1)[-1]} is INACTIVE (the failed one is still ACTIVE: rollback could return to it)"
        )
    return ", ".join(a.rsplit("/", 1)[-1] for a in fresh) + " INACTIVE"


def _back_on(day: Day, good: dict[str, Any]) -> str:
    wanted = good.get("deployed") or {}
    assert wanted, "run 3 did not promote"
    now = {s: svc["taskDefinition"] for s, svc in services(day).items()}
    wrong = [f"{s} runs {now.get(s, '?').rsplit('/', 1)[-1]}" for s, a in wanted.items() if now.get(s) != a]
    assert not wrong, ", ".join(wrong)
    return ", ".join(a.rsplit("/", 1)[-1] for a in wanted.values())


def _empty(final: dict[str, Any]) -> str:
    assert "changes" in final, "the plan did not run"
    assert final["changes"] == 0, f"{final['changes']} changes left to apply"
    return "no changes"


def _failed_create(day: Day, repository: str) -> None:
    """Inject: a role with the execution role's name exists (made after the
    retained repositories and log groups); the first apply fails midway. The
    operator removes the cause; infra.yml, run again, must create the stack."""
    from parity.render.infra.iam import role_name as iam_role_name

    jobs = workflows.aws_jobs(day.root, day.env, {"AWS_ACCOUNT_ID": day.account.account_id})
    plan_job, apply_job = _infra_job(jobs, "infra-plan"), _infra_job(jobs, "infra-apply")
    if plan_job is None or apply_job is None:
        day.check("infra.yml", lambda: _missing(["infra.yml plan and apply"]))
        return
    taken = iam_role_name(day.stack.aws.execution_role)
    iam = day.account.client("iam")
    iam.create_role(RoleName=taken, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    day.section.checks.append(
        Check(OK, f"injected: a role named {taken} exists already", "the create fails at ExecutionRole")
    )  # type: ignore[union-attr]
    planned = run_job(day, plan_job, repository, " (first try)", inline=True)
    run_job(day, apply_job, repository, " (first try)", smoke=False, inline=True, after=planned)
    stack = day.infra(day.account.admin)
    found = stack.cfn.stack(stack.name) or {}

    def failed_clearly() -> str:
        status = found.get("StackStatus")
        assert status == "ROLLBACK_COMPLETE", f"the stack is {status}"
        return f"the apply job failed and the stack is {status}"

    day.check("the failed create is rolled back (as AWS does)", failed_clearly)
    iam.delete_role(RoleName=taken)
    day.check(f"the operator removes the cause (role {taken})", lambda: "deleted")
    planned = run_job(day, plan_job, repository, " (retry)", inline=True)
    run_job(day, apply_job, repository, " (retry)", inline=True, after=planned)

    def created() -> str:
        status = (day.infra(day.account.admin).cfn.stack(stack.name) or {}).get("StackStatus")
        assert status in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"), (
            f"after the retry the stack is {status}"
        )
        return f"{stack.name} {status}"

    day.check("the retry creates the stack (create -> failure -> retry -> success)", created)


def _adoption(day: Day, repository: str) -> None:
    """The plan's sections 6.2-6.8 done by hand (repositories, bucket, secrets, log
    groups, cluster); infra.yml must create the stack around them."""
    from parity.render.infra.common import Template
    from parity.render.infra.iam import secret_names
    from parity.render.taskdef import log_group
    from parity.render.taskdef import repository as repository_name

    jobs = workflows.aws_jobs(day.root, day.env, {"AWS_ACCOUNT_ID": day.account.account_id})
    plan_job, apply_job = _infra_job(jobs, "infra-plan"), _infra_job(jobs, "infra-apply")
    if plan_job is None or apply_job is None:
        day.check("infra.yml", lambda: _missing(["infra.yml plan and apply"]))
        return
    stack = day.stack
    made = []
    if stack.infra.owns_repositories:
        ecr = day.account.client("ecr")
        for service in stack.services:
            ecr.create_repository(repositoryName=repository_name(stack, service))
            made.append(repository_name(stack, service))
    s3 = day.account.client("s3")
    s3.create_bucket(Bucket=stack.edge.bucket, CreateBucketConfiguration={"LocationConstraint": stack.region})
    made.append(stack.edge.bucket)
    sm = day.account.client("secretsmanager")
    for name in secret_names(Template(stack)):
        sm.create_secret(Name=name, SecretString="{}")
        made.append(name)
    logs = day.account.client("logs")
    for service in stack.services:
        logs.create_log_group(logGroupName=log_group(stack, service))
        made.append(log_group(stack, service))
    day.check("made by hand, as the plan's 6.2-6.8", lambda: ", ".join(made))
    planned = run_job(day, plan_job, repository, inline=True)
    run_job(day, apply_job, repository, inline=True, after=planned)

    def adopted() -> str:
        ctx = day.infra(day.account.admin)
        status = (ctx.cfn.stack(ctx.name) or {}).get("StackStatus")
        assert status in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"), f"the stack is {status}"
        return f"{ctx.name} {status}"

    day.check("the stack exists, around the resources made by hand", adopted)


def _template_rules(report: Report, stack: Stack) -> None:
    """AWS's documented limits no emulator enforces, on every rendered template,
    with the project's table of limits (``parity.limits``, checked by
    ``render.infra.verify``: issue 16's other half) when it is there."""
    section = Section("AWS's limits on the rendered templates (no emulator enforces them)")
    report.sections.append(section)
    try:
        from parity.render.infra.verify import verify
    except ImportError:
        section.checks.append(
            Check(
                SKIP,
                "quotas and bounds (security group rules, Fargate sizes, health checks ...)",
                "no table of AWS limits here yet (parity.limits and render.infra.verify: issue 16's other half)",
            )
        )
        report.unchecked.append("AWS's documented limits (quotas, bounds): no table of them on this branch")
        return
    from parity.render.infra import needs_edge_stack, render_edge_template, render_template

    if not stack.infra.certificate_arn:  # the day stopped before the README's step 2: a stand-in to render with
        placeholder = f"arn:aws:acm:{stack.region}:000000000000:certificate/rehearsal"
        stack = stack.model_copy(
            update={"infra": stack.infra.model_copy(update={"certificate_arn": placeholder, "origin_domain": ORIGIN})}
        )
    names: set[str] = set()
    templates = {
        "the environment's stack": render_template(stack),
        "its bootstrap stack": render_bootstrap_template(stack),
    }
    if needs_edge_stack(stack):
        templates["its us-east-1 companion"] = render_edge_template(stack)
    for what, template in templates.items():
        result = verify(template)
        errors = [f.line() for f in result.errors]
        warnings = [f.line() for f in result.warnings]
        section.checks.append(
            Check(
                NG if errors else OK,
                f"{what}: within AWS's limits",
                "; ".join(errors) or f"{len(result.checked)} limits checked",
            )
        )
        if warnings:
            section.checks.append(
                Check(OK, f"{what}: quota increases to ask for before the first apply", "; ".join(warnings))
            )
        names.update(result.checked)
        report.unchecked += [f"{what}: {line}" for line in result.not_checked]
    report.checked.append(
        f"AWS's documented limits on the rendered templates (parity.limits): {', '.join(sorted(names))}"
    )


def _gated_rules(report: Report, stack: Stack, env: str) -> None:
    """What a gated deployment needs of IAM that no call of the day asks:
    CloudFormation passing the ECS load balancer role (moto's CloudFormation
    makes the service without asking IAM), and the e2e gate's calls being the
    promote role's alone, on the bootstrap stack's policies."""
    from parity.render.infra.bluegreen import gated_public
    from parity.render.infra.bluegreen import role_name as lb_role

    services = gated_public(stack)
    if not services:
        return
    section = Section("a gated deployment's permissions (no call of the day asks them)")
    report.sections.append(section)
    account, region = "123456789012", stack.region
    template = concrete(render_bootstrap_template(stack), account, region)
    policies = {
        r["Properties"]["RoleName"]: [p["PolicyDocument"] for p in r["Properties"]["Policies"]]
        for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"
    }  # fmt: skip
    role = f"arn:aws:iam::{account}:role/{lb_role(stack)}"
    service_role = policies[role_name(stack, "cloudformation")]

    def passes() -> str:
        to_ecs = iam_policy.evaluate(service_role, "iam:PassRole", role, {"iam:PassedToService": "ecs.amazonaws.com"})
        to_tasks = iam_policy.evaluate(
            service_role, "iam:PassRole", role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
        )
        assert to_ecs.allowed, f"CloudFormation's service role may not pass {lb_role(stack)} to ECS"
        assert not to_tasks.allowed, f"CloudFormation's service role may pass {lb_role(stack)} to tasks too"
        return f"{role_name(stack, 'cloudformation')} passes {lb_role(stack)} to ecs.amazonaws.com only"

    section.checks.append(
        _checked("CloudFormation may pass the ECS load balancer role to ECS (and to nothing else)", passes)
    )
    deployment = f"arn:aws:ecs:{region}:{account}:service-deployment/{stack.cluster}/{services[0]}/rehearsal"

    jobs = [
        role_name(stack, kind) for kind in KINDS
    ]  # CloudFormation's own role (ecs:*) is assumable by CloudFormation alone

    def only_promote() -> str:
        allowed = sorted(
            name for name in jobs
            if iam_policy.evaluate(policies[name], "ecs:ContinueServiceDeployment", deployment, {}).allowed
        )  # fmt: skip
        assert allowed == [role_name(stack, "promote")], f"ecs:ContinueServiceDeployment allowed to {allowed}"
        return f"only {allowed[0]} of {', '.join(jobs)}"

    section.checks.append(
        _checked("of the workflow jobs' roles, only promote's may answer the e2e gate's pause", only_promote)
    )


def _checked(name: str, fn: Any) -> Check:
    try:
        return Check(OK, name, fn())
    except AssertionError as exc:
        return Check(NG, name, str(exc))


def _rules(report: Report) -> None:
    report.checked += [
        "IAM identity policies on every call, against the resource it touches (AWS's Service Authorization Reference), explicit deny first",
        "iam:PassRole implied by a call (a task definition's roles to ECS, a stack's service role to CloudFormation)",
        "who may assume which role: STS checks the OIDC provider, the token's audience and the role's trust (sub, aud)",
        "CloudFormation's rollback of a failed create (ROLLBACK_COMPLETE, DeletionPolicy Retain kept)",
        "ECS: a service's revision and desired count, ACTIVE/INACTIVE revisions; ECR: pushes by their API calls",
        (
            "ECS's service deployments of a gated promote (a stand-in, adapters/deployments_emulated.py): its stages, the pause, "
            "continue or roll back, each call authorized as the promote role; the test header read from its generated secret"
        ),
    ]
    report.unchecked += [
        "CloudFormation's service role: moto creates resources without asking IAM, so its policy is never evaluated here",
        "the token's signature and expiry (the rehearsal mints the token; GitHub signs the real one)",
        "GitHub's side: the environments' reviewers and branch policy (README: the `gh api` check), the variable AWS_ACCOUNT_ID",
        "ECS tasks: moto runs none (rollouts complete by MOTO_ECS_SERVICE_RUNNING; image pulls, health checks and the circuit breaker are tests/unit/test_promote.py's fakes)",
        "an update that fails (UPDATE_ROLLBACK_*), deletion protection and the other stack states: tests/unit/test_infra_plan.py",
        (
            "resources moto accepts without making them (CloudFront, WAFv2, Cloud Map, alarms, autoscaling, budgets, secrets "
            "without a generated value): the template's tests"
        ),
        (
            "a gated deployment's time (the bake, the pause's timeout) and its alarms: the stand-in passes stages, not minutes, "
            "and fires no alarm (tests/unit/test_service_deployment.py has those endings)"
        ),
    ]
