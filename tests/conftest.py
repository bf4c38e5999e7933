import os
import sys
from pathlib import Path

# Never let ultralytics reach the network, whatever a test imports.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

sys.path.insert(0, str(Path(__file__).resolve().parent))
