"""Data quality: the mapping's rules (compile/rules.py) evaluated over each extracted batch before it is written.

:func:`check_rows` checks one target's rows (``fail`` / ``quarantine`` / ``warn`` rules), :func:`reject_documents`
applies ``reject_document`` rules to a whole batch. See docs/mapping.md, "Quality rules".
"""

from __future__ import annotations

from tidemark.quality.check import Checked, check_rows, reject_documents
from tidemark.quality.errors import QualityError

__all__ = ["Checked", "QualityError", "check_rows", "reject_documents"]
