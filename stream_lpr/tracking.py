"""A small ByteTrack-style plate tracker with its own ID counter.

Two-stage association as in ByteTrack: confident detections match first, weak ones can only
extend tracks that already exist (so a blurred frame does not break a track, and a weak false
positive never starts one). Matching is greedy on IoU: a frame rarely holds more than a few
plates, so the optimal assignment buys nothing. A detection is compared with both the track's
last box and that box moved by the track's velocity, so neither a fast plate nor a plate that
stopped breaks its track.
Motion is counted in source frames (camera frames are evenly spaced even when live grab times
jitter, and dropped frames still count); track ends are counted in seconds, so `lost_track_s`
means the same at any frame rate. `update` must be called on every detected frame, empty ones
included, so tracks age and end; frames the detector skips get `coast`, which moves the tracks
seen at the last detection along their velocity and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stream_lpr.config import TrackingConfig
from stream_lpr.records import TrackedPlate

_VELOCITY_SMOOTHING = 0.5  # weight of the newest displacement in the velocity estimate


@dataclass
class _Track:
    xyxy: np.ndarray
    last_seen_s: float
    last_frame: int
    corners: np.ndarray  # (4, 2) at the last match: what coasting moves and draws
    confidence: float
    hits: int = 1
    track_id: int | None = None  # set when confirmed, so ids count confirmed tracks only
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))  # px per frame

    def predicted(self, frame: int) -> np.ndarray:
        shift = self.velocity * (frame - self.last_frame)
        return self.xyxy + np.concatenate([shift, shift])

    def update(self, xyxy: np.ndarray, corners: np.ndarray, confidence: float, t: float, frame: int) -> None:
        frames = frame - self.last_frame
        if frames > 0:
            moved = (_center(xyxy) - _center(self.xyxy)) / frames
            self.velocity = _VELOCITY_SMOOTHING * moved + (1 - _VELOCITY_SMOOTHING) * self.velocity
        self.xyxy, self.last_seen_s, self.last_frame = xyxy, t, frame
        self.corners, self.confidence = corners, confidence
        self.hits += 1


@dataclass(frozen=True)
class TrackUpdate:
    tracked: list[TrackedPlate]  # confirmed tracks matched in this frame
    ended: list[int]  # ids of confirmed tracks that ended at this frame


class PlateTracker:
    """Raise `lost_track_s` to bridge longer occlusions (at the risk of merging two cars that
    follow each other); raise `min_hits` to suppress one-frame false positives (tracks start later)."""

    def __init__(self, config: TrackingConfig) -> None:
        self.config = config
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_update_frame: int | None = None

    def update(self, xyxy: np.ndarray, confidence: np.ndarray, corners: np.ndarray, t: float,
               frame: int) -> TrackUpdate:
        """xyxy (N, 4), confidence (N,), corners (N, 4, 2) of source frame `frame`, taken at `t` s."""
        ended = self._expire(t)
        self._last_update_frame = frame
        high = np.flatnonzero(confidence >= self.config.high_confidence)
        low = np.flatnonzero(confidence < self.config.high_confidence)
        matches, unmatched_tracks, unmatched_high = self._match(self._tracks, xyxy, high, frame)
        # Weak detections may only continue a track that was already confirmed.
        confirmed_left = [tr for tr in unmatched_tracks if tr.track_id is not None]
        low_matches, _, _ = self._match(confirmed_left, xyxy, low, frame)
        matches += low_matches
        for track, det in matches:
            track.update(xyxy[det].astype(np.float32), corners[det].astype(np.float32), float(confidence[det]), t, frame)
            self._confirm(track)
        # ByteTrack drops a tentative track at its first miss: noise rarely repeats.
        matched = {id(tr) for tr, _ in matches}
        self._tracks = [tr for tr in self._tracks if tr.track_id is not None or id(tr) in matched]
        for det in unmatched_high:
            track = self._confirm(_Track(xyxy[det].astype(np.float32), t, frame,
                                         corners[det].astype(np.float32), float(confidence[det])))
            self._tracks.append(track)
            matches.append((track, det))  # with min_hits=1 a new track is confirmed at once
        tracked = [_plate(tr.track_id, det, xyxy, confidence, corners) for tr, det in matches if tr.track_id is not None]
        return TrackUpdate(tracked=tracked, ended=ended)

    def coast(self, frame: int) -> list[TrackedPlate]:
        """Where the confirmed tracks matched at the last detection are at `frame`, predicted
        from their velocity (detection_index -1). Tracks missed at the last detection are left
        out: a box drifting on after its plate has gone is worse than none."""
        plates = []
        for tr in self._tracks:
            if tr.track_id is None or tr.last_frame != self._last_update_frame:
                continue
            shift = tr.velocity * (frame - tr.last_frame)
            plates.append(TrackedPlate(int(tr.track_id), tr.predicted(frame), tr.corners + shift, tr.confidence, -1))
        return plates

    def still(self, xyxy: np.ndarray, confidence: np.ndarray, corners: np.ndarray) -> list[TrackedPlate]:
        """The plates of a still image, each with a fresh id (no tracking across images). Only
        detections that could start a track count: a weak one may only extend a track, and an
        image has none to extend."""
        plates = []
        for det in np.flatnonzero(confidence >= self.config.high_confidence):
            plates.append(_plate(self._next_id, int(det), xyxy, confidence, corners))
            self._next_id += 1
        return plates

    def end_all(self) -> list[int]:
        """Ends every open track (end of stream); returns the confirmed ids."""
        ids = [tr.track_id for tr in self._tracks if tr.track_id is not None]
        self._tracks = []
        return ids

    @property
    def open_ids(self) -> list[int]:
        return [tr.track_id for tr in self._tracks if tr.track_id is not None]

    def _expire(self, t: float) -> list[int]:
        keep, ended = [], []
        for tr in self._tracks:
            if t - tr.last_seen_s > self.config.lost_track_s + 1e-6:  # float slack at exact multiples
                if tr.track_id is not None:
                    ended.append(tr.track_id)
            else:
                keep.append(tr)
        self._tracks = keep
        return ended

    def _confirm(self, track: _Track) -> _Track:
        if track.track_id is None and track.hits >= self.config.min_hits:
            track.track_id = self._next_id
            self._next_id += 1
        return track

    def _match(self, tracks: list[_Track], xyxy: np.ndarray, dets: np.ndarray, frame: int):
        """Greedy IoU matching; returns (pairs, unmatched tracks, unmatched detection indices)."""
        if not tracks or len(dets) == 0:
            return [], list(tracks), list(dets)
        predicted = np.stack([tr.predicted(frame) for tr in tracks])
        last = np.stack([tr.xyxy for tr in tracks])
        iou = np.maximum(box_iou(predicted, xyxy[dets]), box_iou(last, xyxy[dets]))
        pairs, used_t, used_d = [], set(), set()
        for flat in np.argsort(-iou, axis=None):
            ti, di = np.unravel_index(flat, iou.shape)
            if iou[ti, di] < self.config.match_iou:
                break
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            pairs.append((tracks[ti], int(dets[di])))
        left_tracks = [tr for i, tr in enumerate(tracks) if i not in used_t]
        left_dets = [int(d) for i, d in enumerate(dets) if i not in used_d]
        return pairs, left_tracks, left_dets


def _plate(track_id: int, det: int, xyxy, confidence, corners) -> TrackedPlate:
    return TrackedPlate(
        track_id=int(track_id),
        xyxy=np.asarray(xyxy[det], np.float32),
        corners=np.asarray(corners[det], np.float32),
        confidence=float(confidence[det]),
        detection_index=det,
    )


def _center(xyxy: np.ndarray) -> np.ndarray:
    return np.array([(xyxy[0] + xyxy[2]) / 2, (xyxy[1] + xyxy[3]) / 2], np.float32)


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
