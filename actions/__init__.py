"""The Dy 客服助手 action server package: the playbook engine and its Rasa actions."""

from actions.privacy import install_log_redaction

install_log_redaction()
