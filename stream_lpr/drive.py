"""A dashcam card's segment files joined back into the drives they were cut from.

A dashcam records a drive as files of 1-3 minutes, each begun as the last ends. Read file by
file, a car in view across a cut is two tracks and two rows, and one followed for minutes a row
per file. Files whose recording times (recorded_at.py) say that one began where another ended
are read as one video instead: a DriveSource plays them back to back on one timeline, so
tracks, votes and the annotated video go on across the cut, while each frame still names the
file it is in and its row counts seconds from that file's start.

Only files that tell their recording time are joined, and only with files of the same camera:
the same name once its digits are taken out (a front camera's `..._F.MP4` and a rear one's
`..._R.MP4` are two drives side by side), the same frame size and frame rate.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import cv2

from stream_lpr import recorded_at
from stream_lpr.capture import SourceInfo, VideoFileSource, Wait
from stream_lpr.config import CaptureConfig
from stream_lpr.errors import SourceError
from stream_lpr.records import Frame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Segment:
    """One file of a drive, as its container describes it (nothing decoded yet)."""

    path: Path
    start: datetime  # when its first frame was recorded
    duration_s: float
    camera: tuple[str, int, int, float]  # name without digits, width, height, frame rate

    @property
    def end(self) -> float:
        return self.start.timestamp() + self.duration_s


def probe(path: Path, config: CaptureConfig) -> Segment | None:
    """The file's recording start, length and camera; None when it tells no time or its
    container none of the rest (it is then read alone, and any fault reported as it is)."""
    if config.file_clock != "recorded":
        return None
    started = recorded_at.video_start(path, recorded_at.parse_timezone(config.file_timezone))
    if started is None:
        return None
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return None
        fps, frames = cap.get(cv2.CAP_PROP_FPS) or 0.0, cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0
        size = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    if fps <= 0 or frames <= 0 or min(size) <= 0:
        return None
    return Segment(path, started.start, frames / fps, (re.sub(r"\d", "", path.name).lower(), *size, round(fps, 2)))


def group(videos: list[Path], config: CaptureConfig) -> list[list[Path]]:
    """`videos` (in name order) as drives, each a list of files recorded back to back, in the
    order of their first files. A file joins the drive of its camera whose last file ended
    within `capture.drive_gap_s` of its start (either way: segment lengths and the times in
    names are rounded), one in its own folder first (two cameras may keep files of the same
    names in two folders); 0 reads every file alone."""
    if config.drive_gap_s <= 0:
        return [[path] for path in videos]
    drives: list[list[Path]] = []
    ends: dict[int, Segment] = {}  # an open drive (index into drives) -> its last segment
    for path in videos:
        segment = probe(path, config)
        near = [(last.path.parent != path.parent, abs(segment.start.timestamp() - last.end), k)
                for k, last in ends.items()
                if segment is not None and last.camera == segment.camera
                and abs(segment.start.timestamp() - last.end) <= config.drive_gap_s]
        if near:
            k = min(near)[2]
            drives[k].append(path)
        else:
            k = len(drives)
            drives.append([path])
        if segment is not None:
            ends[k] = segment
    return drives


class DriveSource:
    """The files of one drive played as one video: frame indices and media time go on from
    file to file (leaving any gap the recording times show), each frame stamped with its own
    file's wall clock and name. A file that cannot be read is logged and left out (`failed`),
    and the drive goes on with the next."""

    def __init__(self, paths: list[Path], config: CaptureConfig) -> None:
        zone = recorded_at.parse_timezone(config.file_timezone)
        self._clocks = [recorded_at.video_start(path, zone) if config.file_clock == "recorded" else None
                        for path in paths]
        self.paths, self.failed = paths, []
        self._opened = 0  # paths[:_opened] have been tried
        self._current: VideoFileSource | None = self._open_next()
        if self._current is None:
            raise SourceError(f"none of the {len(paths)} videos of the drive from {paths[0].name} could be opened")
        first = self._current.info
        declared = sum(_declared_frames(path) for path in paths[self._opened:])
        self.info = SourceInfo(f"{paths[0]} +{len(paths) - 1}", False, first.fps, first.frame_count + declared,
                               first.size)

    def _open_next(self) -> VideoFileSource | None:
        while self._opened < len(self.paths):
            path, clock = self.paths[self._opened], self._clocks[self._opened]
            self._opened += 1
            try:
                return VideoFileSource(path, clock)
            except SourceError as exc:
                self._fail(path, exc)
        return None

    def _fail(self, path: Path, exc: SourceError) -> None:
        log.error("%s; going on with the next video of the drive", exc)
        self.failed.append(path.name)

    def frames(self, wait: Wait) -> Iterator[Frame]:
        begun = self._clocks[self._opened - 1]
        start_s, start_frame = 0.0, 0
        while self._current is not None:
            source, count = self._current, 0
            clock = self._clocks[self._opened - 1]
            if clock is not None and begun is not None:  # a gap in the recording stays a gap
                start_s = max(start_s, (clock.start - begun.start).total_seconds())
            try:
                for frame in source.frames(wait):
                    yield replace(frame, index=frame.index + start_frame, timestamp_s=frame.timestamp_s + start_s,
                                  file_start_s=start_s, file_start_frame=start_frame)
                    count += 1
            except SourceError as exc:
                self._fail(source.path, exc)
            source.close()
            start_s += count / source.info.fps if source.info.fps > 0 else 0.0
            start_frame += count
            self._current = self._open_next()

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None


def _declared_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    try:
        return max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0) if cap.isOpened() else 0
    finally:
        cap.release()
