"""Runs the real CLI with the fake models (for subprocess tests that must not need weights).

Usage: python tests/fake_cli.py [--detect-delay S] -- <stream-lpr arguments>
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes import PALETTE, ColourDetector, ColourReader  # noqa: E402

from stream_lpr import cli  # noqa: E402


def main() -> int:
    argv = sys.argv[1:]
    delay = 0.0
    if argv[:1] == ["--detect-delay"]:
        delay, argv = float(argv[1]), argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    cli.load_models = lambda config, path: (ColourDetector(delay), [ColourReader(PALETTE) for _ in range(config.workers.count)])
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
