"""The Rasa action server; imports playbook/, tickets/, understanding/.

Every action is async: database work runs in a worker thread. Every slot an action reads is
checked first; a slot never selects another user's data. Everything the user reads is a
response in ``domain.yml`` or text from a playbook.

rasa_sdk (``--actions actions``) imports every module of this package and registers the
actions it finds. From the bottom up, each module importing only those before it:

- ``parsing``: ratings, contacts and urgency read out of a message (pure functions);
- ``outcomes``: replies, progress slots and the moves: a step's outcome, the ticket
  (``escalate``), the hand-over, the follow-up answer;
- ``base``: ``DyAction`` (timeout and apology, the reply to an open step read first), the
  progress in the slots and the playbook registry;
- ``digressions``: business requests, a second problem, repeated misunderstandings;
- ``troubleshooting``: the actions that walk a playbook;
- ``escalation``: hand-over, contact, rating, ticket status, follow-up, staff messages.

May import playbook, tickets and understanding.
"""

from tickets.privacy import install_log_redaction

install_log_redaction()
