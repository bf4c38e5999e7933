#!/usr/bin/env python3
"""Real-time Japanese license plate recognition: `python run_stream.py --help`."""

import sys

from stream_lpr.cli import main

if __name__ == "__main__":
    sys.exit(main())
