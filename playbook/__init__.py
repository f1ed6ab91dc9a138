"""Troubleshooting playbooks: model, loading and checks, registry, engine, progress slots.

Imports nothing of the project but understanding.
"""

from playbook.parse import PlaybookError
from playbook.sourcefile import SourceError

__all__ = ["PlaybookError", "SourceError"]
