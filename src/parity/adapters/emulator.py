"""The rehearsal's AWS: a moto server that authorizes every call as AWS does.

moto 5.2.5 enforces identity policies once ``INITIAL_NO_AUTH_ACTION_COUNT``
calls have been made, but (read in moto/iam/access_control.py and
moto/core/authorization.py):

- it authorizes every action against the resource ``*`` except for IAM, STS,
  S3 and SQS, so a statement scoped to an ARN never allows anything;
- it treats an Allow statement whose condition does not match as an explicit
  Deny, and evaluates only ``StringEquals`` conditions;
- it makes none of the implicit checks AWS makes: ``iam:PassRole`` of a role
  handed to ECS (a task definition's roles) or to CloudFormation (a service role);
- it cannot take ``AssumeRoleWithWebIdentity`` at all (an unsigned call: a
  500), and never evaluates a trust policy.

This module runs moto's server with those four put right (``python -m
parity.adapters.emulator PORT``): the resource each call is authorized
against and the roles it passes come from ``parity.iam_policy`` (AWS's
service authorization reference), decisions from its evaluator; a web
identity token is checked as STS checks it (an OIDC provider for its issuer,
its audience in the provider's client IDs, the role's trust policy with the
token's ``sub`` and ``aud``). What still goes unchecked: CloudFormation
creating resources on a stack's behalf (moto calls its backends directly, so
a service role's permissions are never asked), the token's signature (the
rehearsal mints its own), and service quotas.

``emulator()`` starts it on a free loopback port, as the tests' moto does.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from parity.errors import AwsUnavailable

# The first calls are free (no credentials exist yet): the rehearsal's administrator
# is made with exactly these (create user, attach AdministratorAccess, create key).
FREE_CALLS = 3
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def emulator(running_tasks: int = 2, timeout: float = 30.0) -> Iterator[str]:
    """Start the emulator; yields its URL; stops it afterwards. ``running_tasks``:
    what moto reports running per ECS service (it runs none)."""
    import parity

    port = _free_port()
    src = str(Path(parity.__file__).resolve().parents[1])  # this checkout's package, not an installed one
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])]),
        "INITIAL_NO_AUTH_ACTION_COUNT": str(FREE_CALLS),
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
        "MOTO_ECS_SERVICE_RUNNING": str(running_tasks),
    }
    # PARITY_EMULATOR_LOG=FILE keeps the server's own log (requests, moto's tracebacks) for debugging
    log = open(os.environ.get("PARITY_EMULATOR_LOG") or os.devnull, "a")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "parity.adapters.emulator", str(port)],
        stdout=subprocess.DEVNULL, stderr=log, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(f"{url}/moto-api/", timeout=2)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AwsUnavailable(f"the AWS emulator did not start on {url} (moto[server] installed?)") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# -- inside the emulator's process ---------------------------------------------------


def token_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT (``header.payload.signature``), unverified."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


def _params(response: Any) -> dict[str, Any]:
    """A request's parameters, whatever its protocol: query/form values, then a JSON body."""
    out: dict[str, Any] = {k: (v[0] if len(v) == 1 else v) for k, v in (response.querystring or {}).items()}
    body = response.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.lstrip().startswith("{"):
        try:
            out.update(json.loads(body))
        except ValueError:
            pass
    return out


def _patch() -> None:
    """Put moto's authorization right (see the module's docstring)."""
    from moto import settings
    from moto.cloudformation.models import cloudformation_backends
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import _RESTError
    from moto.iam.access_control import IAMPolicy, IAMRequest, IAMRequestBase, S3IAMRequest
    from moto.iam.models import iam_backends
    from moto.s3.exceptions import S3ClientError
    from moto.utilities.utils import get_partition
    from werkzeug.exceptions import HTTPException

    from parity import iam_policy

    class Denied(_RESTError):
        code = 403

    class DeniedJson(HTTPException):  # for the JSON protocols (ECS, ECR): botocore reads __type and message
        code = 403

        def __init__(self, message: str) -> None:
            super().__init__()
            self.description = json.dumps({"__type": "AccessDeniedException", "message": message})

    class InvalidIdentityToken(_RESTError):
        code = 400

    def documents(access_key: Any) -> list[dict[str, Any]]:
        out = []
        for policy in access_key.collect_policies():  # managed Policy objects, JSON text or parsed documents
            if isinstance(policy, dict) and "Statement" in policy:
                out.append(policy)
            elif isinstance(policy, dict) and isinstance(policy.get("policy_document"), dict):
                out.append(policy["policy_document"])
            else:
                out.append(IAMPolicy(policy)._policy_json)
        return out

    def deny(request: IAMRequestBase, action: str, resource: str, decision: iam_policy.Decision) -> None:
        why = (
            "with an explicit deny in an identity-based policy"
            if decision.result == iam_policy.DENY
            else f"because no identity-based policy allows the {action} action"
        )
        message = (
            f"User: {request._access_key.arn} is not authorized to perform: {action} on resource: {resource} {why}"
        )
        if isinstance(request, S3IAMRequest):
            raise S3ClientError("AccessDenied", message)
        if "amz-json" in str(request._headers.get("Content-Type", "")):
            raise DeniedJson(message)
        raise Denied("AccessDenied", message)

    def check_action_permitted(self: IAMRequestBase, resource: str, context: dict[str, Any] | None = None) -> None:
        if self._action == "sts:GetCallerIdentity":  # AWS allows it always, even under an explicit deny
            return
        action = iam_policy.iam_action(self._action)
        decision = iam_policy.evaluate(documents(self._access_key), action, resource, context or {})
        if not decision.allowed:
            deny(self, action, resource, decision)

    def check_pass_role(self: IAMRequestBase, role_arn: str, service: str) -> None:
        context = {"iam:PassedToService": service}
        decision = iam_policy.evaluate(documents(self._access_key), "iam:PassRole", role_arn, context)
        if not decision.allowed:
            deny(self, "iam:PassRole", role_arn, decision)

    IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]
    IAMRequestBase.check_pass_role = check_pass_role  # type: ignore[attr-defined]

    def web_identity(response: Any) -> None:
        """STS's own checks of AssumeRoleWithWebIdentity (an unsigned call)."""
        params = _params(response)
        account, partition = response.current_account, get_partition(response.region)
        iam = iam_backends[account][partition]
        claims = token_claims(str(params.get("WebIdentityToken", "")))
        issuer = str(claims.get("iss", ""))
        host = issuer.removeprefix("https://")
        provider_arn = f"arn:{partition}:iam::{account}:oidc-provider/{host}"
        provider = iam.open_id_providers.get(provider_arn)
        if not claims or provider is None:
            raise InvalidIdentityToken(
                "InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {issuer or 'this token'}"
            )
        audience = claims.get("aud")
        if audience not in provider.client_id_list:
            raise InvalidIdentityToken("InvalidIdentityToken", "Incorrect token audience")
        role_arn = str(params.get("RoleArn", ""))
        try:
            role = iam.get_role_by_arn(role_arn)
        except Exception:  # noqa: BLE001 - moto's NotFound: AWS answers AccessDenied
            role = None
        context = {f"{host}:sub": claims.get("sub", ""), f"{host}:aud": audience}
        if role is not None:
            trust = json.loads(role.assume_role_policy_document)
            decision = iam_policy.trusts(trust, "Federated", provider_arn, "sts:AssumeRoleWithWebIdentity", context)
            if decision.allowed:
                return
        raise Denied(
            "AccessDenied",
            f"Not authorized to perform sts:AssumeRoleWithWebIdentity on {role_arn} "
            f"(token sub {claims.get('sub')!r}, aud {audience!r})",
        )

    def names(account: str, region: str) -> dict[str, str]:
        """What a name stands for in an ARN: a stack's id, a secret's ARN (with its suffix)."""
        from moto.secretsmanager.models import secretsmanager_backends

        backend = cloudformation_backends[account][region]
        out = {s.name: s.stack_id for s in backend.stacks.values() if s.status != "DELETE_COMPLETE"}
        for secret in secretsmanager_backends[account][region].secrets.values():
            out[f"secret:{secret.name}"] = secret.arn
        return out

    def authorize(self: Any, resource: str = "*") -> None:
        if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
            ActionAuthenticatorMixin.request_count += 1
            return
        action = self._get_action()
        service = self.service_name
        if service == "sts" and action == "AssumeRoleWithWebIdentity":
            web_identity(self)
            return
        path = self.raw_path + (f"?{self.uri.split('?', 1)[1]}" if "?" in self.uri else "")
        request = IAMRequest(
            account_id=self.current_account, method=self.method, path=path, data=self.data,
            body=self.raw_body, headers=self.headers, action=action,
        )  # fmt: skip
        request.check_signature()
        params = _params(self)
        found = iam_policy.request_resources(
            request._action, params, self.raw_path, self.region, self.current_account,
            lambda: names(self.current_account, self.region),
        )  # fmt: skip
        for arn in found if found is not None else [resource]:
            request.check_action_permitted(arn)
        for role_arn, to_service in iam_policy.passed_roles(request._action, params):
            request.check_pass_role(role_arn, to_service)

    ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = authorize  # type: ignore[method-assign]

    def forget_stack(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
        """POST {"account", "region", "name"}: drop a stack moto failed to create without
        touching its resources. moto fails the ExecuteChangeSet of a create that fails
        and keeps a half-made stack it can neither describe nor delete; AWS would have
        rolled it back (``adapters.rehearsal.AwsLifecycle`` shows it ROLLBACK_COMPLETE)."""
        body = json.loads(request.data or b"{}")
        backend = cloudformation_backends[body["account"]][body["region"]]
        for stack_id, stack in list(backend.stacks.items()):
            if stack.name == body["name"]:
                del backend.stacks[stack_id]
        return 200, {}, "{}"

    from moto.cloudformation.responses import CloudFormationResponse

    create = CloudFormationResponse.create_change_set
    execute = CloudFormationResponse.execute_change_set
    imports: dict[str, set[tuple[str, str]]] = {}  # IMPORT change set id -> (type, name) it adopts
    importing: set[tuple[str, str]] = set()  # while one executes

    def create_change_set(self: Any) -> Any:
        """moto ignores an IMPORT's ResourcesToImport: remember them for its execution."""
        result = create(self)
        if self._get_param("ChangeSetType") == "IMPORT":
            imports[result.result["Id"]] = {
                (r["ResourceType"], str(next(iter(r.get("ResourceIdentifier", {}).values()), "")))
                for r in self._get_param("ResourcesToImport", [])
            }
        return result

    def execute_change_set(self: Any) -> Any:
        """An IMPORT adopts its resources (moto would create them anew and fail on the
        name); a resource moto fails to make fails the call with its own error in
        CloudFormation's format (moto answers some, an S3 one among them, with a bare 500)."""
        name = self._get_param("ChangeSetName")
        backend = cloudformation_backends[self.current_account][self.region]
        ids = [cs_id for cs_id, cs in backend.change_sets.items() if name in (cs_id, cs.change_set_name)]
        adopted = imports.get(ids[0], set()) if ids else set()
        importing.update(adopted)
        try:
            return execute(self)
        except Exception as exc:  # noqa: BLE001 - another service's error (JSON, S3's) in CloudFormation's own format
            code = getattr(exc, "error_type", None) or getattr(exc, "code", None)
            code = code if isinstance(code, str) and code else type(exc).__name__
            raise _RESTError(code, str(getattr(exc, "message", "") or exc)) from None
        finally:
            importing.difference_update(adopted)

    CloudFormationResponse.create_change_set = create_change_set  # type: ignore[method-assign]

    from moto.cloudformation.models import CloudFormationBackend

    backend_create = CloudFormationBackend.create_change_set

    def backend_create_change_set(self: Any, stack_name: str, *args: Any, **kwargs: Any) -> tuple[str, str]:
        """A new change set of a stack that holds only change sets (REVIEW_IN_PROGRESS)
        belongs to that stack, as in AWS; moto would make a second stack of the name."""
        kind = kwargs.get("change_set_type", args[4] if len(args) > 4 else "CREATE")
        waiting = next(
            (s for s in self.stacks.values() if s.name == stack_name and s.status == "REVIEW_IN_PROGRESS"), None
        )
        change_set_id, stack_id = backend_create(self, stack_name, *args, **kwargs)
        if kind != "UPDATE" and waiting is not None and stack_id != waiting.stack_id:
            del self.stacks[stack_id]
            change_set = self.change_sets[change_set_id]
            change_set.stack, change_set.stack_id = waiting, waiting.stack_id
            stack_id = waiting.stack_id
        return change_set_id, stack_id

    CloudFormationBackend.create_change_set = backend_create_change_set  # type: ignore[method-assign]
    CloudFormationResponse.execute_change_set = execute_change_set  # type: ignore[method-assign]

    from moto.ecr.models import Repository, ecr_backends
    from moto.logs.models import LogGroup, logs_backends
    from moto.s3.models import FakeBucket, s3_backends

    def adopting(model: Any, kind: str, name_property: str, find: Callable[[str, str, str], Any]) -> None:
        """The resource an IMPORT adopts is the existing one, found by its name."""
        original = model.create_from_cloudformation_json.__func__

        def make(
            cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> Any:
            name = cloudformation_json.get("Properties", {}).get(name_property) or resource_name
            if (kind, name) in importing:
                found = find(account_id, region_name, name)
                if found is not None:
                    return found
            return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

        model.create_from_cloudformation_json = classmethod(make)

    adopting(
        Repository, "AWS::ECR::Repository", "RepositoryName", lambda a, r, n: ecr_backends[a][r].repositories.get(n)
    )
    adopting(LogGroup, "AWS::Logs::LogGroup", "LogGroupName", lambda a, r, n: logs_backends[a][r].groups.get(n))
    adopting(
        FakeBucket, "AWS::S3::Bucket", "BucketName", lambda a, r, n: s3_backends[a][get_partition(r)].buckets.get(n)
    )

    from moto.moto_api._internal import urls as api_urls

    api_urls.url_paths["{0}/moto-api/parity/forget-stack$"] = forget_stack


def main(argv: list[str]) -> None:
    _patch()
    from moto.server import main as moto_main

    moto_main(["-H", "127.0.0.1", "-p", argv[0]])


if __name__ == "__main__":
    main(sys.argv[1:])
