"""Rasa server extensions: input channels (credentials.yml), the conversation lock and tracker
stores (endpoints.yml); imports tickets/, playbook/, understanding/."""
