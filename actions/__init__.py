"""The Rasa action server: the assistant's custom actions (may import playbook, tickets, understanding)."""

from tickets.privacy import install_log_redaction

install_log_redaction()
