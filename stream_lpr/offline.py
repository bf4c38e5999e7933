"""Keeps ultralytics from reaching the network: no hub sync, no font or weight downloads.

Import this module before ultralytics anywhere in the package.
"""

import os

os.environ.setdefault("YOLO_OFFLINE", "1")
# A missing package is an install error to report, not something to pip-install mid-run.
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

from ultralytics.utils import SETTINGS  # noqa: E402 - the variables above must be set first

_QUIET = {"sync": False, "clearml": False, "comet": False, "dvc": False, "mlflow": False, "raytune": False,
          "wandb": False, "tensorboard": False}
if any(SETTINGS.get(key) != value for key, value in _QUIET.items()):
    SETTINGS.update(_QUIET)
