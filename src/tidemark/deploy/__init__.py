"""Deployment: a project's pipeline as cluster manifests (docs/deploy.md).

``plan.py`` says what the pipeline's pod runs (image, arguments, secrets by name, volumes); ``k8s.py`` the core
Kubernetes kinds as typed models; ``manifests.py`` the manifests per target: Kubernetes (CronJob, Deployment),
Argo (CronWorkflow, Workflow, via hera) and the Spark operator (SparkApplication). Nothing here talks to a cluster:
the manifests are printed, to be applied with ``kubectl apply -f -`` / ``argo submit``.
"""

from __future__ import annotations

from tidemark.deploy.manifests import TARGETS, manifests, to_yaml
from tidemark.deploy.plan import DeployOptions, PodPlan, pod_plan

__all__ = ["TARGETS", "DeployOptions", "PodPlan", "manifests", "pod_plan", "to_yaml"]
