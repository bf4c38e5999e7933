"""The plate detector: a YOLOv8 pose model (one class, 4 corner keypoints) run by ultralytics,
from the ONNX export on CPU (faster there) or the .pt file on a GPU."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import stream_lpr.offline  # noqa: F401 - must precede ultralytics
from stream_lpr.errors import WeightsError


@dataclass(frozen=True)
class PlateDetections:
    xyxy: np.ndarray  # (N, 4) float32, source pixels
    corners: np.ndarray  # (N, 4, 2) float32: TL, TR, BR, BL in source pixels
    confidence: np.ndarray  # (N,) float32

    def __len__(self) -> int:
        return len(self.confidence)

    @staticmethod
    def empty() -> "PlateDetections":
        return PlateDetections(np.zeros((0, 4), np.float32), np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32))


def _onnx_input_size(path: Path) -> tuple[int, int]:
    """(height, width) a static ONNX export was made for."""
    import onnx

    dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    return int(dims[2].dim_value), int(dims[3].dim_value)


class PlateDetector:
    def __init__(self, weights: str | Path, imgsz: int = 640, conf: float = 0.25, iou: float = 0.5,
                 device: str = "cpu"):
        from ultralytics import YOLO
        from ultralytics.utils import LOGGER

        LOGGER.setLevel(logging.WARNING)  # its model-loading chatter would break the progress bar
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"detector weights not found: {path}")
        try:
            self.imgsz: int | tuple[int, int] = _onnx_input_size(path) if path.suffix == ".onnx" else imgsz
            self.model = YOLO(str(path), task="pose")
            # A first call builds the runtime session, so a corrupt file fails here, not mid-stream.
            self.model.predict(np.zeros((64, 64, 3), np.uint8), imgsz=self.imgsz, device=device, verbose=False)
        except Exception as exc:  # ultralytics raises many kinds for a bad file
            raise WeightsError(f"cannot load detector weights {path}: {exc.__class__.__name__}: {exc}") from None
        self.conf, self.iou, self.device = conf, iou, device

    def detect(self, image: np.ndarray) -> PlateDetections:
        result = self.model.predict(image, imgsz=self.imgsz, conf=self.conf, iou=self.iou,
                                    device=self.device, verbose=False)[0]
        if result.boxes is None or len(result.boxes) == 0 or result.keypoints is None:
            return PlateDetections.empty()
        return PlateDetections(
            xyxy=result.boxes.xyxy.cpu().numpy().astype(np.float32),
            corners=result.keypoints.xy.cpu().numpy().astype(np.float32),
            confidence=result.boxes.conf.cpu().numpy().astype(np.float32),
        )
