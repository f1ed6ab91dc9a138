"""The project's playbooks as the action server and the console serve them."""

from __future__ import annotations

from playbook.registry import PlaybookRegistry
from tickets.policy import load_policy

_default: PlaybookRegistry | None = None


def default_registry() -> PlaybookRegistry:
    """This process's registry of the project's playbooks (``DY_PLAYBOOK_DIR`` or
    data/playbooks), checked against the priority policy as it is on disk: a priority level
    added to the policy is accepted without a restart."""
    global _default
    if _default is None:
        _default = PlaybookRegistry(priorities=lambda: load_policy().levels)
    return _default
