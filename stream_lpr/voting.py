"""Per-track, per-field votes over the reader's probability distributions.

Each read adds its distributions, weighted by crop quality times the read's own confidence in
that field, to the track's running sums. The grammar (plate_format.decode) runs on the voted
distributions, not on each read, so a read with one garbled field still votes for the others.
Averaging probabilities (rather than summing log-probabilities) keeps one confidently wrong read
from vetoing the true answer.

A track the tracker lost for a moment comes back as a new track. When the old one ends with the
designation number that a track begun just after it (`merge_within_s`; a parked plate's, which
traffic may hide for longer, tracking.parked_lost_track_s), and near where it was last seen,
already shows, its votes go to that track instead of a row of their own: one row per vehicle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from stream_lpr import plate_format as pf
from stream_lpr.config import VotingConfig
from stream_lpr.readpolicy import edge_gap
from stream_lpr.records import Frame, ReadJob, Sighting, TrackedPlate, Verdict

FIELDS = ("region", "class_number", "kana", "number", "plate_type")
_TEXT_FIELDS = FIELDS[:4]
_MIN_WEIGHT = 1e-3  # keeps a read with zero confidence from dividing by zero
# How far (in plate widths, between box centres) a track may begin from where a lost one was
# last seen to be taken for the same plate: a car near the camera crosses a few widths in the
# second a track may stay lost. The number must match too, so the reach can be generous.
_MERGE_REACH = 4.0
# A box nearer the frame's edge than this share of its width may be cut by it: the detector ends
# a cut plate's box at the edge or a few pixels inside (4 px at 122 px wide in a test scene).
_EDGE_MARGIN = 0.05


@dataclass
class _TrackVotes:
    source: str
    first_seen_s: float
    first_frame: int
    seen_at: datetime
    last_seen_s: float
    last_frame: int
    first_xyxy: np.ndarray
    last_xyxy: np.ndarray
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    reads: int = 0
    best_score: float = -1.0
    best: ReadJob | None = None  # the read of the highest quality times confidence: its crop and box are logged
    # The first and last boxes clear of the frame's edges, for the sighting's direction: a box
    # the edge cuts shrinks as its plate leaves, as if the plate were receding.
    first_whole: np.ndarray | None = None
    last_whole: np.ndarray | None = None
    cached: Verdict | None = None
    # Where `source` (the file of the first frame) begins in the run: a drive's track may go on
    # into the next file, and its row counts seconds and frames from the start of the first.
    file_start: tuple[float, int] = (0.0, 0)


def _read_weights(reading: pf.Reading, quality: float) -> dict[str, float]:
    confs = (reading.region_conf, reading.class_conf, reading.kana_conf, reading.number_conf, reading.type_conf)
    return {name: max(quality * conf, _MIN_WEIGHT) for name, conf in zip(FIELDS, confs)}


def _margin(dist: np.ndarray) -> float:
    """Top-1 minus top-2 probability; for per-slot fields the smallest slot margin."""
    rows = np.atleast_2d(dist)
    top2 = np.sort(rows, axis=1)[:, -2:]
    return float(np.min(top2[:, 1] - top2[:, 0]))


class PlateVoter:
    """Raise `min_reads` or `min_margin` for fewer wrong stable plates at the cost of later
    (or no) stable verdicts; lower `field_min_confidence` to show partial plates sooner."""

    def __init__(self, config: VotingConfig) -> None:
        self.config = config
        self._tracks: dict[int, _TrackVotes] = {}

    def observe(self, track: TrackedPlate, frame: Frame) -> None:
        """Records that the track was seen in this frame (reads or not): the sighting's span."""
        votes = self._tracks.get(track.track_id)
        if votes is None:
            votes = _TrackVotes(frame.source, frame.timestamp_s, frame.index, frame.seen_at,
                                frame.timestamp_s, frame.index, track.xyxy, track.xyxy,
                                file_start=(frame.file_start_s, frame.file_start_frame))
            self._tracks[track.track_id] = votes
        votes.last_seen_s, votes.last_frame = frame.timestamp_s, frame.index
        votes.last_xyxy = track.xyxy
        box = np.reshape(track.xyxy, (2, 2))
        if edge_gap(box, frame.image.shape) > _EDGE_MARGIN * (box[1, 0] - box[0, 0]):
            votes.last_whole = track.xyxy
            if votes.first_whole is None:
                votes.first_whole = track.xyxy

    def add(self, job: ReadJob, scores: pf.FieldScores, reading: pf.Reading) -> None:
        """Adds one read of `job.track_id`; reads of tracks already closed are ignored."""
        votes = self._tracks.get(job.track_id)
        if votes is None:
            return
        for name, weight in _read_weights(reading, job.quality.score).items():
            if name == "plate_type" and reading.text.plate_type == pf.UNKNOWN_TYPE:
                continue  # a grey crop (recognition.PlateRead.of): no colour to vote with
            dist = np.asarray(getattr(scores, name), np.float64)
            votes.sums[name] = votes.sums.get(name, 0.0) + weight * dist
            votes.weights[name] = votes.weights.get(name, 0.0) + weight
        votes.reads += 1
        votes.cached = None
        score = job.quality.score * reading.confidence
        if score > votes.best_score:
            votes.best_score, votes.best = score, job

    def dismissed(self, verdict: Verdict) -> bool:
        """Read `min_reads` times and still short of `min_known_fields` known fields: a badge,
        sign or grate the detector took for a plate (the reader finds one field at most on
        them), or a plate blurred past reading. Nothing worth drawing."""
        known = sum(getattr(verdict, name) is not None for name in _TEXT_FIELDS)
        return verdict.reads >= self.config.min_reads and known < self.config.min_known_fields

    def verdict(self, track_id: int) -> Verdict | None:
        """The track's plate so far; None for an unknown track."""
        votes = self._tracks.get(track_id)
        if votes is None:
            return None
        if votes.cached is None:
            votes.cached = self._decide(votes)
        return votes.cached

    def scores(self, track_id: int) -> pf.FieldScores | None:
        """The track's voted distributions, which its verdict decodes; None for an unknown or unread track."""
        votes = self._tracks.get(track_id)
        return _voted(votes) if votes is not None and votes.reads else None

    def best_read(self, track_id: int) -> ReadJob | None:
        """The track's read of the highest quality times confidence so far (its crop and box are
        the ones logged); None for an unknown or unread track."""
        votes = self._tracks.get(track_id)
        return votes.best if votes is not None else None

    def close(self, track_id: int, merge_within_s: float | None = None) -> Sighting | None:
        """Ends the track and returns its sighting (None for an unknown track, or one merged
        into a track that began at most `merge_within_s` (default: the config's) after it and
        continues it)."""
        verdict = self.verdict(track_id)
        votes = self._tracks.pop(track_id, None)
        if votes is None or verdict is None:
            return None
        within_s = self.config.merge_within_s if merge_within_s is None else merge_within_s
        later = self._continuation(votes, verdict.number, within_s)
        if later is not None:
            _absorb(later, votes)
            return None
        start_s, start_frame = votes.file_start
        return Sighting(
            source=votes.source, track_id=track_id,
            first_seen_s=votes.first_seen_s - start_s, last_seen_s=votes.last_seen_s - start_s,
            first_frame=votes.first_frame - start_frame, last_frame=votes.last_frame - start_frame,
            verdict=verdict,
            xyxy=votes.best.xyxy if votes.best is not None else votes.last_xyxy,
            best_crop=votes.best.crop if votes.best is not None else None,
            best_vehicle=votes.best.vehicle if votes.best is not None else None, seen_at=votes.seen_at,
            first_xyxy=votes.first_whole, last_xyxy=votes.last_whole,
        )

    @property
    def open_ids(self) -> list[int]:
        return list(self._tracks)

    def _continuation(self, ended: _TrackVotes, number: str | None, within_s: float) -> _TrackVotes | None:
        """The open track that carries on `ended` (see the module's docstring), if any."""
        if number is None or within_s <= 0:
            return None
        for track_id, votes in sorted(self._tracks.items(), key=lambda item: item[1].first_seen_s):
            # Still images never merge: each is seen in one frame at time 0 (no gap). A drive's
            # files are one timeline, so a plate lost at a file's end is found again in the next.
            gap = votes.first_seen_s - ended.last_seen_s
            if (0 < gap <= within_s
                    and _near(ended.last_xyxy, votes.first_xyxy)
                    and self.verdict(track_id).number == number):
                return votes
        return None

    def _decide(self, votes: _TrackVotes) -> Verdict:
        if votes.reads == 0:
            return Verdict(None, None, None, None, None, pf.UNKNOWN_TYPE, 0.0, 0, False)
        voted = _voted(votes)
        reading = pf.decode(voted)
        confs = dict(zip(FIELDS, (reading.region_conf, reading.class_conf, reading.kana_conf,
                                  reading.number_conf, reading.type_conf)))
        # The number decides whether a plate is logged at all, so it needs more confidence than
        # the other fields, which are shown as soon as their best guess is usually right.
        known = {n: confs[n] >= (self.config.number_min_confidence if n == "number" else self.config.field_min_confidence)
                 for n in FIELDS}
        # A number alone is what price signs and phone numbers also show; a plate read well
        # enough to trust its number shows at least one more of its fields.
        if sum(known[n] for n in _TEXT_FIELDS if n != "number") < self.config.min_known_fields - 1:
            known["number"] = False
        values = {n: getattr(reading.text, n) if known[n] else None for n in _TEXT_FIELDS}
        plate_type = reading.text.plate_type if known["plate_type"] and "plate_type" in votes.sums else pf.UNKNOWN_TYPE
        complete = all(known[n] for n in _TEXT_FIELDS)
        margin = min(_margin(getattr(voted, n)) for n in _TEXT_FIELDS)
        stable = complete and votes.reads >= self.config.min_reads and margin >= self.config.min_margin
        text = pf.PlateText(**values, plate_type=plate_type) if complete else None
        known_confs = [confs[n] for n in _TEXT_FIELDS if known[n]]
        return Verdict(text=text, **values, plate_type=plate_type,
                       confidence=min(known_confs) if known_confs else 0.0,
                       reads=votes.reads, stable=stable, field_confidence={n: float(confs[n]) for n in FIELDS})


