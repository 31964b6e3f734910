"""What a pipeline's pod runs on a cluster, whatever the orchestrator: the image, the arguments, the secrets as
environment variables, the volumes.

The pod's working directory ``/work`` is a persistent volume (DuckDB files, a raw directory, Parquet: anything the
project names with a relative path); ``tidemark.yaml`` is mounted into it from a ConfigMap (it holds no secret, by
construction). Every ``${VAR}`` / ``password_env`` the project refers to becomes an environment variable read from
one Kubernetes Secret by name (``--secret``), key = the variable's name: the value never appears in a manifest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tidemark.deploy.k8s import (
    ClaimVolume,
    ConfigMap,
    ConfigMapVolume,
    Container,
    EnvVar,
    EnvVarSource,
    ObjectMeta,
    ResourceRequirements,
    SecretKeySelector,
    Volume,
    VolumeMount,
)
from tidemark.errors import ConfigError
from tidemark.project import Project
from tidemark.project.models import Pipeline, Schedule

WORKDIR = "/work"
PROJECT_FILE = f"{WORKDIR}/tidemark.yaml"
#: a live poller's run ends when the day's games are over; a job still running after this is stopped
LIVE_DEADLINE_SECONDS = 15 * 3600


@dataclass(frozen=True)
class DeployOptions:
    """The choices of ``tidemark deploy`` (flags); a pipeline's ``image:`` / ``schedule:`` fill what is not given."""

    image: str | None = None
    namespace: str | None = None
    secret: str = "tidemark"
    data_claim: str | None = "tidemark-data"
    cpu: str = "500m"
    memory: str = "1Gi"
    schedule: str | None = None
    timezone: str | None = None
    stream: bool = False
    engine: str | None = None
    service_account: str | None = None


@dataclass(frozen=True)
class PodPlan:
    """One pipeline's pod: its name, container, volumes, the project's ConfigMap and when it runs."""

    name: str
    pipeline: str
    labels: dict[str, str]
    args: list[str]
    container: Container
    volumes: list[Volume]
    config_map: ConfigMap
    schedule: Schedule | None
    options: DeployOptions
    secrets: list[str] = field(default_factory=list)
    deadline_seconds: int | None = None
    engine: str = "local"

    def meta(self, name: str | None = None) -> ObjectMeta:
        return ObjectMeta(name=name or self.name, namespace=self.options.namespace, labels=self.labels)


def k8s_name(text: str) -> str:
    """A DNS-1123 name: lower case, ``-`` for anything else, at most 52 characters (CronJob names get a suffix)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:52].strip("-")
    if not name:
        raise ConfigError(f"{text!r}: no letter or digit to make a Kubernetes name of; rename the pipeline")
    return name


def referenced_secrets(project: Project) -> list[str]:
    """The environment variables the project's connections and raw stores refer to (``${VAR}``, ``password_env``)."""
    found: list[str] = []
    values: list[object] = [*project.settings.connections.values(), *project.settings.raw.values()]
    for value in values:
        texts = (
            [value] if isinstance(value, str) else [str(v) for v in value.values()] if isinstance(value, dict) else []
        )
        if isinstance(value, dict) and value.get("password_env"):
            found.append(str(value["password_env"]))
        for text in texts:
            found += re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text)
    return list(dict.fromkeys(found))


def pod_plan(project: Project, pipeline_name: str, options: DeployOptions) -> PodPlan:
    """The pod of ``pipeline_name``: ``tidemark run`` (or ``stream``) PIPELINE with the project mounted."""
    pipeline = project.pipeline(pipeline_name)
    name = k8s_name(f"tidemark-{pipeline_name}")
    labels = {"app.kubernetes.io/name": "tidemark", "app.kubernetes.io/instance": name}
    command = "stream" if options.stream else "run"
    args = ["--project", PROJECT_FILE, command, pipeline_name]
    engine = options.engine or pipeline.engine
    if options.engine is not None:
        args += ["--engine", options.engine]
    secrets = referenced_secrets(project)
    env = [
        EnvVar(name=var, value_from=EnvVarSource(secret_key_ref=SecretKeySelector(name=options.secret, key=var)))
        for var in secrets
    ]
    mounts = [VolumeMount(name="project", mount_path=PROJECT_FILE, sub_path="tidemark.yaml", read_only=True)]
    volumes = [Volume(name="project", config_map=ConfigMapVolume(name=f"{name}-project"))]
    if options.data_claim:
        mounts.insert(0, VolumeMount(name="data", mount_path=WORKDIR))
        volumes.insert(0, Volume(name="data", persistent_volume_claim=ClaimVolume(claim_name=options.data_claim)))
    container = Container(
        name="tidemark",
        image=options.image or pipeline.image or _default_image(engine),
        args=args,
        env=env or None,
        resources=ResourceRequirements(
            requests={"cpu": options.cpu, "memory": options.memory}, limits={"memory": options.memory}
        ),
        volume_mounts=mounts,
        working_dir=WORKDIR,
    )
    config_map = ConfigMap(
        metadata=ObjectMeta(name=f"{name}-project", namespace=options.namespace, labels=labels),
        data={"tidemark.yaml": project.path.read_text(encoding="utf-8")},
    )
    return PodPlan(
        name,
        pipeline_name,
        labels,
        args,
        container,
        volumes,
        config_map,
        _schedule(pipeline, options),
        options,
        secrets,
        LIVE_DEADLINE_SECONDS if pipeline.ingest is not None and pipeline.ingest.live is not None else None,
        engine,
    )


def _default_image(engine: str) -> str:
    from tidemark import __version__

    return f"tidemark:{__version__}" + ("-spark" if engine == "spark" else "")


def _schedule(pipeline: Pipeline, options: DeployOptions) -> Schedule | None:
    if options.schedule is not None:
        return Schedule(cron=options.schedule, timezone=options.timezone or "America/New_York")
    if pipeline.schedule is not None and options.timezone is not None:
        return Schedule(cron=pipeline.schedule.cron, timezone=options.timezone)
    return pipeline.schedule
