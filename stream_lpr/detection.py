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

    def subset(self, keep: np.ndarray) -> "PlateDetections":
        return PlateDetections(self.xyxy[keep], self.corners[keep], self.confidence[keep])

    def with_corners(self, corners: np.ndarray) -> "PlateDetections":
        return PlateDetections(self.xyxy, corners, self.confidence)

    def inside(self, polygon: tuple[tuple[float, float], ...], shape: tuple[int, ...]) -> "PlateDetections":
        """The detections whose box centre lies inside `polygon` (points as fractions of an image
        of `shape`'s width and height); all of them when it is empty."""
        if not polygon or not len(self):
            return self
        h, w = shape[:2]
        outline = (np.asarray(polygon, np.float32) * np.float32([w, h])).reshape(-1, 1, 2)
        centres = (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2
        keep = np.array([cv2.pointPolygonTest(outline, (float(x), float(y)), False) >= 0 for x, y in centres], bool)
        return self.subset(keep)

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
        # A dynamic export (sizes named, not numbers) still records the size it was exported at.
        self.dynamic = not all(isinstance(d, int) for d in feed.shape[2:])
        meta = self.session.get_modelmeta().custom_metadata_map
        exported = [int(v) for v in meta.get("imgsz", "[384, 640]").strip("[]").split(",")]
        self.height, self.width = exported if self.dynamic else feed.shape[2:]
        self.keypoints = int(meta.get("kpt_shape", "[4, 3]").strip("[]").split(",")[0])

    @property
    def long_side(self) -> int:
        return max(self.height, self.width)

    def input_size(self, shape: tuple[int, ...], long_side: int | None) -> tuple[int, int]:
        """The network's input (height, width) for an image: the export size, or `long_side` on
        the image's long side and the short side cut to the image's aspect, in steps of the
        network's stride (32)."""
        if long_side is None:
            return self.height, self.width
        h, w = shape[:2]
        scale = long_side / max(h, w)
        return tuple(int(np.ceil(v * scale / 32) * 32) for v in (h, w))

    def letterbox(self, image: np.ndarray, long_side: int | None = None) -> tuple[np.ndarray, float, float, float]:
        height, width = self.input_size(image.shape, long_side)
        h, w = image.shape[:2]
        scale = min(width / w, height / h)
        nw, nh = round(w * scale), round(h * scale)
        dx, dy = (width - nw) // 2, (height - nh) // 2
        canvas = np.full((height, width, 3), 114, np.uint8)  # ultralytics' padding grey
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        canvas[dy : dy + nh, dx : dx + nw] = cv2.resize(image, (nw, nh), interpolation=interpolation)
        blob = cv2.dnn.blobFromImage(canvas, 1 / 255.0, swapRB=True)  # BGR HWC uint8 -> RGB NCHW float
        return blob, scale, dx, dy

    def __call__(self, image: np.ndarray, conf: float, iou: float, long_side: int | None = None) -> PlateDetections:
        blob, scale, dx, dy = self.letterbox(image, long_side)
        out = self.session.run(None, {self.input_name: blob})[0][0].T  # (anchors, 5 + 3 * keypoints)
        out = out[out[:, 4] >= conf]
        if not len(out):
            return PlateDetections.empty()
        cx, cy, bw, bh = out[:, 0], out[:, 1], out[:, 2], out[:, 3]
        xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
        keep = _nms(xyxy, out[:, 4], iou)
        out, xyxy = out[keep], xyxy[keep]
        corners = out[:, 5:].reshape(-1, self.keypoints, 3)[:, :, :2]
        offset = np.array([dx, dy], np.float32)
        h, w = image.shape[:2]
        xyxy = ((xyxy.reshape(-1, 2, 2) - offset) / scale).reshape(-1, 4)
        xyxy = np.clip(xyxy, 0, [w, h, w, h])
        return PlateDetections(xyxy.astype(np.float32), ((corners - offset) / scale).astype(np.float32),
                               out[:, 4].astype(np.float32))


class _UltralyticsModel:
    """The .pt file through ultralytics: the way to run on a GPU."""

    def __init__(self, path: Path, imgsz: int, device: str):
        from ultralytics import YOLO
        from ultralytics.utils import LOGGER

        LOGGER.setLevel(logging.WARNING)  # its model-loading chatter would break the progress bar
        self.model, self.imgsz, self.device = YOLO(str(path), task="pose"), imgsz, device
        self.long_side, self.dynamic = imgsz, True

    def __call__(self, image: np.ndarray, conf: float, iou: float, long_side: int | None = None) -> PlateDetections:
        result = self.model.predict(image, imgsz=long_side or self.imgsz, conf=conf, iou=iou, device=self.device,
                                    verbose=False)[0]
        if result.boxes is None or len(result.boxes) == 0 or result.keypoints is None:
            return PlateDetections.empty()
        return PlateDetections(
            xyxy=result.boxes.xyxy.cpu().numpy().astype(np.float32),
            corners=result.keypoints.xy.cpu().numpy().astype(np.float32),
            confidence=result.boxes.conf.cpu().numpy().astype(np.float32),
        )


class PlateDetector:
    """Finds plates and their corners in a BGR frame: .onnx weights run on CPU through
    onnxruntime, .pt weights through ultralytics (any device).

    Still images have no frame rate to keep, so they are also seen at `still_size` pixels on
    their long side, or at half their size in larger photos (.pt weights and dynamic .onnx
    exports; never enlarged; 0: not), and the passes merged. A 1448 x 1086 photo at the video's
    640 shows a 140 px plate 49 px wide, where this detector is unsure of a real plate (0.48 on
    the green plate in reference_jp; 0.91 at 960), while the 640 pass keeps what the detector was
    trained to see: frames at half size. Half size is the rule in larger photos too: with the
    reference photos pasted into scenes 2 and 2.8 times as wide (the plates still 94-139 px), a
    pass at 960 left one of the four plates unfound or misread; at half size all 4 read exactly.

    Close-ups are the other end: the detector was trained on plates up to 500 px wide in a
    1280 px frame and misses most plates wider than half the image at 640 (a plate photographed
    up close: none of the 4 reference plates cropped to 70 % of the image's width, all 4 at 256).
    A third pass at `close_up_size` shows them at sizes it knows; it adds only boxes at least
    `CLOSE_UP_MIN_WIDTH` of the image's long side, as smaller boxes at that size are too few
    pixels to trust (a car badge beside a plate came out at 0.77 there, a 133 px box in 1280).

    A photo taken with the camera askew turns its plates in the picture's plane, and the detector
    finds most plates within about 30 degrees of level (session 37's; session 20's, which learnt
    only the composer's roll, lost 2 of the 8 reference plates turned 22 degrees). Turned 30
    degrees it finds all 8 as stills; turned 40 it loses the 世田谷 plate, found again in the
    photo turned back 20. So a still is also seen turned `still_turn` degrees each way at the
    model's own size (0: not), and the boxes of plates the level passes missed or were unsure of
    carried back into the photo. A level box at `counts_at` or more (tracking.high_confidence: it counts in a
    still) keeps its plate, as a turned box can be surer and its corners worse.

    A `refiner` (refine.CornerRefiner) then moves each plate's corners onto its edges.
    """

    CLOSE_UP_MIN_WIDTH = 0.3
    STILL_MAX_SIZE = 2048

    def __init__(self, weights: str | Path, imgsz: int = 640, conf: float = 0.25, iou: float = 0.5,
                 device: str = "cpu", still_size: int = 960, close_up_size: int = 256, still_turn: float = 0.0,
                 counts_at: float = 0.5, refiner=None):
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
        self.still_size, self.close_up_size, self.still_turn = still_size, close_up_size, still_turn
        self.counts_at = counts_at
        self.refiner = refiner

    def still_pass_size(self, long_side: int) -> int:
        """The long side of a still image's second pass: `still_size`, or half the image when that
        is larger (up to `STILL_MAX_SIZE`), as the detector learnt plates in 1280 px frames seen at
        640; never enlarged. 0 when `still_size` is 0."""
        if not self.still_size:
            return 0
        return min(max(self.still_size, long_side // 2), self.STILL_MAX_SIZE, long_side)

    def detect(self, image: np.ndarray, still: bool = False) -> PlateDetections:
        found = self._passes(image, still)
        if self.refiner is None or not len(found):
            return found
        return found.with_corners(self.refiner.refine(image, found.corners))

    def _passes(self, image: np.ndarray, still: bool) -> PlateDetections:
        found = self._level_passes(image, still)
        if not (still and self.still_turn):
            return found
        # Shrunk once for both turns, to twice the model's size: the turns cost less, and turned
        # at the model's own size the pixels blur further (a 61 px plate went unfound).
        scale = min(1.0, 2 * self.model.long_side / max(image.shape[:2]))
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
        turned = _merge(self._turned_pass(small, self.still_turn, scale, image.shape),
                        self._turned_pass(small, -self.still_turn, scale, image.shape))
        # A plate the level passes are sure of keeps their box: a turned pass's can be surer and
        # its corners worse (a plate seen 55 degrees from the side lost its row so). Elsewhere the
        # surer box wins, as between the level passes.
        sure = found.subset(np.flatnonzero(found.confidence >= self.counts_at))
        unseen = box_iou(turned.xyxy, sure.xyxy).max(axis=1, initial=0.0) <= _SAME_PLATE_IOU
        return _merge(found, turned.subset(np.flatnonzero(unseen)))

    def _level_passes(self, image: np.ndarray, still: bool) -> PlateDetections:
        found = self.model(image, self.conf, self.iou)
        if not (still and self.model.dynamic):
            return found
        long_side = max(image.shape[:2])
        size = self.still_pass_size(long_side)
        if size > self.model.long_side:
            found = _merge(found, self.model(image, self.conf, self.iou, size))
        if 0 < self.close_up_size < self.model.long_side:
            close = self.model(image, self.conf, self.iou, self.close_up_size)
            wide = close.xyxy[:, 2] - close.xyxy[:, 0] >= self.CLOSE_UP_MIN_WIDTH * long_side
            found = _merge(found, close.subset(wide))
        return found

    def _turned_pass(self, small: np.ndarray, degrees: float, scale: float,
                     shape: tuple[int, ...]) -> PlateDetections:
        """The model's pass on `small` (the image of `shape` shrunk by `scale`) turned `degrees`
        about its centre, its plates carried back into the image (those that the turn moved
        partly outside it are dropped)."""
        h, w = shape[:2]
        sh, sw = small.shape[:2]
        turn = cv2.getRotationMatrix2D((sw / 2, sh / 2), degrees, 1.0)
        found = self.model(cv2.warpAffine(small, turn, (sw, sh), borderMode=cv2.BORDER_REFLECT), self.conf, self.iou)
        back = cv2.invertAffineTransform(turn) / scale  # turned small picture -> image pixels
        corners = cv2.transform(found.corners.reshape(-1, 1, 2), back).reshape(-1, 4, 2)
        xyxy = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1).astype(np.float32)
        inside = (xyxy[:, 0] >= 0) & (xyxy[:, 1] >= 0) & (xyxy[:, 2] <= w) & (xyxy[:, 3] <= h)
        return PlateDetections(xyxy, corners.astype(np.float32), found.confidence).subset(inside)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4) -> (N, M)."""
    a = np.asarray(a, np.float32)[:, None, :]
    b = np.asarray(b, np.float32)[None, :, :]
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


# Two boxes overlapping more than this are one plate: two passes box a plate a little
# differently, and two plates never overlap that much.
_SAME_PLATE_IOU = 0.3


def _merge(a: PlateDetections, b: PlateDetections, iou: float = _SAME_PLATE_IOU) -> PlateDetections:
    """Both sets, less the weaker of any two boxes overlapping by more than `iou` (one plate)."""
    xyxy, corners = np.concatenate([a.xyxy, b.xyxy]), np.concatenate([a.corners, b.corners])
    confidence = np.concatenate([a.confidence, b.confidence])
    if not len(confidence):
        return a
    return PlateDetections(xyxy, corners, confidence).subset(_nms(xyxy, confidence, iou))


def _nms(xyxy: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes non-maximum suppression keeps, most confident first."""
    boxes = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], 1)  # OpenCV's x, y, w, h
    keep = np.array(cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), 0.0, iou), dtype=np.int64).reshape(-1)
    return keep[np.argsort(-scores[keep])]
