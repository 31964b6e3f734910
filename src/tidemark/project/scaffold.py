"""``tidemark init``: a new project from the templates in ``project/templates/`` (package data).

``--example mlb`` writes the MLB pipelines (a bundled game replayed from ``samples/``, a season backfill, today's
live games) with the package's mappings, so ``tidemark run sample`` works right after ``init``, without network.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from tidemark.errors import ConfigError, did_you_mean

EXAMPLES = ("mlb",)


def _template(name: str) -> str:
    return (resources.files("tidemark") / "project" / "templates" / name).read_text(encoding="utf-8")


def scaffold(directory: Path, *, example: str | None = None, force: bool = False) -> list[Path]:
    """Write the project's files into ``directory`` (made if missing); returns the files written, in order."""
    if example is not None and example not in EXAMPLES:
        raise ConfigError(f"unknown example {example!r}{did_you_mean(example, EXAMPLES)}: use one of {EXAMPLES}")
    project = directory / "tidemark.yaml"
    if project.exists() and not force:
        raise ConfigError(f"{project} exists: edit it, or give --force to write it again")
    directory.mkdir(parents=True, exist_ok=True)
    written = [project]
    project.write_text(_template(f"{example or 'basic'}.yaml"), encoding="utf-8")
    for name, target in (("gitignore", ".gitignore"), ("README.md", "README.md")):
        path = directory / target
        if not path.exists():  # never overwrite the user's own
            path.write_text(_template(name), encoding="utf-8")
            written.append(path)
    if example is not None:
        written += _samples(directory / "samples", example)
    return written


def _samples(target: Path, example: str) -> list[Path]:
    """The example's bundled documents, copied next to the project (the ``sample`` pipeline reads them)."""
    target.mkdir(exist_ok=True)
    out = []
    source = resources.files("tidemark") / "project" / "templates" / example
    for item in sorted(source.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".json.gz"):
            with resources.as_file(item) as path:
                out.append(Path(shutil.copy(path, target / item.name)))
    return out
