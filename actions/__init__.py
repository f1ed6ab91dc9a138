"""The Rasa action server: the assistant's custom actions.

May import playbook, tickets and understanding.
"""

from tickets.privacy import install_log_redaction

install_log_redaction()
