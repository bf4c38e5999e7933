"""Plate tracking: ultralytics' ByteTrack associates detections; this module adds what the
pipeline needs around it.

ByteTrack (Kalman motion, optimal assignment, two stages: confident detections match first,
weak ones can only continue a track that is being tracked, so a blurred frame does not break a
track and a weak false positive never starts one) decides which detection belongs to which
track. Around it, this module keeps:
- public ids that count confirmed tracks only (ByteTrack spends ids on tentative tracks too),
  shared with still images;
- track ends in seconds, so `lost_track_s` means the same at any frame rate and detection
  stride (ByteTrack counts its calls); an ended track is taken out of ByteTrack's lost pool, so
  it never comes back under its old id;
- parked plates: a track whose plate stood still for its last seconds is hidden, when it goes,
  by traffic passing in front of it far more often than it has left (it cannot leave without
  moving), so it lasts `parked_lost_track_s` unseen, and is reported as parked when it ends, so
  that the voter merges it with the track its plate comes back as (voting.py);
- the corners of each track's detection, and coasting: frames the detector skips get `coast`,
  which moves the tracks seen at the last detection along their velocity and changes nothing.
`update` must be called on every detected frame, empty ones included, so tracks age and end.
"""

from __future__ import annotations

import sys
from collections import deque
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

import stream_lpr.offline  # noqa: F401 - must precede ultralytics
from stream_lpr.config import TrackingConfig
from stream_lpr.records import TrackedPlate
from ultralytics.trackers.byte_tracker import BYTETracker  # noqa: E402 - after stream_lpr.offline

_VELOCITY_SMOOTHING = 0.5  # weight of the newest displacement in the velocity estimate
# A plate stood still when every box of its last _STILL_S seconds of detections lies mostly
# (_STILL_INSIDE of the smaller box's area) on the first of them. Traffic that begins to hide
# it leaves a smaller box inside the whole one, which still counts; a car moving at walking pace
# crosses a plate width a second, which does not.
_STILL_S = 2.0
_STILL_INSIDE = 0.6
_HISTORY = 128  # boxes kept per track: _STILL_S at 30 fps, detected every frame, and more


@dataclass
class _Track:
    """What the pipeline keeps of a confirmed ByteTrack track."""

    track_id: int  # public id
    xyxy: np.ndarray  # the detection's box at the last match (ByteTrack reports a smoothed one)
    corners: np.ndarray  # (4, 2) at the last match: what coasting moves and draws
    confidence: float
    last_seen_s: float
    last_frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))  # px per source frame
    boxes: deque = field(default_factory=lambda: deque(maxlen=_HISTORY))  # (t, xyxy) of its detections
    first_seen_s: float = field(init=False)

    def __post_init__(self) -> None:
        self.first_seen_s = self.last_seen_s
        self.boxes.append((self.last_seen_s, self.xyxy))

    def update(self, xyxy: np.ndarray, corners: np.ndarray, confidence: float, t: float, frame: int) -> None:
        frames = frame - self.last_frame
        if frames > 0:
            moved = (_center(xyxy) - _center(self.xyxy)) / frames
            self.velocity = _VELOCITY_SMOOTHING * moved + (1 - _VELOCITY_SMOOTHING) * self.velocity
        self.xyxy, self.corners, self.confidence = xyxy, corners, confidence
        self.last_seen_s, self.last_frame = t, frame
        self.boxes.append((t, xyxy))

    @property
    def stood_still(self) -> bool:
        if self.last_seen_s - self.first_seen_s < _STILL_S:
            return False
        recent = np.array([box for t, box in self.boxes if t >= self.last_seen_s - _STILL_S], np.float32)
        return bool((_inside_share(recent[1:], recent[0]) >= _STILL_INSIDE).all())


