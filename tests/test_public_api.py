"""The public API is ``tidemark.__all__``, pinned here; importing tidemark loads no database driver or engine."""

from __future__ import annotations

import subprocess
import sys

import tidemark

PUBLIC = [
    "MODES",
    "ConfigError",
    "ContractError",
    "Mapping",
    "MappingError",
    "MissingDependencyError",
    "Mode",
    "Plan",
    "RawDocument",
    "Reporter",
    "RunResult",
    "SinkError",
    "SinkTerminalError",
    "SinkTransientError",
    "Source",
    "SourceError",
    "TidemarkError",
    "WriteConfig",
    "WriteCounts",
    "WriteResult",
    "__version__",
    "compile_mapping",
    "load_mapping",
    "open_sink",
    "parse_mapping",
    "read",
    "run",
    "write",
]


def test_all_is_pinned() -> None:
    assert sorted(tidemark.__all__) == sorted(PUBLIC), "a change of the public API: update PUBLIC on purpose"
    assert len(set(tidemark.__all__)) == len(tidemark.__all__)


def test_every_public_name_exists() -> None:
    assert len(tidemark.__all__) == len(PUBLIC)
    for name in tidemark.__all__:
        assert getattr(tidemark, name, None) is not None, name


def test_errors_form_one_tree() -> None:
    errors = [getattr(tidemark, n) for n in tidemark.__all__ if n.endswith("Error")]
    assert len(errors) == len([n for n in PUBLIC if n.endswith("Error")]) > 0
    assert all(issubclass(e, tidemark.TidemarkError) for e in errors)
    assert issubclass(tidemark.SinkTransientError, tidemark.SinkError)
    assert issubclass(tidemark.SinkTerminalError, tidemark.SinkError)


def test_import_loads_no_driver() -> None:
    code = (
        "import sys, tidemark\n"
        "heavy = ('psycopg', 'deltalake', 'pyspark')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout


def test_opening_a_duckdb_sink_still_loads_no_other_driver() -> None:
    code = (
        "import sys, tidemark\n"
        "with tidemark.open_sink('duckdb::memory:'):\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'deltalake', 'pyspark')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout
