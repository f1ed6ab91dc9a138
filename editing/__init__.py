"""Editors' tools (validate, coverage, labels); imports tickets/, playbook/, understanding/."""
