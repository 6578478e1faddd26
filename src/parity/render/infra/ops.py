"""Operations of plan 10: the alarms (to one SNS topic), autoscaling of every
service with an ``infra.scaling`` entry, the monthly budget.

Before the first promote a service runs nothing (README "Who owns what"): its
scalable target's floor is 0 with scale-in suspended, so autoscaling neither
starts the placeholder nor scales a freshly promoted service down to zero; the
next apply (which passes the promoted revision) raises the floor to the spec's
``desired_count`` and resumes scale-in. The alarms on running tasks exist only
once a revision runs, so an empty environment is not in alarm."""

from __future__ import annotations

from typing import Any

from parity.render.infra.bluegreen import alternate_target_group
from parity.render.infra.common import Template, att, logical, prefix, ref
from parity.render.infra.ecs import has_revision, service_resource
from parity.render.infra.edge import target_group


def render(t: Template) -> None:
    _topic(t)
    _alarms(t)
    _scaling(t)
    _budget(t)


def _topic(t: Template) -> None:
    # Unencrypted on purpose: CloudWatch cannot publish to a topic under the AWS-managed SNS key.
    t.add("AlarmTopic", "AWS::SNS::Topic", {"TopicName": f"{prefix(t.stack)}-alarms"})
    if t.stack.infra.alarms.email:
        t.add(
            "AlarmMail",
            "AWS::SNS::Subscription",
            {"TopicArn": ref("AlarmTopic"), "Protocol": "email", "Endpoint": t.stack.infra.alarms.email},
        )
    t.output("AlarmTopicArn", ref("AlarmTopic"), "Every alarm notifies this topic")


def _alarm(t: Template, name: str, description: str, props: dict[str, Any], condition: str | None = None) -> None:
    extra = {"Condition": condition} if condition else {}
    t.add(name, "AWS::CloudWatch::Alarm", {
        "AlarmName": f"{prefix(t.stack)}-{description.lower().replace(' ', '-')}",
        "AlarmDescription": description,
        "AlarmActions": [ref("AlarmTopic")],
        "OKActions": [ref("AlarmTopic")],
        **({} if "Metrics" in props else {"Period": 60}),  # metric math: each metric has its own
        **props,
    }, **extra)  # fmt: skip


def _alarms(t: Template) -> None:
    stack, a = t.stack, t.stack.infra.alarms
    for service, svc in stack.services.items():
        lid = logical(service)
        ecs_dims = [{"Name": "ClusterName", "Value": stack.cluster}, {"Name": "ServiceName", "Value": service}]
        if svc.exposure == "public":
            alb_dims = [
                {"Name": "LoadBalancer", "Value": att("Alb", "LoadBalancerFullName")},
                {"Name": "TargetGroup", "Value": att(target_group(service), "TargetGroupFullName")},
            ]
            five = {
                "Namespace": "AWS/ApplicationELB", "MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": alb_dims,
                "Statistic": "Sum", "Threshold": a.target_5xx_per_minute, "ComparisonOperator": "GreaterThanThreshold",
                "EvaluationPeriods": a.minutes, "TreatMissingData": "notBreaching",
            }  # fmt: skip
            if svc.deployment.gated:  # the new revision serves from either group: both counted
                five = gated_5xx(five, alb_dims, alternate_target_group(service))
            _alarm(t, f"{lid}Target5xxAlarm", f"{service} 5xx", five)
            _alarm(t, f"{lid}LatencyAlarm", f"{service} p95 latency", {
                "Namespace": "AWS/ApplicationELB", "MetricName": "TargetResponseTime", "Dimensions": alb_dims,
                "ExtendedStatistic": "p95", "Threshold": a.p95_latency_seconds, "ComparisonOperator": "GreaterThanThreshold",
                "EvaluationPeriods": a.minutes, "TreatMissingData": "notBreaching",
            })  # fmt: skip
            _alarm(t, f"{lid}UnhealthyAlarm", f"{service} unhealthy", {
                "Namespace": "AWS/ApplicationELB", "MetricName": "HealthyHostCount", "Dimensions": alb_dims,
                "Statistic": "Minimum", "Threshold": svc.desired_count, "ComparisonOperator": "LessThanThreshold",
                "EvaluationPeriods": a.unhealthy_minutes, "TreatMissingData": "breaching",
            }, condition=has_revision(service))  # fmt: skip
        else:
            _alarm(t, f"{lid}UnhealthyAlarm", f"{service} unhealthy", {
                "Namespace": "ECS/ContainerInsights", "MetricName": "RunningTaskCount", "Dimensions": ecs_dims,
                "Statistic": "Minimum", "Threshold": svc.desired_count, "ComparisonOperator": "LessThanThreshold",
                "EvaluationPeriods": a.unhealthy_minutes, "TreatMissingData": "breaching",
            }, condition=has_revision(service))  # fmt: skip
        scaling = stack.infra.scaling.get(service)
        usage = [("Cpu", "CPU", "CPUUtilization"), ("Memory", "memory", "MemoryUtilization")] if scaling else []
        for key, label, metric in usage:
            threshold = getattr(scaling, f"{key.lower()}_alarm")
            if threshold:
                _alarm(t, f"{lid}{key}Alarm", f"{service} {label}", {
                    "Namespace": "AWS/ECS", "MetricName": metric, "Dimensions": ecs_dims, "Statistic": "Average",
                    "Threshold": threshold, "ComparisonOperator": "GreaterThanThreshold",
                    "EvaluationPeriods": getattr(scaling, f"{key.lower()}_alarm_minutes"), "TreatMissingData": "notBreaching",
                })  # fmt: skip


