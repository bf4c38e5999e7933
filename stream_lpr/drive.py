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
    """One video file as its name and container describe it (nothing decoded yet)."""

    path: Path
    recorded: recorded_at.RecordedAt | None  # when its first frame was recorded; None: unknown
    frames: int  # as the container declares them (0: unknown)
    camera: tuple[str, int, int, float] | None  # name without digits, width, height, frame rate; None: unknown

    @property
    def end(self) -> float:
        return self.recorded.start.timestamp() + self.frames / self.camera[3]


def probe(path: Path, config: CaptureConfig) -> Segment:
    """The file's recording start, length and camera. A file that tells no time, or whose
    container tells none of the rest, joins no drive: it is read alone, and any fault is
    reported as it is."""
    if config.file_clock != "recorded":
        return Segment(path, None, 0, None)
    started = recorded_at.video_start(path, recorded_at.parse_timezone(config.file_timezone))
    if started is None:
        return Segment(path, None, 0, None)
    cap = cv2.VideoCapture(str(path))
    try:
        opened = cap.isOpened()
        fps, frames = (cap.get(cv2.CAP_PROP_FPS) or 0.0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)) if opened else (0, 0)
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) if opened else (0, 0)
    finally:
        cap.release()
    known = fps > 0 and frames > 0 and min(size) > 0
    camera = (re.sub(r"\d", "", path.name).lower(), *size, round(fps, 2)) if known else None
    return Segment(path, started, max(frames, 0), camera)


def each_alone(videos: list[Path]) -> list[list[Segment]]:
    """Every file a drive of its own."""
    return [[Segment(path, None, 0, None)] for path in videos]


def group(videos: list[Path], config: CaptureConfig) -> list[list[Segment]]:
    """`videos` (in name order) as drives, each a list of files recorded back to back, in the
    order of their first files. A file joins the drive of its camera whose last file ended
    within `capture.drive_gap_s` of its start (either way: segment lengths and the times in
    names are rounded), one in its own folder first (two cameras may keep files of the same
    names in two folders); 0 reads every file alone."""
    if config.drive_gap_s <= 0:
        return each_alone(videos)
    drives: list[list[Segment]] = []
    ends: dict[int, Segment] = {}  # an open drive (index into drives) -> its last segment
    for path in videos:
        segment = probe(path, config)
        near = []
        if segment.camera is not None:
            start = segment.recorded.start.timestamp()
            near = [(last.path.parent != path.parent, abs(start - last.end), k) for k, last in ends.items()
                    if last.camera == segment.camera and abs(start - last.end) <= config.drive_gap_s]
        if near:
            k = min(near)[2]
            drives[k].append(segment)
        else:
            k = len(drives)
            drives.append([segment])
        if segment.camera is not None:
            ends[k] = segment
    return drives


class DriveSource:
    """The files of one drive (group) played as one video: frame indices and media time go on
    from file to file (leaving any gap the recording times show), each frame stamped with its
    own file's wall clock and name. A file that cannot be read is logged and left out
    (`failed`), and the drive goes on with the next."""

    def __init__(self, segments: list[Segment]) -> None:
        self.segments, self.failed = segments, []
        self._opened = 0  # segments[:_opened] have been tried
        self._current: VideoFileSource | None = self._open_next()
        if self._current is None:
            raise SourceError(f"none of the {len(segments)} videos of the drive from {segments[0].path.name} "
                              "could be opened")
        first = self._current.info
        declared = sum(segment.frames for segment in segments[self._opened:])
        self.info = SourceInfo(f"{segments[0].path} +{len(segments) - 1}", False, first.fps,
                               first.frame_count + declared, first.size)

    def _open_next(self) -> VideoFileSource | None:
        while self._opened < len(self.segments):
            segment = self.segments[self._opened]
            self._opened += 1
            try:
                return VideoFileSource(segment.path, segment.recorded)
            except SourceError as exc:
                self._fail(segment.path, exc)
        return None

    def _fail(self, path: Path, exc: SourceError) -> None:
        log.error("%s; going on with the next video of the drive", exc)
        self.failed.append(path.name)

    def frames(self, wait: Wait) -> Iterator[Frame]:
        begun = self.segments[self._opened - 1].recorded
        start_s, start_frame = 0.0, 0
        while self._current is not None:
            source, count = self._current, 0
            clock = self.segments[self._opened - 1].recorded
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

