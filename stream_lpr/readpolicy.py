"""Which crops are worth sending to the reader.

Reading costs far more than tracking, and the tenth read of a plate adds little, so each track
is read at most `max_reads_per_s` times a second (fewer once its vote is stable: processor.py),
and only from crops that are big enough, sharp enough and seen from the front. Checks run
cheapest first: the rate cap and the corner geometry need no pixels; sharpness needs the
rectified crop.
"""

from __future__ import annotations

import cv2
import numpy as np

from stream_lpr.config import ReadPolicyConfig
from stream_lpr.records import CropQuality

_PLATE_ASPECT = 2.0  # width / height of a medium plate (330 x 165 mm)
_SHARPNESS_SCALE = 200.0  # Laplacian variance at which sharpness stops adding to the score


def quad_geometry(corners: np.ndarray) -> tuple[float, float]:
    """(width in px, frontalness in [0, 1]) of a TL, TR, BR, BL plate quad.

    Frontalness multiplies how parallel opposite edges are (perspective shrinks the far edge)
    by how close the aspect ratio is to 2:1 (a plate seen from the side looks narrower).
    """
    c = np.asarray(corners, np.float32)
    top, right = np.linalg.norm(c[1] - c[0]), np.linalg.norm(c[2] - c[1])
    bottom, left = np.linalg.norm(c[2] - c[3]), np.linalg.norm(c[3] - c[0])
    if min(top, right, bottom, left) < 1e-3:
        return 0.0, 0.0
    parallel = min(top, bottom) / max(top, bottom) * min(left, right) / max(left, right)
    aspect = ((top + bottom) / 2) / ((left + right) / 2)
    aspect_fit = min(aspect, _PLATE_ASPECT) / max(aspect, _PLATE_ASPECT)
    return float(max(top, bottom)), float(parallel * aspect_fit)


# (scale, sideways shift as a fraction of plate width, upward shift as a fraction of its height)
# of the corner sets a still image's plate is read from: the detector's own, then a little wider,
# tighter, to each side, up and down. A still has one chance, and corners a few percent off cut
# a character or add a bolt; the views' votes average that out the way frames do in a video.
STILL_VIEWS = ((1.0, 0.0, 0.0), (1.05, 0.0, 0.0), (0.96, 0.0, 0.0), (1.03, -0.03, 0.0), (1.03, 0.03, 0.0),
               (1.02, 0.0, 0.04), (1.02, 0.0, -0.04), (1.09, 0.0, 0.0), (0.93, 0.0, 0.0))


def still_views(corners: np.ndarray, count: int) -> list[np.ndarray]:
    """The first `count` STILL_VIEWS of a TL, TR, BR, BL quad."""
    c = np.asarray(corners, np.float32)
    centre, across = c.mean(axis=0), ((c[1] - c[0]) + (c[2] - c[3])) / 2
    up = ((c[0] - c[3]) + (c[1] - c[2])) / 2
    return [centre + (c - centre) * scale + across * dx + up * dy for scale, dx, dy in STILL_VIEWS[:count]]


def inside_share(corners: np.ndarray, shape: tuple[int, ...]) -> float:
    """Share of a plate quad's area that lies inside an image of `shape` (height, width, ...)."""
    quad = cv2.convexHull(np.asarray(corners, np.float32).reshape(-1, 2))
    area = cv2.contourArea(quad)
    if area < 1e-6:
        return 0.0
    h, w = shape[:2]
    frame = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    inside, _ = cv2.intersectConvexConvex(quad, frame)
    return float(min(inside / area, 1.0))


def edge_gap(corners: np.ndarray, shape: tuple[int, ...]) -> float:
    """Pixels between a plate quad and the nearest edge of an image of `shape` (negative when
    a corner lies outside)."""
    c = np.asarray(corners, np.float32)
    h, w = shape[:2]
    return float(min(c[:, 0].min(), c[:, 1].min(), w - c[:, 0].max(), h - c[:, 1].max()))


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian: low for blurred or out-of-focus plates."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return float(cv2.Laplacian(gray, cv2.CV_32F).var())


class ReadPolicy:
    """Raise the minimums to read fewer, better crops (plates far away may then never be read);
    raise `max_reads_per_s` for faster stable verdicts at more reader load."""

    def __init__(self, config: ReadPolicyConfig) -> None:
        self.config = config
        self._last_read_s: dict[int, float] = {}

    def due(self, track_id: int, t: float, reads_per_s: float | None = None) -> bool:
        """True when the track has not been read within the last 1 / `reads_per_s` seconds
        (default: max_reads_per_s)."""
        last = self._last_read_s.get(track_id)
        return last is None or t - last >= 1.0 / (reads_per_s or self.config.max_reads_per_s) - 1e-6

    def geometry_ok(self, corners: np.ndarray, shape: tuple[int, ...]) -> bool:
        """A video frame's plate: wide and frontal enough, in view and clear of the frame's edge."""
        width, frontal = quad_geometry(corners)
        return (width >= self.config.min_width_px and frontal >= self.config.min_frontalness
                and self.in_view(corners, shape) and self.clear_of_edge(corners, shape, width))

    def in_view(self, corners: np.ndarray, shape: tuple[int, ...]) -> bool:
        """False when the corners put more of the plate outside the frame than `min_inside`
        allows: its hidden characters would be guesses."""
        return inside_share(corners, shape) >= self.config.min_inside

    def clear_of_edge(self, corners: np.ndarray, shape: tuple[int, ...], width: float) -> bool:
        """False when the corners come closer to the frame's edge than `min_edge_gap` of the
        plate's `width` (quad_geometry's). The detector was never shown corners outside the frame, so it mostly
        draws a cut plate along the edge (or a whole plate squeezed just inside it), which
        in_view passes. Video only: a plate entering the frame is read a moment later, whole,
        while a still has one chance and the reader (trained on cut plates) judges it."""
        return not self.config.min_edge_gap or edge_gap(corners, shape) >= self.config.min_edge_gap * width

    def judge(self, corners: np.ndarray, crop: np.ndarray) -> CropQuality | None:
        """The crop's quality, or None when it is not worth a read."""
        width, frontal = quad_geometry(corners)
        sharp = sharpness(crop)
        if width < self.config.min_width_px or frontal < self.config.min_frontalness:
            return None
        if sharp < self.config.min_sharpness:
            return None
        # Bigger, sharper, more frontal crops read better: their votes weigh more.
        size_term = min(width / (4 * max(self.config.min_width_px, 1.0)), 1.0)
        sharp_term = min(sharp / _SHARPNESS_SCALE, 1.0)
        score = frontal * (0.5 + 0.5 * size_term) * (0.5 + 0.5 * sharp_term)
        return CropQuality(width_px=width, sharpness=sharp, frontalness=frontal, score=float(score))

    def mark_read(self, track_id: int, t: float) -> None:
        self._last_read_s[track_id] = t

    def forget(self, track_id: int) -> None:
        self._last_read_s.pop(track_id, None)
