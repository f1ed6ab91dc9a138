"""Validate the whole project (see editing/validate.py): ``file:line: message`` per problem.

Usage: python scripts/validate_data.py [--project DIR] [--skip-rasa]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from editing.validate import main

if __name__ == "__main__":
    sys.exit(main())
