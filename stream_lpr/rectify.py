"""Warps a plate from its 4 corners to an upright image of the reader's input size."""

from __future__ import annotations

import cv2
import numpy as np

# Width x height of a rectified plate: the 2:1 medium-plate shape (330 x 165 mm).
PLATE_SIZE = (128, 64)


def rectify(image: np.ndarray, corners: np.ndarray, size: tuple[int, int] = PLATE_SIZE) -> np.ndarray:
    """corners: (4, 2) TL, TR, BR, BL in image pixels. Returns a (h, w, 3) uint8 image."""
    w, h = size
    corners = np.asarray(corners, dtype=np.float32)
    # Work on the plate's neighbourhood only: warping and blurring a whole frame per plate
    # would cost more than reading it.
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 2
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, image.shape[1]), min(y1, image.shape[0])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((h, w, 3), dtype=np.uint8)
    roi = image[y0:y1, x0:x1]
    corners = corners - np.array([x0, y0], dtype=np.float32)
    # warpPerspective has no area filter: blur big plates first so thin strokes do not alias.
    scale = float(np.linalg.norm(corners[1] - corners[0])) / w
    if scale > 2.0:
        k = int(scale) | 1
        roi = cv2.GaussianBlur(roi, (k, k), 0)
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(corners, target)
    return cv2.warpPerspective(roi, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def rectify_around(image: np.ndarray, corners: np.ndarray, plate_at: np.ndarray,
                   size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The plate at `corners` warped upright to `plate_at` (4, 2) inside a picture of `size`
    (w, h), its surroundings around it; and the homography from image points to that picture."""
    matrix = cv2.getPerspectiveTransform(np.asarray(corners, np.float32), np.asarray(plate_at, np.float32))
    w, h = size
    frame = np.float32([[0, 0], [w, 0], [w, h], [0, h]]).reshape(-1, 1, 2)
    outer = cv2.perspectiveTransform(frame, np.linalg.inv(matrix)).reshape(4, 2)
    return rectify(image, outer, size), matrix


# The part of a frame kept with a saved crop, in plate widths from the plate's centre: a car is
# about 5 plate widths wide and stands mostly above its plate, so the picture shows which car it was.
_VEHICLE_SIDE, _VEHICLE_ABOVE, _VEHICLE_BELOW = 3.0, 3.0, 1.0


def vehicle_view(image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """A copy of the frame around the plate box `xyxy`: 6 plate widths wide, from 3 above its
    centre to 1 below, clipped to the frame."""
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    w, cx, cy = max(x1 - x0, 1.0), (x0 + x1) / 2, (y0 + y1) / 2
    h_img, w_img = image.shape[:2]
    left, right = max(int(cx - _VEHICLE_SIDE * w), 0), min(int(cx + _VEHICLE_SIDE * w) + 1, w_img)
    top, bottom = max(int(cy - _VEHICLE_ABOVE * w), 0), min(int(cy + _VEHICLE_BELOW * w) + 1, h_img)
    return image[top:bottom, left:right].copy()