def _voted(votes: _TrackVotes) -> pf.FieldScores:
    """The weighted mean of a read track's distributions. Every read grey: no vote for the
    type, which stays unknown (a flat stand-in to decode)."""
    return pf.FieldScores(**{n: votes.sums[n] / votes.weights[n] if n in votes.sums
                             else np.full(len(pf.PLATE_TYPES), 1 / len(pf.PLATE_TYPES)) for n in FIELDS})


def _near(a: np.ndarray, b: np.ndarray) -> bool:
    """Box centres within _MERGE_REACH widths of the wider box."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    width = max(a[2] - a[0], b[2] - b[0], 1.0)
    distance = np.hypot(*((a[:2] + a[2:]) / 2 - (b[:2] + b[2:]) / 2))
    return bool(distance <= _MERGE_REACH * width)


def _absorb(into: _TrackVotes, ended: _TrackVotes) -> None:
    """`ended`'s reads and span added to `into`, the track that carries it on."""
    for name, dist in ended.sums.items():
        into.sums[name] = into.sums.get(name, 0.0) + dist
        into.weights[name] = into.weights.get(name, 0.0) + ended.weights[name]
    into.reads += ended.reads
    into.first_seen_s, into.first_frame, into.seen_at = ended.first_seen_s, ended.first_frame, ended.seen_at
    into.source, into.file_start = ended.source, ended.file_start
    into.first_xyxy = ended.first_xyxy
    if ended.first_whole is not None:
        into.first_whole = ended.first_whole
        into.last_whole = into.last_whole if into.last_whole is not None else ended.last_whole
    if ended.best_score > into.best_score:
        into.best_score, into.best = ended.best_score, ended.best
    into.cached = None
