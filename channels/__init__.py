"""Rasa input channels (from credentials.yml); imports tickets/, playbook/, understanding/."""
