"""overlay.anonymize: which places to hide in each frame.

A plate can be in a frame the detector did not look at or did not find it in: a frame between
two detections (detection.every_n_frames), or one of the frames the detector loses a plate for
as it shrinks into the distance or blurs. So each frame hides where its tracks are, every place
a plate was found up to overlay.anonymize_hold_s before it, and, for a frame between two
detections, every place the next detection finds one: such frames are held until that
detection (one frame at every_n_frames 2), so a plate coming into view between two
detections is hidden from its first frame.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from stream_lpr.records import Frame


@dataclass(frozen=True)
class HiddenFrame:
    """A frame ready to draw, and the plate quads (4, 2) to hide in it."""

    frame: Frame
    quads: list[np.ndarray]


class PlateHider:
    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self._found: deque[tuple[float, np.ndarray]] = deque()  # (when, quads) of each detection
        self._held: list[tuple[Frame, list[np.ndarray]]] = []  # frames since the last detection, their tracks

    def found(self, frame: Frame, quads: np.ndarray) -> None:
        """Every plate a detection found in `frame`, tracked or not (outside detection.roi too)."""
        if frame.still:  # each image its own scene: nothing kept from the one before
            self._found.clear()
        self._found.append((frame.timestamp_s, np.asarray(quads, np.float32).reshape(-1, 4, 2)))

    def add(self, frame: Frame, tracked: list[np.ndarray], detected: bool) -> list[HiddenFrame]:
        """Takes `frame` (with its tracks' quads where they are) and returns the frames now due,
        oldest first: none until a detected frame, then it and every frame held before it."""
        self._held.append((frame, tracked))
        if not detected:
            return []
        due = self.release()
        while self._found and frame.timestamp_s - self._found[0][0] > self.hold_s:
            self._found.popleft()
        return due

    def release(self) -> list[HiddenFrame]:
        """Every held frame, oldest first (a detection came, or the run is ending)."""
        due = [HiddenFrame(frame, list(tracked) + [quad for when, quads in self._found
                                                   if when >= frame.timestamp_s - self.hold_s for quad in quads])
               for frame, tracked in self._held]
        self._held.clear()
        return due
