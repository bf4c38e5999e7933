"""Small test helpers that stand in for no model: plates as data, plain frames, videos."""

from __future__ import annotations

import cv2
import numpy as np

from scenes import P_KEI, P_PRIVATE
from stream_lpr import plate_format as pf

# The two plates most tests talk about; the scenes in scenes.py render these same plates.
PLATE_A = P_PRIVATE
PLATE_B = P_KEI


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


def draw_frame(size: tuple[int, int], boxes: list[tuple[tuple[int, int, int], tuple[int, int, int, int]]]) -> np.ndarray:
    """A black frame with filled rectangles, boxes = [(bgr, (x1, y1, x2, y2)), ...]: for tests of
    frame plumbing, where the content only has to differ from frame to frame."""
    frame = np.zeros((size[1], size[0], 3), np.uint8)
    for colour, (x1, y1, x2, y2) in boxes:
        cv2.rectangle(frame, (x1, y1), (x2, y2), colour, -1)
    return frame


def write_video(path, frames: list[np.ndarray], fps: float = 30.0) -> None:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
