"""``python -m channels.server <rasa run arguments>``: the Rasa server, with its HTTP API's
JWT secret taken from the environment (``RASA_JWT_SECRET``) instead of the command line, where
every local user could read it (``ps``, ``/proc/<pid>/cmdline``)."""

from __future__ import annotations

import os
import sys

JWT_SECRET_ENV = "RASA_JWT_SECRET"


def main() -> None:
    from rasa.__main__ import main as rasa_main

    arguments = sys.argv[1:] or ["run"]
    secret = os.environ.get(JWT_SECRET_ENV)
    if secret and "--jwt-secret" not in arguments:
        arguments += ["--jwt-secret", secret]
    sys.argv = ["rasa", *arguments]
    rasa_main()


if __name__ == "__main__":
    main()
