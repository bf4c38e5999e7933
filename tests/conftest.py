import os
import sys
from pathlib import Path

import pytest

# Never let ultralytics reach the network, whatever a test imports.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models():
    """(detector, reader): the shipped weights, built as the CLI builds them from config.yaml.
    Module scope: loading costs about a second, and neither model keeps state between calls."""
    from stream_lpr import cli
    from stream_lpr.config import load_config

    config_path = ROOT / "config.yaml"
    detector, readers = cli.load_models(load_config(config_path, {"workers.count": 1}), config_path)
    return detector, readers[0]
