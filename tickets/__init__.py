"""Tickets, staff and their audit trail; imports only playbook/ and understanding/."""
