"""A pipeline's manifests per target: ``k8s`` (CronJob, or a Deployment for a stream), ``argo`` (CronWorkflow /
Workflow, built with hera's models of the Argo schema), and with ``--engine spark`` a Spark-operator
(Scheduled)SparkApplication (built with the operator's own API models, ``kubeflow-spark-api``).

Each function returns plain dicts in the order to apply them (the project's ConfigMap first); :func:`to_yaml`
writes them as one YAML stream for ``kubectl apply -f -``.
"""

from __future__ import annotations

from typing import Any

import yaml

from tidemark.deploy.k8s import (
    CronJob,
    CronJobSpec,
    Deployment,
    DeploymentSpec,
    JobSpec,
    JobTemplate,
    LabelSelector,
    PodSpec,
    PodTemplate,
)
from tidemark.deploy.plan import PodPlan
from tidemark.errors import ConfigError, MissingDependencyError

TARGETS = ("k8s", "argo")
SPARK_VERSION = "4.0.0"
SPARK_MAIN = "local:///opt/tidemark/main.py"  # written by the Dockerfile's spark variant


def manifests(target: str, plan: PodPlan) -> list[dict[str, Any]]:
    """The manifests of ``plan`` for ``target`` (``k8s`` or ``argo``)."""
    if plan.engine == "spark":
        return [plan.config_map.manifest(), spark_application(plan)]
    if target == "k8s":
        return [plan.config_map.manifest(), deployment(plan) if plan.options.stream else cron_job(plan)]
    if target == "argo":
        return [plan.config_map.manifest(), argo_workflow(plan)]
    raise ConfigError(f"unknown deploy target {target!r}: use one of {', '.join(TARGETS)}")


def to_yaml(docs: list[dict[str, Any]]) -> str:
    """The manifests as YAML documents; a multi-line string (the project file) as a literal block."""

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump_all(docs, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=120)


def _pod(plan: PodPlan, restart: str | None) -> PodTemplate:
    spec = PodSpec(
        containers=[plan.container],
        volumes=plan.volumes,
        restart_policy=restart,  # type: ignore[arg-type]
        service_account_name=plan.options.service_account,
    )
    return PodTemplate(metadata=plan.meta().model_copy(update={"name": None, "namespace": None}), spec=spec)


def cron_job(plan: PodPlan) -> dict[str, Any]:
    """A CronJob running the pipeline on its schedule, one run at a time."""
    if plan.schedule is None:
        raise ConfigError(
            f"pipeline {plan.pipeline!r} has no schedule: add schedule: {{cron: '0 6 * * *'}} to it, give "
            "--schedule CRON, or --stream for a long-running stream (a Deployment)"
        )
    job = JobSpec(template=_pod(plan, "Never"), backoff_limit=2, active_deadline_seconds=plan.deadline_seconds)
    spec = CronJobSpec(
        schedule=plan.schedule.cron, time_zone=plan.schedule.timezone, job_template=JobTemplate(spec=job)
    )
    return CronJob(metadata=plan.meta(), spec=spec).manifest()


def deployment(plan: PodPlan) -> dict[str, Any]:
    """A Deployment of one replica following the pipeline's raw store (``tidemark stream``); Recreate, so that two
    pods never write the same stream."""
    spec = DeploymentSpec(selector=LabelSelector(match_labels=plan.labels), template=_pod(plan, "Always"))
    return Deployment(metadata=plan.meta(), spec=spec).manifest()


def argo_workflow(plan: PodPlan) -> dict[str, Any]:
    """A CronWorkflow on the pipeline's schedule (a Workflow without one), its one template the pipeline's pod."""
    try:
        from hera.workflows import models as m
    except ImportError as exc:
        raise MissingDependencyError("hera", "deploy") from exc
    template = m.Template(
        name="run",
        container=m.Container.model_validate(plan.container.manifest()),
        active_deadline_seconds=m.IntOrString(str(plan.deadline_seconds)) if plan.deadline_seconds else None,
    )
    workflow = m.WorkflowSpec(
        entrypoint="run",
        templates=[template],
        volumes=[m.Volume.model_validate(v.manifest()) for v in plan.volumes],
        service_account_name=plan.options.service_account,
    )
    meta = m.ObjectMeta.model_validate(plan.meta().manifest())
    if plan.schedule is None:
        meta = m.ObjectMeta.model_validate({**plan.meta().manifest(), "name": None, "generateName": f"{plan.name}-"})
        built: Any = m.Workflow(api_version="argoproj.io/v1alpha1", kind="Workflow", metadata=meta, spec=workflow)
    else:
        spec = m.CronWorkflowSpec(
            schedules=[plan.schedule.cron],
            timezone=plan.schedule.timezone,
            concurrency_policy="Forbid",
            workflow_spec=workflow,
        )
        built = m.CronWorkflow(api_version="argoproj.io/v1alpha1", kind="CronWorkflow", metadata=meta, spec=spec)
    return built.model_dump(by_alias=True, exclude_none=True, mode="json")  # type: ignore[no-any-return]


def spark_application(plan: PodPlan) -> dict[str, Any]:
    """A SparkApplication (a ScheduledSparkApplication with a schedule) running ``tidemark run PIPELINE --engine
    spark`` as its driver program."""
    try:
        from kubeflow_spark_api import models as s
    except ImportError as exc:
        raise MissingDependencyError("kubeflow-spark-api", "deploy") from exc
    c = plan.container.manifest()
    memory = _jvm_memory(plan.options.memory)
    driver = {"env": c.get("env"), "volumeMounts": c["volumeMounts"], "serviceAccount": plan.options.service_account}
    spec = {
        "type": "Python",
        "mode": "cluster",
        "pythonVersion": "3",
        "sparkVersion": SPARK_VERSION,
        "image": c["image"],
        "mainApplicationFile": SPARK_MAIN,
        "arguments": [*plan.args, "--spark-master", "k8s://https://kubernetes.default.svc:443"],
        "volumes": [v.manifest() for v in plan.volumes],
        # the driver reads the project and writes the sink; executors only run the mapping over documents
        "driver": {**driver, "cores": 1, "memory": memory},
        "executor": {"instances": 2, "cores": 1, "memory": memory},
    }
    meta = plan.meta().manifest()
    if plan.schedule is None:
        app = {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication", "metadata": meta, "spec": spec}
        model: Any = s.SparkV1beta2SparkApplication
    else:
        scheduled = {
            "schedule": plan.schedule.cron,
            "timeZone": plan.schedule.timezone,
            "concurrencyPolicy": "Forbid",
            "template": spec,
        }
        app = {
            "apiVersion": "sparkoperator.k8s.io/v1beta2",
            "kind": "ScheduledSparkApplication",
            "metadata": meta,
            "spec": scheduled,
        }
        model = s.SparkV1beta2ScheduledSparkApplication
    return model.from_dict(_drop_none(app)).to_dict()  # type: ignore[no-any-return]


def _jvm_memory(quantity: str) -> str:
    """A Kubernetes quantity (``1Gi``, ``512Mi``) as Spark writes memory (``1g``, ``512m``)."""
    number, unit = quantity.rstrip("iB"), ""
    if number and number[-1].isalpha():
        number, unit = number[:-1], number[-1].lower()
    return f"{number}{unit}"


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value
