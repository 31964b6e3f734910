"""The driver program of a Spark-operator SparkApplication: ``spark-submit main.py ARGS`` runs ``tidemark ARGS``.

The spark image copies this file to ``/opt/tidemark/main.py`` (the Dockerfile), the ``mainApplicationFile`` that
``tidemark deploy ... --engine spark`` writes; any spark-submit can use it the same way (docs/deploy.md).
"""

from __future__ import annotations

from tidemark.cli.main import main

if __name__ == "__main__":
    main()
