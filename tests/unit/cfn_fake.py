"""CloudFormation as AWS documents it, for the paths no emulator runs (moto
never fails or rolls back a change set, ignores ResourcesToImport and creates
what an IMPORT names). Each behaviour stands for a documented rule:

- A CREATE fails on a fixed name that exists ("already exists"); the rollback
  deletes what the creation made, except a ``DeletionPolicy: Retain``
  resource (DELETE_SKIPPED: it stays in the account, outside any stack), and
  an ALB whose ``deletion_protection.enabled`` is "true" cannot be deleted:
  the stack ends ROLLBACK_FAILED instead of ROLLBACK_COMPLETE.
- A ROLLBACK_COMPLETE, ROLLBACK_FAILED, DELETE_FAILED or UPDATE_ROLLBACK_FAILED
  stack takes no UPDATE change set; only a REVIEW_IN_PROGRESS (or absent)
  stack takes a CREATE one; a ROLLBACK_COMPLETE stack can be deleted.
- An IMPORT change set holds the stack's resources unchanged plus the
  imported ones, each with a DeletionPolicy, each identified by its type's
  primary identifier, naming a resource that exists and is in no stack.
- ``fail_on``: logical ids whose creation fails (an injected failure, e.g.
  a certificate not yet validated).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from parity.errors import ParityError

PRIMARY = {  # CloudFormation's resource schemas: primaryIdentifier
    "AWS::S3::Bucket": "BucketName",
    "AWS::ECR::Repository": "RepositoryName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SecretsManager::Secret": "Id",
}
NAME = {"AWS::S3::Bucket": "BucketName", "AWS::ECR::Repository": "RepositoryName",
        "AWS::Logs::LogGroup": "LogGroupName", "AWS::SecretsManager::Secret": "Name"}  # fmt: skip
NO_UPDATE = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED", "CREATE_FAILED",
             "REVIEW_IN_PROGRESS", "IMPORT_ROLLBACK_FAILED"}  # fmt: skip


def refused(message: str) -> ParityError:
    return ParityError(f"create change set: ValidationError: {message}")


def arn_of(name: str) -> str:
    return f"arn:aws:secretsmanager:eu-central-1:111122223333:secret:{name}-AbCdEf"


class FakeAwsCfn:
    def __init__(self, world: dict[tuple[str, str], str] | None = None, fail_on: set[str] | None = None) -> None:
        self.world: dict[tuple[str, str], str | None] = dict(world or {})  # (type, name) -> the stack holding it
        self.fail_on = set(fail_on or ())
        self.stacks: dict[str, dict[str, Any]] = {}
        self.change_sets: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple] = []
        self.counter = 0

    # -- the world ----------------------------------------------------------------
    def make(self, kind: str, name: str) -> None:
        """A resource made by hand (plan 6.2-6.8)."""
        self.world[(kind, name)] = None

    def existing(self, kind, name):
        if (kind, name) not in self.world:
            return None
        return {PRIMARY[kind]: arn_of(name) if kind == "AWS::SecretsManager::Secret" else name}

    # -- stacks -------------------------------------------------------------------
    def stack(self, name):
        found = self.stacks.get(name)
        if found is None:
            return None
        params = [{"ParameterKey": k, "ParameterValue": v} for k, v in found["parameters"].items()]
        return {"StackName": name, "StackStatus": found["status"], "Parameters": params, "Outputs": []}

    def resources(self, name):
        found = self.stacks.get(name)
        return dict(found["resources"]) if found else {}

    def deployed_template(self, name):
        return copy.deepcopy(self.stacks[name]["template"])

    def events(self, name):
        return list(reversed(self.stacks[name]["events"]))  # newest first

    def prefix_list(self, list_name):
        return "pl-a3a144ca"

    def delete_stack(self, name):
        self.calls.append(("delete_stack", name))
        found = self.stacks.get(name)
        if found is None:
            return
        if found["status"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS",
                               "IMPORT_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"):  # fmt: skip
            for lid, status in found["resources"].items():
                res = found["template"]["Resources"].get(lid, {})
                if status not in ("DELETE_COMPLETE", "DELETE_SKIPPED") and res.get("DeletionPolicy") != "Retain":
                    self._forget(res)
                elif res.get("DeletionPolicy") == "Retain":
                    self._release(res)
            del self.stacks[name]

    # -- change sets --------------------------------------------------------------
    def create_change_set(self, name, change_set, template, parameters, kind, imports=None):
        self.calls.append(("create_change_set", kind, [i["LogicalResourceId"] for i in imports or []]))
        body = json.loads(template)
        found = self.stacks.get(name)
        if kind == "CREATE" and found and found["status"] != "REVIEW_IN_PROGRESS":
            raise refused(
                f"Stack [{name}] already exists and cannot be created again with the changeSet [{change_set}]."
            )
        if kind in ("UPDATE", "IMPORT") and found and found["status"] in NO_UPDATE - {"REVIEW_IN_PROGRESS"}:
            raise refused(f"Stack:{name} is in {found['status']} state and can not be updated.")
        if kind == "UPDATE" and (not found or found["status"] == "REVIEW_IN_PROGRESS"):
            raise refused(f"Stack [{name}] does not exist")
        if kind == "IMPORT":
            self._check_import(found, body, parameters, imports or [])
        if not found:
            found = self.stacks[name] = {"status": "REVIEW_IN_PROGRESS", "resources": {}, "template": {"Resources": {}},
                                         "parameters": {}, "events": []}  # fmt: skip
        values = {k: (found["parameters"].get(k) if v is None else v) for k, v in parameters.items()}
        self.counter += 1
        cs = f"cs-{self.counter}"
        self.change_sets[cs] = {
            "stack": name,
            "kind": kind,
            "template": body,
            "parameters": values,
            "imports": imports or [],
        }
        return cs

    def _check_import(self, found, body, parameters, imports):
        resources = body.get("Resources", {})
        deployed = (
            (found or {}).get("template", {}).get("Resources", {})
            if found and found["status"] != "REVIEW_IN_PROGRESS"
            else {}
        )
        standing = {
            lid
            for lid, st in (found or {}).get("resources", {}).items()
            if st not in ("DELETE_COMPLETE", "DELETE_SKIPPED")
        }
        imported = {i["LogicalResourceId"] for i in imports}
        if set(resources) != standing | imported:
            raise refused(
                "As part of the import operation, you cannot modify or add [Resources] other than those imported"
            )
        for lid in standing:
            if resources[lid] != deployed.get(lid):
                raise refused(f"As part of the import operation, you cannot modify resource [{lid}]")
        if found and found["status"] != "REVIEW_IN_PROGRESS" and any(v is not None for v in parameters.values()):
            raise refused("As part of the import operation, you cannot modify parameters")
        for item in imports:
            res = resources.get(item["LogicalResourceId"], {})
            kind = item["ResourceType"]
            if res.get("Type") != kind or "DeletionPolicy" not in res:
                raise refused(f"{item['LogicalResourceId']}: an imported resource needs its type and a DeletionPolicy")
            if set(item["ResourceIdentifier"]) != {PRIMARY[kind]}:
                raise refused(f"{item['LogicalResourceId']}: the identifier of {kind} is {PRIMARY[kind]}")
            name = res["Properties"][NAME[kind]]
            if (kind, name) not in self.world:
                raise refused(f"Resource {name} of type {kind} does not exist")
            if self.world[(kind, name)] is not None:
                raise refused(f"Resource {name} already belongs to stack {self.world[(kind, name)]}")

    def describe_change_set(self, change_set, name):
        cs = self.change_sets[change_set]
        found = self.stacks[cs["stack"]]
        if cs["kind"] == "IMPORT":
            return {"Status": "CREATE_COMPLETE", "Changes": [
                {"ResourceChange": {"Action": "Import", "LogicalResourceId": i["LogicalResourceId"], "ResourceType": i["ResourceType"]}}
                for i in cs["imports"]]}  # fmt: skip
        before, after = found["template"].get("Resources", {}), cs["template"]["Resources"]
        live = {lid for lid, st in found["resources"].items() if st not in ("DELETE_COMPLETE", "DELETE_SKIPPED")}
        changes = []
        for lid, res in after.items():
            if lid not in live:
                changes.append(("Add", lid, res["Type"]))
            elif res != before.get(lid) or cs["parameters"] != found["parameters"]:
                changes.append(("Modify", lid, res["Type"]))
        changes += [("Remove", lid, before[lid]["Type"]) for lid in live - set(after)]
        if not changes:
            return {"Status": "FAILED", "StatusReason": "The submitted information didn't contain changes."}
        return {"Status": "CREATE_COMPLETE", "Changes": [
            {"ResourceChange": {"Action": a, "LogicalResourceId": lid, "ResourceType": t, "Replacement": "False"}}
            for a, lid, t in changes]}  # fmt: skip

    def delete_change_set(self, change_set, name):
        self.change_sets.pop(change_set, None)

    def execute_change_set(self, change_set, name):
        cs = self.change_sets.pop(change_set)
        self.calls.append(("execute", cs["kind"]))
        found = self.stacks[name]
        found["parameters"] = dict(cs["parameters"])
        events = found["events"]
        if cs["kind"] == "IMPORT":
            for item in cs["imports"]:
                res = cs["template"]["Resources"][item["LogicalResourceId"]]
                self.world[(res["Type"], res["Properties"][NAME[res["Type"]]])] = name
                found["resources"][item["LogicalResourceId"]] = "IMPORT_COMPLETE"
                events.append(self._event(item["LogicalResourceId"], res["Type"], "IMPORT_COMPLETE"))
            found["template"], found["status"] = cs["template"], "IMPORT_COMPLETE"
            return
        creating = cs["kind"] == "CREATE"
        made: list[str] = []
        for lid, res in cs["template"]["Resources"].items():
            if lid in found["resources"] and found["resources"][lid] not in ("DELETE_COMPLETE", "DELETE_SKIPPED"):
                continue  # (updates in place always succeed here)
            key = (res["Type"], res.get("Properties", {}).get(NAME.get(res["Type"], ""), None))
            reason = None
            if lid in self.fail_on:
                reason = 'Resource handler returned message: "injected failure"'
            elif res["Type"] in NAME and key in self.world:
                reason = f"{key[1]} already exists"
            if reason:
                found["resources"][lid] = "CREATE_FAILED"
                events.append(self._event(lid, res["Type"], "CREATE_FAILED", reason))
                self._roll_back(name, made, cs["template"], creating)
                return
            made.append(lid)
            found["resources"][lid] = "CREATE_COMPLETE"
            events.append(self._event(lid, res["Type"], "CREATE_COMPLETE"))
            if res["Type"] in NAME:
                self.world[key] = name
        found["template"] = cs["template"]
        found["status"] = "CREATE_COMPLETE" if creating else "UPDATE_COMPLETE"

    def _roll_back(self, name, made, template, creating):
        found = self.stacks[name]
        stuck = False
        for lid in reversed(made):
            res = template["Resources"][lid]
            if res.get("DeletionPolicy") == "Retain":
                self._release(res)
                found["resources"][lid] = "DELETE_SKIPPED"
                found["events"].append(self._event(lid, res["Type"], "DELETE_SKIPPED"))
            elif res["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer" and self._protected(
                res, found["parameters"]
            ):
                stuck = True
                found["events"].append(self._event(lid, res["Type"], "DELETE_FAILED",
                                                   "Load balancer cannot be deleted because deletion protection is enabled"))  # fmt: skip
            else:
                self._forget(res)
                found["resources"][lid] = "DELETE_COMPLETE"
        if creating:
            found["status"] = "ROLLBACK_FAILED" if stuck else "ROLLBACK_COMPLETE"
        else:
            found["status"] = "UPDATE_ROLLBACK_FAILED" if stuck else "UPDATE_ROLLBACK_COMPLETE"

    @staticmethod
    def _protected(res, parameters) -> bool:
        for attr in res["Properties"].get("LoadBalancerAttributes", []):
            if attr["Key"] == "deletion_protection.enabled":
                value = attr["Value"]
                if isinstance(value, dict):
                    value = parameters.get(value["Ref"], "false")
                return value == "true"
        return False

    def _forget(self, res):
        if res.get("Type") in NAME:
            self.world.pop((res["Type"], res["Properties"][NAME[res["Type"]]]), None)

    def _release(self, res):
        if res.get("Type") in NAME:
            self.world[(res["Type"], res["Properties"][NAME[res["Type"]]])] = None  # retained: in no stack now

    def _event(self, lid, kind, status, reason=""):
        return {
            "LogicalResourceId": lid,
            "ResourceType": kind,
            "ResourceStatus": status,
            "ResourceStatusReason": reason,
        }


class FakeEcsServices:
    def cluster_active(self, cluster):
        return False

    def describe_service(self, cluster, service):
        return None
