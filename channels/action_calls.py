"""How the Rasa server calls the action server: with the shared secret, and bounded in time.

Applied when a channel module is loaded (before the first turn):

- every call carries ``X-Dy-Action-Secret`` from the environment (``DY_ACTION_SECRET``), which
  the action server requires when it has one (actions/server.py); the secret lives in the
  environment of both servers, never in endpoints.yml (Rasa's ``${VAR}`` substitution does
  not reach the nested ``headers`` of an endpoint);
- Rasa waits 300 s for an action server by default, longer than any conversation lock; a
  call here gives up after :data:`ACTION_CALL_TIMEOUT_SECONDS` (the actions themselves give
  up after 20 s and apologise), so no turn hangs on a stuck action server while it holds its
  conversation's lock.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import rasa.core.actions.action
from rasa.core.actions.action import RemoteAction

SECRET_HEADER = "X-Dy-Action-Secret"
SECRET_ENV = "DY_ACTION_SECRET"
ACTION_CALL_TIMEOUT_SECONDS = 30
_rasas_run = RemoteAction.run


@functools.wraps(_rasas_run)
async def _run_with_secret(self: RemoteAction, *args: Any, **kwargs: Any) -> Any:
    secret = os.environ.get(SECRET_ENV)
    endpoint = self.action_endpoint
    if secret and endpoint is not None:
        endpoint.headers = {**(endpoint.headers or {}), SECRET_HEADER: secret}
    return await _rasas_run(self, *args, **kwargs)


def install() -> None:
    """Bound every action call and send the shared secret with it (idempotent)."""
    rasa.core.actions.action.DEFAULT_REQUEST_TIMEOUT = ACTION_CALL_TIMEOUT_SECONDS
    RemoteAction.run = _run_with_secret
