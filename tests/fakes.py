"""Stand-ins for the detector and the reader, so every stage but the models is tested fast.

Frames are black with solid-colour rectangles for plates. ColourDetector finds the rectangles;
ColourReader maps a crop's mean colour to the plate painted in that colour.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from stream_lpr import plate_format as pf


@dataclass(frozen=True)
class FakeDetections:
    xyxy: np.ndarray
    corners: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.xyxy)


@dataclass(frozen=True)
class FakeRead:
    scores: pf.FieldScores
    reading: pf.Reading


class ColourDetector:
    def __init__(self, delay_s: float = 0.0, min_area: int = 100) -> None:
        self.delay_s, self.min_area = delay_s, min_area

    def detect(self, image: np.ndarray) -> FakeDetections:
        if self.delay_s:
            time.sleep(self.delay_s)
        mask = (image.max(axis=2) > 40).astype(np.uint8)
        count, _, boxes, _ = cv2.connectedComponentsWithStats(mask)
        rows = [b for b in boxes[1:count] if b[4] >= self.min_area]
        xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h, _ in rows], np.float32).reshape(-1, 4)
        corners = np.stack([xyxy[:, [0, 1]], xyxy[:, [2, 1]], xyxy[:, [2, 3]], xyxy[:, [0, 3]]], axis=1)
        return FakeDetections(xyxy, corners.reshape(-1, 4, 2), np.full(len(xyxy), 0.9, np.float32))


def peaked_scores(plate: pf.PlateText, p: float = 0.9) -> pf.FieldScores:
    """Distributions with probability `p` on the plate's value in every head."""
    target = pf.encode(plate)

    def head(size: int, index: int) -> np.ndarray:
        dist = np.full(size, (1 - p) / (size - 1), np.float32)
        dist[index] = p
        return dist

    return pf.FieldScores(
        region=head(len(pf.REGIONS), target["region"]),
        class_number=np.stack([head(len(pf.CLASS_CHARS), i) for i in target["class_number"]]),
        kana=head(len(pf.KANA), target["kana"]),
        number=np.stack([head(len(pf.NUMBER_CHARS), i) for i in target["number"]]),
        plate_type=head(len(pf.PLATE_TYPES), target["plate_type"]),
    )


class ColourReader:
    """palette: BGR colour -> plate painted in it."""

    def __init__(self, palette: dict[tuple[int, int, int], pf.PlateText], delay_s: float = 0.0) -> None:
        self.palette, self.delay_s = palette, delay_s
        self.calls = 0

    def read(self, crops: list[np.ndarray]) -> list[FakeRead]:
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        return [self._read_one(crop) for crop in crops]

    def _read_one(self, crop: np.ndarray) -> FakeRead:
        mean = crop.reshape(-1, 3).mean(axis=0)
        colour = min(self.palette, key=lambda c: float(np.sum((np.array(c) - mean) ** 2)))
        scores = peaked_scores(self.palette[colour])
        return FakeRead(scores, pf.decode(scores))


PLATE_A = pf.parse_plate("品川 300 あ 12-34", "private")
PLATE_B = pf.parse_plate("なにわ 580 さ ・・12", "kei")
PALETTE = {(0, 200, 0): PLATE_A, (0, 0, 200): PLATE_B}


def draw_frame(size: tuple[int, int], boxes: list[tuple[tuple[int, int, int], tuple[int, int, int, int]]]) -> np.ndarray:
    """A black frame with filled rectangles: boxes = [(bgr, (x1, y1, x2, y2)), ...]."""
    frame = np.zeros((size[1], size[0], 3), np.uint8)
    for colour, (x1, y1, x2, y2) in boxes:
        cv2.rectangle(frame, (x1, y1), (x2, y2), colour, -1)
        dim = tuple(c // 2 for c in colour)  # stripes: a crop needs edges to pass the sharpness check
        for x in range(x1 + 6, x2 - 4, 8):
            cv2.line(frame, (x, y1 + 8), (x, y2 - 8), dim, 2)
    return frame


def write_video(path, frames: list[np.ndarray], fps: float = 30.0) -> None:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()


def two_plate_frames(n: int = 60, size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    """Plate A crosses left to right the whole time; plate B is in view for frames 10-39 only."""
    frames = []
    for i in range(n):
        boxes = [((0, 200, 0), (10 + 2 * i, 30, 90 + 2 * i, 70))]
        if 10 <= i < 40:
            boxes.append(((0, 0, 200), (200, 150, 280, 190)))
        frames.append(draw_frame(size, boxes))
    return frames
