"""Kubernetes core kinds as typed models (the subset tidemark writes, field names as in the official API schema),
and the ``CronJob`` / ``Deployment`` / ``ConfigMap`` of a pipeline.

The models mirror ``io.k8s.api`` (camelCase through aliases, unknown keys refused); the tests validate every
manifest built here against the official schemas (kubernetes-validate, strict).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class K8s(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)

    def manifest(self) -> dict[str, Any]:
        """The model as the API writes it (camelCase, no unset fields)."""
        return self.model_dump(by_alias=True, exclude_none=True)


class ObjectMeta(K8s):
    name: str
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class SecretKeySelector(K8s):
    name: str
    key: str


class EnvVarSource(K8s):
    secret_key_ref: SecretKeySelector


class EnvVar(K8s):
    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None


class ResourceRequirements(K8s):
    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)


class VolumeMount(K8s):
    name: str
    mount_path: str
    sub_path: str | None = None
    read_only: bool | None = None


class Container(K8s):
    name: str
    image: str
    args: list[str]
    env: list[EnvVar] | None = None
    resources: ResourceRequirements | None = None
    volume_mounts: list[VolumeMount] = Field(default_factory=list)
    working_dir: str | None = None


class ConfigMapVolume(K8s):
    name: str


class ClaimVolume(K8s):
    claim_name: str


class Volume(K8s):
    name: str
    config_map: ConfigMapVolume | None = None
    persistent_volume_claim: ClaimVolume | None = None


class PodSpec(K8s):
    containers: list[Container]
    volumes: list[Volume] = Field(default_factory=list)
    restart_policy: Literal["Always", "OnFailure", "Never"] | None = None
    service_account_name: str | None = None


class PodTemplate(K8s):
    metadata: ObjectMeta | None = None
    spec: PodSpec


class JobSpec(K8s):
    template: PodTemplate
    backoff_limit: int | None = None
    active_deadline_seconds: int | None = None


class JobTemplate(K8s):
    spec: JobSpec


class CronJobSpec(K8s):
    schedule: str
    time_zone: str | None = None
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = "Forbid"
    job_template: JobTemplate


class LabelSelector(K8s):
    match_labels: dict[str, str]


class DeploymentSpec(K8s):
    replicas: int = 1
    selector: LabelSelector
    template: PodTemplate
    strategy: dict[str, str] = Field(default_factory=lambda: {"type": "Recreate"})  # one writer per stream


class CronJob(K8s):
    api_version: Literal["batch/v1"] = "batch/v1"
    kind: Literal["CronJob"] = "CronJob"
    metadata: ObjectMeta
    spec: CronJobSpec


class Deployment(K8s):
    api_version: Literal["apps/v1"] = "apps/v1"
    kind: Literal["Deployment"] = "Deployment"
    metadata: ObjectMeta
    spec: DeploymentSpec


class ConfigMap(K8s):
    api_version: Literal["v1"] = "v1"
    kind: Literal["ConfigMap"] = "ConfigMap"
    metadata: ObjectMeta
    data: dict[str, str]
