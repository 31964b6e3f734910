"""The project: ``tidemark.yaml`` names connections, raw stores and pipelines once (docs/project.md).

``models.py`` is the file's language, ``settings.py`` its precedence (flag > ``TIDEMARK_...`` > file, by
pydantic-settings), ``connections.py`` what a connection opens (secrets by reference only), ``project.py`` finding,
loading and checking a file with ``file:line:col`` in every error, ``scaffold.py`` ``tidemark init``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidemark.project.models import Pipeline
from tidemark.project.project import FILENAMES, Project, find_project, load_project


def project_connections() -> Mapping[str, Any]:
    """The connections of the project found from the current directory (none without a project file)."""
    path = find_project()
    return {} if path is None else load_project(path).connections()


__all__ = ["FILENAMES", "Pipeline", "Project", "find_project", "load_project", "project_connections"]
