"""The published distribution (``tidemark-etl``): its wheel, installed alone into a fresh virtualenv, runs the demo.

The wheel is built from a copy of the project (so the work tree gets no ``build/`` or ``*.egg-info``), installed
with ``pip`` (its dependencies from the package index), and its ``tidemark`` command loads the bundled real game
into DuckDB through the mapping the wheel carries (``mlb:live_game``): nothing is read from the source tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import duckdb
import pytest

from tests.conftest import GAME_747175, ROOT

pytestmark = pytest.mark.slow


def build_wheel(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("*.whl")
    return wheel


def test_the_wheel_is_named_for_pypi_and_carries_the_mappings(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    assert wheel.name.startswith("tidemark_etl-")
    names = set(zipfile.ZipFile(wheel).namelist())
    mappings = {Path(n).name for n in names if n.startswith("tidemark/domains/mlb/mappings/")}
    assert {p.name for p in (ROOT / "src/tidemark/domains/mlb/mappings").glob("*.yaml")} == mappings
    assert {"tidemark/domains/mlb/endpoints.yaml", "tidemark/py.typed", "tidemark/cli/main.py"} <= names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "tidemark = tidemark.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    env = tmp_path / "env"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True, check=False
    )
    assert install.returncode == 0, install.stdout + install.stderr
    db = tmp_path / "mlb.duckdb"
    args = ["run", "--mapping", "mlb:live_game", "--input", str(GAME_747175), "--sink", f"duckdb:{db}"]
    # run from an empty folder: the package comes from the virtualenv, not from this checkout
    (tmp_path / "cwd").mkdir()
    proc = subprocess.run(
        [str(env / "bin" / "tidemark"), *args], capture_output=True, text=True, cwd=tmp_path / "cwd", check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "game.live_game_plays" in proc.stdout and "(upsert, 1 documents)" in proc.stdout
    where = subprocess.run(
        [str(python), "-c", "import tidemark; print(tidemark.__file__)"], capture_output=True, text=True, check=True
    )
    assert where.stdout.startswith(str(env))
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.sql("SELECT count(*) FROM game.live_game_plays").fetchone() == (75,)
        assert con.sql("SELECT count(*) FROM game.live_game_metadata").fetchone() == (1,)
    finally:
        con.close()