def gated_5xx(props: dict[str, Any], dims: list[dict[str, Any]], alternate: str) -> dict[str, Any]:
    """The 5xx alarm of a gated service: ECS swaps its two target groups at each
    deployment, so the alarm sums both (metric math); it may roll a deployment
    back during its bake (deployment.alarms)."""
    other = [dims[0], {"Name": "TargetGroup", "Value": att(alternate, "TargetGroupFullName")}]

    def stat(mid: str, dimensions: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "Id": mid, "ReturnData": False,
            "MetricStat": {
                "Metric": {"Namespace": props["Namespace"], "MetricName": props["MetricName"], "Dimensions": dimensions},
                "Period": 60, "Stat": "Sum",
            },
        }  # fmt: skip

    out = {k: v for k, v in props.items() if k not in ("Namespace", "MetricName", "Dimensions", "Statistic")}
    out["Metrics"] = [
        stat("blue", dims),
        stat("green", other),
        {"Id": "both", "Expression": "blue + green", "ReturnData": True},
    ]
    return out


def _scaling(t: Template) -> None:
    stack = t.stack
    for service, scaling in stack.infra.scaling.items():
        lid, svc, running = logical(service), stack.services[service], has_revision(service)
        t.add(f"{lid}ScalableTarget", "AWS::ApplicationAutoScaling::ScalableTarget", {
            "ServiceNamespace": "ecs",
            "ScalableDimension": "ecs:service:DesiredCount",
            "ResourceId": f"service/{stack.cluster}/{service}",
            "MinCapacity": {"Fn::If": [running, svc.desired_count, 0]},
            "MaxCapacity": scaling.max_count,
            "SuspendedState": {"DynamicScalingInSuspended": {"Fn::If": [running, False, True]}},
        }, DependsOn=service_resource(service))  # fmt: skip
        t.add(f"{lid}CpuScaling", "AWS::ApplicationAutoScaling::ScalingPolicy", {
            "PolicyName": f"{prefix(stack)}-{service}-cpu",
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": ref(f"{lid}ScalableTarget"),
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": scaling.cpu_target,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
                "ScaleInCooldown": scaling.scale_in_cooldown,
                "ScaleOutCooldown": scaling.scale_out_cooldown,
            },
        })  # fmt: skip


def _budget(t: Template) -> None:
    budget = t.stack.infra.budget
    if budget is None:
        return
    t.add("MonthlyBudget", "AWS::Budgets::Budget", {
        "Budget": {
            "BudgetName": f"{prefix(t.stack)}-monthly",
            "BudgetLimit": {"Amount": budget.amount, "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
        },
        "NotificationsWithSubscribers": [{
            "Notification": {
                "NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN",
                "Threshold": budget.threshold, "ThresholdType": "PERCENTAGE",
            },
            "Subscribers": [{"SubscriptionType": "EMAIL", "Address": budget.email}],
        }],
    })  # fmt: skip