class _Detections:
    """One frame's detections in the form ByteTrack reads (the fields of ultralytics' Boxes)."""

    def __init__(self, xyxy: np.ndarray, confidence: np.ndarray) -> None:
        xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        self.conf = np.asarray(confidence, np.float32).reshape(-1)
        self.xywh = np.concatenate([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        self.xyxy = xyxy
        self.cls = np.zeros(len(xyxy), np.float32)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index) -> _Detections:
        return _Detections(self.xyxy[index], self.conf[index])


@dataclass(frozen=True)
class TrackUpdate:
    tracked: list[TrackedPlate]  # confirmed tracks matched in this frame
    ended: list[int]  # ids of confirmed tracks that ended at this frame
    parked: frozenset[int] = frozenset()  # those of `ended` whose plate stood still (parked_lost_track_s)


class PlateTracker:
    """Raise `lost_track_s` to bridge longer occlusions (at the risk of merging two cars that
    follow each other). A new track gets its id at its second detection in a row: one-frame
    false positives never get one."""

    def __init__(self, config: TrackingConfig) -> None:
        self.config = config
        self._byte = self._new_bytetrack()
        self._tracks: dict[int, _Track] = {}  # by ByteTrack id
        self._next_id = 1
        self._last_update_frame: int | None = None

    def update(self, xyxy: np.ndarray, confidence: np.ndarray, corners: np.ndarray, t: float,
               frame: int) -> TrackUpdate:
        """xyxy (N, 4), confidence (N,), corners (N, 4, 2) of source frame `frame`, taken at `t` s."""
        ended, parked = self._expire(t)
        self._last_update_frame = frame
        tracked = []
        for row in self._byte.update(_Detections(xyxy, confidence)):  # x1 y1 x2 y2 id score cls idx
            byte_id, det = int(row[4]), int(row[7])
            box, quad, conf = xyxy[det].astype(np.float32), corners[det].astype(np.float32), float(confidence[det])
            track = self._tracks.get(byte_id)
            if track is None:
                track = self._tracks[byte_id] = _Track(self._new_id(), box, quad, conf, t, frame)
            else:
                track.update(box, quad, conf, t, frame)
            tracked.append(TrackedPlate(track.track_id, box, quad, conf, det))
        return TrackUpdate(tracked=tracked, ended=ended, parked=parked)

    def coast(self, frame: int) -> list[TrackedPlate]:
        """Where the confirmed tracks matched at the last detection are at `frame`, predicted
        from their velocity (detection_index -1). Tracks missed at the last detection are left
        out: a box drifting on after its plate has gone is worse than none."""
        plates = []
        for tr in self._tracks.values():
            if tr.last_frame != self._last_update_frame:
                continue
            shift = tr.velocity * (frame - tr.last_frame)
            plates.append(TrackedPlate(tr.track_id, tr.xyxy + np.concatenate([shift, shift]),
                                       tr.corners + shift, tr.confidence, -1))
        return plates

    def still(self, xyxy: np.ndarray, confidence: np.ndarray, corners: np.ndarray) -> list[TrackedPlate]:
        """The plates of a still image, each with a fresh id (no tracking across images). Only
        detections that could start a track count: a weak one may only extend a track, and an
        image has none to extend."""
        return [_plate(self._new_id(), int(det), xyxy, confidence, corners)
                for det in np.flatnonzero(confidence >= self.config.high_confidence)]

    def end_all(self) -> TrackUpdate:
        """Ends every open track (end of stream)."""
        parked = frozenset(tr.track_id for tr in self._tracks.values() if tr.stood_still)
        ended = TrackUpdate([], self.open_ids, parked)
        self._tracks = {}
        self._byte = self._new_bytetrack()
        return ended

    @property
    def open_ids(self) -> list[int]:
        return [tr.track_id for tr in self._tracks.values()]

    def stood_still(self, track_id: int) -> bool:
        """Whether the open track `track_id`'s plate stood still for its last seconds (parked)."""
        return any(tr.stood_still for tr in self._tracks.values() if tr.track_id == track_id)

    def _new_bytetrack(self) -> BYTETracker:
        byte = BYTETracker(SimpleNamespace(
            track_high_thresh=self.config.high_confidence,
            track_low_thresh=0.0,  # the detector's own threshold already dropped the weakest
            new_track_thresh=self.config.high_confidence,
            track_buffer=sys.maxsize,  # ends are decided here, in seconds
            match_thresh=1.0 - self.config.match_iou,
            fuse_score=self.config.fuse_score,
        ))
        # ByteTrack confirms tracks born in its first frame at once; an empty first frame makes
        # every track, the first ones included, wait for its second detection.
        byte.update(_Detections(np.zeros((0, 4)), np.zeros(0)))
        return byte

    def _expire(self, t: float) -> tuple[list[int], frozenset[int]]:
        """The ids of the tracks unseen too long, and those of them that stood still."""
        slack = 1e-6  # float slack at exact multiples
        overdue = {byte_id: tr for byte_id, tr in self._tracks.items()
                   if t - tr.last_seen_s > self.config.lost_track_s + slack}
        parked = {byte_id for byte_id, tr in overdue.items() if tr.stood_still}
        gone = {byte_id for byte_id, tr in overdue.items()
                if byte_id not in parked or t - tr.last_seen_s > self.config.parked_lost_track_s + slack}
        if gone:  # lost ones, or (with a lost_track_s below one frame) ones still tracked
            self._byte.lost_stracks = [s for s in self._byte.lost_stracks if s.track_id not in gone]
            self._byte.tracked_stracks = [s for s in self._byte.tracked_stracks if s.track_id not in gone]
        ended = {byte_id: self._tracks.pop(byte_id).track_id for byte_id in sorted(gone)}
        return list(ended.values()), frozenset(track_id for byte_id, track_id in ended.items() if byte_id in parked)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1


def _plate(track_id: int, det: int, xyxy, confidence, corners) -> TrackedPlate:
    return TrackedPlate(
        track_id=int(track_id),
        xyxy=np.asarray(xyxy[det], np.float32),
        corners=np.asarray(corners[det], np.float32),
        confidence=float(confidence[det]),
        detection_index=det,
    )


def _inside_share(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """For each of `boxes` (N, 4), the share of the smaller of it and `box` that lies on the other."""
    w = np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0])
    h = np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1])
    smaller = np.minimum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), (box[2] - box[0]) * (box[3] - box[1]))
    return np.clip(w, 0, None) * np.clip(h, 0, None) / np.maximum(smaller, 1e-6)


def _center(xyxy: np.ndarray) -> np.ndarray:
    return np.array([(xyxy[0] + xyxy[2]) / 2, (xyxy[1] + xyxy[3]) / 2], np.float32)
