"""`tidemark deploy`: every manifest printed is validated: core kinds against the official Kubernetes schemas
(kubernetes-validate, strict), Argo kinds against hera's models of the Argo schema and Spark-operator kinds against
the operator's own API models (kubeflow-spark-api), strictly: required fields present, no unknown key; and both
against the projects' published schemas, vendored in tests/data/crd (Argo's JSON Schema, the Spark operator's CRD
openAPIV3Schema; jsonschema); the pods inside them against the Kubernetes Pod schema too. Secrets appear by name
only."""

from __future__ import annotations

import functools
import gzip
import json
import typing
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel, RootModel
from typer.testing import CliRunner

from tidemark.cli.main import app
from tidemark.deploy import DeployOptions, manifests, pod_plan
from tidemark.errors import ConfigError
from tidemark.project import load_project

K8S_VERSION = "1.30"  # CronJob.spec.timeZone is GA since 1.27
CRDS = Path(__file__).parent / "data" / "crd"
runner = CliRunner()

PROJECT = """\
connections:
  warehouse: duckdb:wh.duckdb
  pg: {type: postgres, host: db, database: mlb, user: tidemark, password_env: TM_DEPLOY_PG_PASSWORD}
  lake: delta:${TM_DEPLOY_LAKE}/lake
raw:
  mlb: raw/
pipelines:
  season:
    mapping: mlb:live_game
    raw: mlb
    connection: pg
    ingest: {backfill: {season: 2024}}
    schedule: {cron: "0 6 * * *", timezone: America/New_York}
  live:
    mapping: mlb:live_game
    raw: mlb
    connection: warehouse
    ingest: {live: {date: today}}
    schedule: {cron: "0 12 * * *"}
  follow:
    mapping: mlb:live_game
    raw: mlb
    connection: lake
  spark:
    mapping: mlb:live_game
    raw: mlb
    connection: lake
    engine: spark
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TIDEMARK_PROJECT", raising=False)
    monkeypatch.setenv("TM_DEPLOY_PG_PASSWORD", "pw-never-printed")
    (tmp_path / "tidemark.yaml").write_text(PROJECT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def strict(model: Any, data: Any, where: str = "") -> list[str]:
    """Problems of ``data`` against a pydantic model tree: unknown keys, missing required fields (by alias)."""
    origin = typing.get_origin(model)
    args = [a for a in typing.get_args(model) if a is not type(None)]
    if origin in (list, typing.List) and isinstance(data, list):  # noqa: UP006
        return [p for i, item in enumerate(data) for p in strict(args[0], item, f"{where}[{i}]")]
    if origin in (dict, typing.Dict) and isinstance(data, dict):  # noqa: UP006
        return [p for k, v in data.items() for p in strict(args[1], v, f"{where}.{k}")]
    if origin is not None and args and not (isinstance(model, type) and issubclass(model, BaseModel)):
        models = [a for a in args if (isinstance(a, type) and issubclass(a, BaseModel)) or typing.get_origin(a)]
        return strict(models[0], data, where) if models else []
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or issubclass(model, RootModel):
        return []
    if not isinstance(data, dict):
        return [f"{where}: expected an object for {model.__name__}"]
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    problems = [f"{where}.{k}: unknown key of {model.__name__}" for k in data if k not in fields]
    problems += [
        f"{where}.{k}: required by {model.__name__}" for k, f in fields.items() if f.is_required() and k not in data
    ]
    return problems + [
        p for k, v in data.items() if k in fields for p in strict(fields[k].annotation, v, f"{where}.{k}")
    ]


def validate_pod(spec: dict[str, Any]) -> None:
    """A pod spec (of any kind's template) against the Kubernetes Pod schema."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"}, "spec": spec}
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


@functools.cache
def published_schema(kind: str) -> dict[str, Any]:
    """The schema the project publishes for ``kind`` (tests/data/crd/README.md says where each comes from)."""
    if kind in ("Workflow", "CronWorkflow"):
        with gzip.open(CRDS / "argo-workflows.schema.json.gz") as f:
            argo = json.load(f)
        return {**argo, "$ref": f"#/definitions/io.argoproj.workflow.v1alpha1.{kind}"}
    with gzip.open(CRDS / f"spark-operator.{kind.lower()}s.v1beta2.schema.json.gz") as f:
        return json.load(f)  # type: ignore[no-any-return]


def published_errors(doc: dict[str, Any]) -> list[str]:
    """What ``doc`` breaks of its kind's published schema (a manifest the cluster's API server would refuse)."""
    schema = published_schema(doc["kind"])
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def validate(doc: dict[str, Any]) -> None:
    kind = doc["kind"]
    if kind in ("Workflow", "CronWorkflow", "SparkApplication", "ScheduledSparkApplication"):
        assert published_errors(doc) == []
    if kind in ("Workflow", "CronWorkflow"):
        from hera.workflows import models as m

        assert strict(getattr(m, kind), doc) == []
        spec = doc["spec"] if kind == "Workflow" else doc["spec"]["workflowSpec"]
        for template in spec["templates"]:
            validate_pod({"containers": [template["container"]], "volumes": spec.get("volumes", [])})
    elif kind in ("SparkApplication", "ScheduledSparkApplication"):
        from kubeflow_spark_api import models as s

        model = (
            s.SparkV1beta2SparkApplication if kind == "SparkApplication" else s.SparkV1beta2ScheduledSparkApplication
        )
        assert strict(model, doc) == []
        assert doc["apiVersion"] == "sparkoperator.k8s.io/v1beta2"
    else:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def deploy(target: str, pipeline: str, **options: Any) -> list[dict[str, Any]]:
    docs = manifests(target, pod_plan(load_project(), pipeline, DeployOptions(**options)))
    for doc in docs:
        validate(doc)
    assert docs and docs[0]["kind"] == "ConfigMap"
    return docs


def container(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    if doc["kind"] == "CronWorkflow":
        return spec["workflowSpec"]["templates"][0]["container"]  # type: ignore[no-any-return]
    return spec["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def test_the_strict_check_refuses_what_the_schemas_refuse() -> None:
    from hera.workflows import models as m

    assert strict(
        m.CronWorkflow,
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "CronWorkflow",
            "metadata": {},
            "spec": {"schedules": ["* * * * *"], "workflowSpec": {"entrypoint": "x", "tmplates": []}},
        },
    ) == [".spec.workflowSpec.tmplates: unknown key of WorkflowSpec"]
    assert ".spec: required by CronWorkflow" in strict(m.CronWorkflow, {"metadata": {}})
    deep = {"templates": [{"name": "a", "container": {"image": "i", "argz": []}}]}
    assert strict(m.WorkflowSpec, deep) == [".templates[0].container.argz: unknown key of Container"]
    from kubeflow_spark_api import models as s

    env = [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "x", "key": "y", "optionl": True}}}]
    spark = {"type": "Python", "sparkVersion": "4", "mainApplicationFile": "x", "driver": {"env": env}, "executor": {}}
    assert strict(s.SparkV1beta2SparkApplicationSpec, spark) == [
        ".driver.env[0].valueFrom.secretKeyRef.optionl: unknown key of IoK8sApiCoreV1SecretKeySelector"
    ]
    with pytest.raises(kubernetes_validate.ValidationError):
        validate({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "x"}, "spec": {"schedul": "x"}})


