"""Frozen records that cross stage boundaries: capture -> tracking -> reading -> voting -> sinks.

Each stage takes and returns these, never another stage's internals, so stages can be tested
alone with hand-made records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from stream_lpr.plate_format import PlateText


@dataclass(frozen=True)
class Frame:
    """One decoded image from a source."""

    image: np.ndarray  # (h, w, 3) BGR uint8
    index: int  # 0-based position in the source
    timestamp_s: float  # seconds from the source's start: media time (files), wall clock (live)
    captured_at: float  # time.monotonic() when grabbed: for live latency
    seen_at: datetime  # UTC wall clock: when recorded, for a file that tells it (recorded_at.py), else when grabbed
    source: str  # the source as given (password redacted); an image source's own path; a drive's file
    still: bool = False  # a still image: its own sighting scope, no tracking across images
    # Where `source` begins in the run, in seconds and frames: 0 except in a drive's later files
    # (drive.py), whose frames go on from the file before so that a track crosses the cut.
    file_start_s: float = 0.0
    file_start_frame: int = 0

    @property
    def file_time_s(self) -> float:
        """Seconds into `source` itself, as a player shows them."""
        return self.timestamp_s - self.file_start_s


@dataclass(frozen=True)
class EndOfStream:
    """Always the grabber's last item, so the consumer never waits for frames that won't come."""

    error: str | None = None  # None: the source ended normally (or the user stopped)


@dataclass(frozen=True)
class TrackedPlate:
    """One detection with the id of the track it belongs to, in source pixels."""

    track_id: int
    xyxy: np.ndarray  # (4,) float32
    corners: np.ndarray  # (4, 2) float32: TL, TR, BR, BL
    confidence: float
    detection_index: int  # row of the PlateDetections this came from; -1: a predicted position


@dataclass(frozen=True)
class CropQuality:
    """Why a crop is (or is not) worth reading; `score` orders crops of one track."""

    width_px: float  # top edge length of the plate quad
    sharpness: float  # variance of the Laplacian of the rectified crop
    frontalness: float  # 1.0 for a head-on plate, lower when seen at an angle
    score: float


@dataclass(frozen=True)
class ReadJob:
    """A rectified crop sent to a reader worker."""

    track_id: int
    frame_index: int
    timestamp_s: float
    crop: np.ndarray  # rectified BGR plate image
    xyxy: np.ndarray
    quality: CropQuality
    views: int = 1  # shifted reads of the crop to average (recognition.VIEW_SHIFTS)
    vehicle: np.ndarray | None = None  # the frame around the plate (rectify.vehicle_view), when crops are saved


@dataclass(frozen=True)
class ReadResult:
    """A worker's answer to one job; `read` is None when the reader failed on it."""

    job: ReadJob
    read: object | None  # recognition.PlateRead (typed loosely: workers never import the model)
    error: str | None = None
    read_s: float = 0.0  # this crop's share of its batch's reader time


@dataclass(frozen=True)
class Verdict:
    """A track's voted plate so far. Unknown fields are None (a partial result)."""

    text: PlateText | None  # every field known
    region: str | None
    class_number: str | None
    kana: str | None
    number: str | None
    plate_type: str
    confidence: float  # weakest known field's voted probability; 0 if nothing is known
    reads: int
    stable: bool
    # The voted probability of each field's winner (region, class_number, kana, number, plate_type),
    # known or not: which field of a plate is in doubt. Empty before the first read.
    field_confidence: dict[str, float] = field(default_factory=dict)

    @property
    def readable(self) -> bool:
        """Worth a CSV row: at least the designation number is known."""
        return self.number is not None

    def display(self, unknown: str = "?") -> str:
        """`品川 300 あ 12-34`, with `?` in place of unknown fields."""
        fields = (self.region, self.class_number, self.kana, self.number)
        return " ".join(f if f is not None else unknown for f in fields)


# Over its track, a plate that grows or shrinks by this factor is approaching or receding; one
# that does not, but whose centre moves at least this many plate widths, went left, right, up
# or down. A parked car, a car followed at a steady distance and a still image went nowhere.
APPROACH_SCALE = 1.3
MIN_TRAVEL_WIDTHS = 1.0


@dataclass(frozen=True)
class Sighting:
    """One vehicle's plate over one track: one CSV row."""

    source: str
    track_id: int
    first_seen_s: float
    last_seen_s: float
    first_frame: int
    last_frame: int
    verdict: Verdict
    xyxy: np.ndarray | None  # box of the best read, source pixels
    best_crop: np.ndarray | None
    seen_at: datetime  # wall clock of the first sighting
    crop_path: str = ""
    best_vehicle: np.ndarray | None = None  # the frame around the plate at its best read
    vehicle_path: str = ""
    first_xyxy: np.ndarray | None = None  # the track's first and last boxes clear of the frame's edges
    last_xyxy: np.ndarray | None = None
    watchlist: str = ""  # the note of the watchlist entry the plate matched (watchlist.py)
    watchlist_match: str = ""  # how: `exact`, or `possible 0.23` (the probability the votes give it)

    @property
    def direction(self) -> str:
        """Which way the plate went in the picture: `approaching` or `receding`, else `left`,
        `right`, `up` or `down` (the larger of its moves), else "" (it stayed where it was).
        At a gate, approaching and receding are entries and exits."""
        if self.first_xyxy is None or self.last_xyxy is None:
            return ""
        first, last = np.asarray(self.first_xyxy, np.float64), np.asarray(self.last_xyxy, np.float64)
        w0, w1 = max(first[2] - first[0], 1.0), max(last[2] - last[0], 1.0)
        if w1 >= APPROACH_SCALE * w0:
            return "approaching"
        if w0 >= APPROACH_SCALE * w1:
            return "receding"
        dx, dy = ((last[:2] + last[2:]) - (first[:2] + first[2:])) / (w0 + w1)  # centre moves, in mean widths
        if max(abs(dx), abs(dy)) < MIN_TRAVEL_WIDTHS:
            return ""
        if abs(dx) >= abs(dy):
            return "right" if dx > 0 else "left"
        return "down" if dy > 0 else "up"
