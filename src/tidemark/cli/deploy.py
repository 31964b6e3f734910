"""``tidemark deploy k8s|argo PIPELINE``: print a pipeline's manifests as YAML (docs/deploy.md)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tidemark.cli.project import load

app = typer.Typer(
    name="deploy", help="Print the manifests that run a pipeline on a cluster (docs/deploy.md).", no_args_is_help=True
)

Pipeline = Annotated[str, typer.Argument(help="A pipeline of tidemark.yaml.")]
Image = Annotated[
    str | None, typer.Option(help="The container image (default: the pipeline's image:, else tidemark:VERSION).")
]
Namespace = Annotated[str | None, typer.Option(help="The Kubernetes namespace.")]
Secret = Annotated[str, typer.Option(help="The Kubernetes Secret holding the variables the project refers to.")]
Claim = Annotated[
    str, typer.Option(help="The PersistentVolumeClaim mounted as the working directory /work ('' for none).")
]
Cron = Annotated[str | None, typer.Option("--schedule", help="A cron schedule (default: the pipeline's).")]
Zone = Annotated[str | None, typer.Option("--timezone", help="The schedule's time zone (default America/New_York).")]
Cpu = Annotated[str, typer.Option(help="CPU requested.")]
Memory = Annotated[str, typer.Option(help="Memory requested and limit.")]
Engine = Annotated[str | None, typer.Option("--engine", "-e", help="spark: a Spark-operator SparkApplication.")]
Account = Annotated[str | None, typer.Option(help="The service account of the pods.")]


def _print(target: str, pipeline: str, options: object) -> None:
    from tidemark.deploy import DeployOptions, manifests, pod_plan, to_yaml

    assert isinstance(options, DeployOptions)
    sys.stdout.write(to_yaml(manifests(target, pod_plan(load(), pipeline, options))))


@app.command("k8s")
def k8s_cmd(
    pipeline: Pipeline,
    image: Image = None,
    namespace: Namespace = None,
    secret: Secret = "tidemark",
    data_claim: Claim = "tidemark-data",
    schedule: Cron = None,
    timezone: Zone = None,
    stream: Annotated[bool, typer.Option("--stream", help="A Deployment following the raw store instead.")] = False,
    cpu: Cpu = "500m",
    memory: Memory = "1Gi",
    engine: Engine = None,
    service_account: Account = None,
) -> None:
    """A ConfigMap with tidemark.yaml and a CronJob (a Deployment with --stream; a SparkApplication with
    --engine spark)."""
    from tidemark.deploy import DeployOptions

    options = DeployOptions(
        image, namespace, secret, data_claim or None, cpu, memory, schedule, timezone, stream, engine, service_account
    )
    _print("k8s", pipeline, options)


@app.command("argo")
def argo_cmd(
    pipeline: Pipeline,
    image: Image = None,
    namespace: Namespace = None,
    secret: Secret = "tidemark",
    data_claim: Claim = "tidemark-data",
    schedule: Cron = None,
    timezone: Zone = None,
    cpu: Cpu = "500m",
    memory: Memory = "1Gi",
    engine: Engine = None,
    service_account: Account = None,
) -> None:
    """A ConfigMap with tidemark.yaml and an Argo CronWorkflow (a Workflow when the pipeline has no schedule)."""
    from tidemark.deploy import DeployOptions

    options = DeployOptions(
        image, namespace, secret, data_claim or None, cpu, memory, schedule, timezone, False, engine, service_account
    )
    _print("argo", pipeline, options)
