"""python -m web [--host H] [--port P]: serve the support widget."""

import argparse

from tickets.privacy import install_log_redaction
from web.app import run

# the console handles contact details (callers' numbers, mail addresses): never in the logs
install_log_redaction()
parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--host")
parser.add_argument("--port", type=int)
args = parser.parse_args()
run(args.host, args.port)
