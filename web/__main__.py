"""python -m web [--host H] [--port P]: serve the support widget."""

import argparse

from web.app import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--host")
parser.add_argument("--port", type=int)
args = parser.parse_args()
run(args.host, args.port)
