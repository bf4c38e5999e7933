"""The plate detector: a YOLOv8 pose model (one class, 4 corner keypoints), from its ONNX export
through onnxruntime on CPU (faster there) or from the .pt file through ultralytics on a GPU."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import stream_lpr.offline  # noqa: F401 - must precede ultralytics
from stream_lpr.errors import WeightsError
from stream_lpr.onnx_runtime import open_session


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


class OnnxPoseModel:
    """The ONNX export run straight by onnxruntime: letterbox, one forward pass, NMS. Skipping
    ultralytics' predictor (its tensors, result objects and checks) saves about a third of the
    time per frame on CPU."""

    def __init__(self, path: Path, device: str = "cpu"):
        self.session = open_session(path, device)
        feed = self.session.get_inputs()[0]
        self.input_name = feed.name
        self.height, self.width = int(feed.shape[2]), int(feed.shape[3])
        self.keypoints = (self.session.get_outputs()[0].shape[1] - 5) // 3

    def letterbox(self, image: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        h, w = image.shape[:2]
        scale = min(self.width / w, self.height / h)
        nw, nh = round(w * scale), round(h * scale)
        dx, dy = (self.width - nw) // 2, (self.height - nh) // 2
        canvas = np.full((self.height, self.width, 3), 114, np.uint8)  # ultralytics' padding grey
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        canvas[dy : dy + nh, dx : dx + nw] = cv2.resize(image, (nw, nh), interpolation=interpolation)
        blob = cv2.dnn.blobFromImage(canvas, 1 / 255.0, swapRB=True)  # BGR HWC uint8 -> RGB NCHW float
        return blob, scale, dx, dy

    def __call__(self, image: np.ndarray, conf: float, iou: float) -> PlateDetections:
        blob, scale, dx, dy = self.letterbox(image)
        out = self.session.run(None, {self.input_name: blob})[0][0].T  # (anchors, 5 + 3 * keypoints)
        out = out[out[:, 4] >= conf]
        if not len(out):
            return PlateDetections.empty()
        cx, cy, bw, bh = out[:, 0], out[:, 1], out[:, 2], out[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, bw, bh], 1)
        keep = np.array(cv2.dnn.NMSBoxes(boxes.tolist(), out[:, 4].tolist(), conf, iou), dtype=np.int64).reshape(-1)
        out, boxes = out[keep], boxes[keep]
        xyxy = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], 1)
        corners = out[:, 5:].reshape(-1, self.keypoints, 3)[:, :, :2]
        offset = np.array([dx, dy], np.float32)
        h, w = image.shape[:2]
        xyxy = ((xyxy.reshape(-1, 2, 2) - offset) / scale).reshape(-1, 4)
        xyxy = np.clip(xyxy, 0, [w, h, w, h])
        order = np.argsort(-out[:, 4])
        return PlateDetections(xyxy[order].astype(np.float32), ((corners - offset) / scale)[order].astype(np.float32),
                               out[order, 4].astype(np.float32))


class _UltralyticsModel:
    """The .pt file through ultralytics: the way to run on a GPU."""

    def __init__(self, path: Path, imgsz: int, device: str):
        from ultralytics import YOLO
        from ultralytics.utils import LOGGER

        LOGGER.setLevel(logging.WARNING)  # its model-loading chatter would break the progress bar
        self.model, self.imgsz, self.device = YOLO(str(path), task="pose"), imgsz, device

    def __call__(self, image: np.ndarray, conf: float, iou: float) -> PlateDetections:
        result = self.model.predict(image, imgsz=self.imgsz, conf=conf, iou=iou, device=self.device, verbose=False)[0]
        if result.boxes is None or len(result.boxes) == 0 or result.keypoints is None:
            return PlateDetections.empty()
        return PlateDetections(
            xyxy=result.boxes.xyxy.cpu().numpy().astype(np.float32),
            corners=result.keypoints.xy.cpu().numpy().astype(np.float32),
            confidence=result.boxes.conf.cpu().numpy().astype(np.float32),
        )


class PlateDetector:
    """Finds plates and their corners in a BGR frame: .onnx weights run on CPU through
    onnxruntime, .pt weights through ultralytics (any device)."""

    def __init__(self, weights: str | Path, imgsz: int = 640, conf: float = 0.25, iou: float = 0.5,
                 device: str = "cpu"):
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"detector weights not found: {path}")
        try:
            self.model = OnnxPoseModel(path, device) if path.suffix == ".onnx" else _UltralyticsModel(path, imgsz, device)
            # A first call builds the runtime, so a corrupt file fails here, not mid-stream.
            self.model(np.zeros((64, 64, 3), np.uint8), conf, iou)
        except WeightsError:
            raise
        except Exception as exc:  # onnxruntime and ultralytics raise many kinds for a bad file
            raise WeightsError(f"cannot load detector weights {path}: {exc.__class__.__name__}: {exc}") from None
        self.conf, self.iou = conf, iou

    def detect(self, image: np.ndarray) -> PlateDetections:
        return self.model(image, self.conf, self.iou)
