"""detection.idle_every_s: a camera that watches a still picture runs the detector twice a second,
not fifteen times.

A fixed camera's picture is mostly unchanged for long stretches: an empty street at night, a car
parked for hours. Nothing can come into view without the picture changing, so a frame due for
detection that differs from the last detected one by no more than sensor noise is not detected,
unless `every_s` has passed since the detector last ran: that keeps parked cars' tracks alive and
still reads them now and then. Any movement brings the detector back at that frame, and so does
a plate found but not yet tracked (a track is confirmed at its second detection in a row).
"""

from __future__ import annotations

import cv2
import numpy as np

from stream_lpr.records import Frame

_SCALE = 8  # compare 1/8-size grey thumbnails: averaging pixels cancels sensor noise and the codec's flicker
# A thumbnail pixel this many grey levels off has changed. Two frames of a still grey picture with
# noise of 6 levels differ by up to 7 (14 400 thumbnail pixels, 20 pairs); two frames of a still
# street, noise of 3 levels, through mp4v, by up to 9.
_CHANGED_LEVEL = 12
# This share of changed thumbnail pixels is movement. A car whose plate is big enough to read
# (40 px) is at least 250 px wide, a fifth of a 1280 x 720 picture's width, and changes far more.
_CHANGED_SHARE = 0.001


class MotionGate:
    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._last: np.ndarray | None = None  # the last detected frame's thumbnail
        self._last_s = 0.0
        self._awake = False

    def due(self, frame: Frame) -> bool:
        """True when `frame` should be detected: it moved since the last detected frame, or
        `every_s` has passed, or `stay_awake` was called. The caller detects every frame this
        says True of."""
        thumb = _thumbnail(frame.image)
        if (self._awake or self._last is None or thumb.shape != self._last.shape
                or frame.timestamp_s - self._last_s >= self.every_s - 1e-6 or _moved(thumb, self._last)):
            self._last, self._last_s, self._awake = thumb, frame.timestamp_s, False
            return True
        return False

    def stay_awake(self) -> None:
        """The next frame asked about is due: the last detection found a plate with no track yet."""
        self._awake = True


def _thumbnail(image: np.ndarray) -> np.ndarray:
    # Every other pixel, then averaged: 0.36 ms for a 1280 x 720 frame against 0.71 for all of
    # them, as steady. Sampling further (every 4th: 0.14 ms) let the codec's flicker through: a
    # still street's frames differed in 0.3 % of their thumbnails' pixels.
    h, w = image.shape[:2]
    half = cv2.resize(image, (max(1, 4 * w // _SCALE), max(1, 4 * h // _SCALE)), interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(half, (max(1, w // _SCALE), max(1, h // _SCALE)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small


def _moved(thumb: np.ndarray, last: np.ndarray) -> bool:
    changed = cv2.absdiff(thumb, last) > _CHANGED_LEVEL
    return changed.mean() > _CHANGED_SHARE