def test_k8s_cron_job_daily_backfill_with_secrets_by_name(project: Path) -> None:
    config_map, cron = deploy("k8s", "season", image="registry.example/tidemark:1", namespace="data", secret="tm")
    assert cron["kind"] == "CronJob" and cron["metadata"] == {
        "name": "tidemark-season",
        "namespace": "data",
        "labels": {"app.kubernetes.io/name": "tidemark", "app.kubernetes.io/instance": "tidemark-season"},
    }
    assert (cron["spec"]["schedule"], cron["spec"]["timeZone"]) == ("0 6 * * *", "America/New_York")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    c = container(cron)
    assert c["image"] == "registry.example/tidemark:1"
    assert c["args"] == ["--project", "/work/tidemark.yaml", "run", "season"]
    names = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"]}
    assert names == {
        "TM_DEPLOY_PG_PASSWORD": {"name": "tm", "key": "TM_DEPLOY_PG_PASSWORD"},
        "TM_DEPLOY_LAKE": {"name": "tm", "key": "TM_DEPLOY_LAKE"},
    }
    assert c["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert config_map["data"]["tidemark.yaml"] == PROJECT
    text = yaml.safe_dump_all([config_map, cron])
    assert "pw-never-printed" not in text


def test_k8s_deployment_for_a_stream_and_live_poller_deadline(project: Path) -> None:
    _, dep = deploy("k8s", "follow", stream=True)
    assert dep["kind"] == "Deployment" and dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert container(dep)["args"][-2:] == ["stream", "follow"]
    _, live = deploy("k8s", "live")
    assert live["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 15 * 3600
    assert live["spec"]["timeZone"] == "America/New_York"
    _, other = deploy("k8s", "follow", schedule="*/10 * * * *", timezone="UTC", data_claim=None)
    assert (other["spec"]["schedule"], other["spec"]["timeZone"]) == ("*/10 * * * *", "UTC")
    assert "volumeMounts" in container(other) and len(container(other)["volumeMounts"]) == 1  # the project only


def test_argo_cron_workflow_and_workflow(project: Path) -> None:
    _, cron = deploy("argo", "season")
    assert cron["kind"] == "CronWorkflow"
    assert cron["spec"]["schedules"] == ["0 6 * * *"] and cron["spec"]["timezone"] == "America/New_York"
    assert container(cron)["args"][-2:] == ["run", "season"]
    _, live = deploy("argo", "live")
    # an IntOrString, which Argo's published JSON Schema types as a string (Argo parses "54000" as seconds)
    assert live["spec"]["workflowSpec"]["templates"][0]["activeDeadlineSeconds"] == str(15 * 3600)
    _, once = deploy("argo", "follow")
    assert once["kind"] == "Workflow" and once["metadata"]["generateName"] == "tidemark-follow-"


def test_spark_application_for_the_spark_engine(project: Path) -> None:
    _, app_doc = deploy("k8s", "spark")
    assert app_doc["kind"] == "SparkApplication"
    spec = app_doc["spec"]
    assert (spec["type"], spec["mode"], spec["image"]) == ("Python", "cluster", "tidemark:0.1.0-spark")
    assert spec["mainApplicationFile"] == "local:///opt/tidemark/main.py"
    assert spec["arguments"][:4] == ["--project", "/work/tidemark.yaml", "run", "spark"]
    assert spec["driver"]["memory"] == "1g" and "volumeMounts" not in spec["executor"]
    _, scheduled = deploy("argo", "season", engine="spark", memory="2Gi")
    assert scheduled["kind"] == "ScheduledSparkApplication"
    assert scheduled["spec"]["schedule"] == "0 6 * * *" and scheduled["spec"]["template"]["executor"]["memory"] == "2g"
    assert scheduled["spec"]["template"]["arguments"][4:6] == ["--engine", "spark"]


def test_no_schedule_says_how_to_give_one(project: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"pipeline 'follow' has no schedule: add schedule: .* --schedule CRON, or "
        r"--stream",
    ):
        deploy("k8s", "follow")


def test_cli_prints_yaml_documents(project: Path) -> None:
    result = runner.invoke(app, ["deploy", "k8s", "season", "--namespace", "data"])
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.output))
    assert [d["kind"] for d in docs] == ["ConfigMap", "CronJob"]
    for doc in docs:
        validate(doc)
    assert "tidemark.yaml: |" in result.output  # the project file stays readable in the ConfigMap
    assert "pw-never-printed" not in result.output
    bad = runner.invoke(app, ["deploy", "k8s", "seasn"])
    assert bad.exit_code == 1 and "no pipeline 'seasn' (did you mean 'season'?)" in str(bad.exception)


def test_the_published_schemas_refuse_a_wrong_manifest() -> None:
    cron = {"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow", "metadata": {}, "spec": {"schedules": 5}}
    assert published_errors(cron) == [
        "['spec']: 'workflowSpec' is a required property",
        "['spec', 'schedules']: 5 is not of type 'array'",
    ]
    spark = {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication", "metadata": {"name": "x"}}
    spark["spec"] = {"type": "Cobol", "mode": "cluster", "sparkVersion": "4.0.0", "mainApplicationFile": "a.py"}
    assert "['spec', 'type']: 'Cobol' is not one of ['Java', 'Python', 'Scala', 'R']" in published_errors(spark)
