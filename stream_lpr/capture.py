"""Frame sources: a video file, one image or a folder of images, a webcam index, an RTSP/HTTP URL.

Sources here are plain iterators with no threads: `pipeline.py` runs one in its grabber thread
and decides the queueing (files block, live sources keep the newest frames). Waiting between
reconnects goes through the `wait` callable the pipeline passes in, which returns True as soon
as a stop is requested, so a reconnect backoff never delays shutdown.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from stream_lpr import recorded_at
from stream_lpr.config import CaptureConfig
from stream_lpr.errors import SourceError
from stream_lpr.records import Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".heic", ".heif"}
_HEIF_SUFFIXES = {".heic", ".heif"}  # an iPhone's photos: OpenCV cannot decode them, PIL with pillow-heif can
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".ts", ".mts", ".3gp"}
LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
_TRUNCATION_TOLERANCE = 0.98  # decoded / declared frames below this: the file ended early

Wait = Callable[[float], bool]  # wait(seconds) -> True when a stop was requested meanwhile


def redact(source: str) -> str:
    """Hides passwords and tokens in a URL so it can be logged: rtsp://user:***@host/..."""
    source = re.sub(r"(://[^:/@\s]+):[^@/\s]*@", r"\1:***@", source)
    return re.sub(r"(?i)([?&](?:pass(?:word)?|pwd|token|key)=)[^&\s]*", r"\1***", source)


def _now_utc() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class SourceInfo:
    name: str  # redacted, safe to log
    live: bool  # True: drop old frames, wall-clock time, reconnect
    fps: float  # nominal frame rate (0 when unknown)
    frame_count: int  # frames a file declares (0 when unknown or live)
    size: tuple[int, int]  # (width, height) of the first frame; (0, 0) for image folders
    still: bool = False  # images: each frame is its own sighting scope


class FrameSource(Protocol):
    info: SourceInfo

    def frames(self, wait: Wait) -> Iterator[Frame]: ...

    def close(self) -> None: ...


def open_source(spec: str, config: CaptureConfig, realtime: bool = False) -> FrameSource:
    """Opens and checks a source; raises SourceError with a one-line reason if it cannot.

    `realtime` plays a video file as if it were a live camera (paced, newest frames only).
    """
    spec = str(spec)
    if spec.isdigit():
        return LiveSource(spec, config, lambda: _open_camera(int(spec)))
    if spec.lower().startswith(LIVE_SCHEMES):
        return LiveSource(spec, config, lambda: _open_url(spec, config))
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"source not found: {spec}")
    recorded = config.file_clock == "recorded"
    zone = recorded_at.parse_timezone(config.file_timezone)
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path, (lambda p: recorded_at.photo_taken(p, zone)) if recorded else None)
    if realtime:
        return LiveSource(spec, config, lambda: PacedCapture(_open_file(path)), ends=True)
    return VideoFileSource(path, recorded_at.video_start(path, zone) if recorded else None)


def videos_in(folder: Path) -> list[Path]:
    """The video files of `folder` sorted by name (a dashcam names its segments by their start
    time), leaving out hidden files (`._x.MP4`, which macOS writes beside each file it copies).
    A folder with no videos or images of its own (a card's root, `DCIM/`) gives every video in
    its subfolders, in name order across them: a drive whose event segments the camera moved
    to `Movie/RO/` reads on through them."""
    return sorted(_files_in(folder, VIDEO_SUFFIXES), key=lambda p: (p.name, p))


def images_in(folder: Path) -> list[Path]:
    """The images of `folder` sorted by path, found as videos_in finds videos."""
    return sorted(_files_in(folder, IMAGE_SUFFIXES))


def _files_in(folder: Path, suffixes: set[str]) -> list[Path]:
    """The files of `folder` with these suffixes; where it holds no video or image of its own
    (a card's root, a folder of folders a day), those in its subfolders."""
    def having(paths, kinds: set[str]) -> list[Path]:
        return [p for p in paths if p.suffix.lower() in kinds and p.is_file() and not _hidden(p, folder)]

    own = having(folder.iterdir(), VIDEO_SUFFIXES | IMAGE_SUFFIXES)
    return [p for p in own if p.suffix.lower() in suffixes] if own else having(folder.rglob("*"), suffixes)


def _hidden(path: Path, root: Path) -> bool:
    """A dot file or one in a dot folder (`.Trashes`, `.Spotlight-V100`) or a system folder."""
    parts = path.relative_to(root).parts
    return any(part.startswith(".") or part.lower() == "system volume information" for part in parts)


def _open_file(path: Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"cannot open video {path}: unreadable, truncated or not a video file")
    return cap


def _open_camera(index: int) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"cannot open camera {index}: no such device or it is busy")
    return cap


def _open_url(url: str, config: CaptureConfig) -> cv2.VideoCapture:
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(config.open_timeout_s * 1000),
              cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(config.read_timeout_s * 1000)]
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"cannot connect to {redact(url)}: unreachable, refused or not a stream")
    return cap


class VideoFileSource:
    """Every frame of a file, in order, stamped with media time, and with the wall clock of its
    recording where the file tells it (`recorded`), else with the time it was read."""

    def __init__(self, path: Path, recorded: recorded_at.RecordedAt | None = None) -> None:
        self.path = path
        self._recorded = recorded
        self._cap = _open_file(path)
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise SourceError(f"cannot decode any frame of {path}: unreadable or truncated video")
        self._first = first
        fps = self._cap.get(cv2.CAP_PROP_FPS) or 0.0
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.info = SourceInfo(str(path), False, fps, max(count, 0), (first.shape[1], first.shape[0]))
        if recorded is not None:
            log.info("%s was recorded from %s (%s)", path.name, recorded.start.isoformat(sep=" "), recorded.how)

    def _media_time(self, index: int) -> float:
        # Constant-rate files: the frame index is exact; the container clock is the fallback.
        if self.info.fps > 0:
            return index / self.info.fps
        return max(self._cap.get(cv2.CAP_PROP_POS_MSEC), 0.0) / 1000.0

    def frames(self, wait: Wait) -> Iterator[Frame]:
        image, index = self._first, 0
        while image is not None:
            media_time = self._media_time(index)
            seen_at = (self._recorded.start + timedelta(seconds=media_time)).astimezone(timezone.utc) \
                if self._recorded is not None else _now_utc()
            yield Frame(image, index, media_time, time.monotonic(), seen_at, self.info.name)
            index += 1
            ok, image = self._cap.read()
            if not ok:
                image = None
        declared = self.info.frame_count
        if declared and index < declared * _TRUNCATION_TOLERANCE - 1:
            raise SourceError(f"{self.path} ended after {index} of {declared} frames: truncated or corrupt video")

    def close(self) -> None:
        self._cap.release()


class ImageSource:
    """One image or every image of a folder (sorted by name); each is a still frame, stamped
    with when it was taken where `taken` finds that, else with the time it was read."""

    def __init__(self, path: Path, taken: Callable[[Path], recorded_at.RecordedAt | None] | None = None) -> None:
        self._taken = taken
        if path.is_dir():
            self.paths = images_in(path)
            if not self.paths:
                raise SourceError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder {path}")
        else:
            self.paths = [path]
            if read_image(path) is None:
                raise SourceError(f"cannot read image {path}: unreadable or not an image")
        self.info = SourceInfo(str(path), False, 0.0, len(self.paths), (0, 0), still=True)

    def frames(self, wait: Wait) -> Iterator[Frame]:
        readable = 0
        for index, path in enumerate(self.paths):
            image = read_image(path)
            if image is None:
                log.warning("skipping unreadable image %s", path)
                continue
            readable += 1
            taken = self._taken(path) if self._taken is not None else None
            seen_at = taken.start.astimezone(timezone.utc) if taken is not None else _now_utc()
            yield Frame(image, index, 0.0, time.monotonic(), seen_at, str(path), still=True)
        if readable == 0:
            raise SourceError(f"none of the {len(self.paths)} images in {self.info.name} could be read")

    def close(self) -> None:
        pass


def read_image(path: Path) -> np.ndarray | None:
    """A photo as a BGR array, upright as its EXIF (or HEIF) orientation says; None if unreadable."""
    if path.suffix.lower() not in _HEIF_SUFFIXES:
        return cv2.imread(str(path))
    from PIL import Image

    recorded_at.open_heif()
    try:
        with Image.open(path) as image:
            return cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)
    except (OSError, ValueError, SyntaxError):
        return None


class ArrayImageSource:
    """One image given as an array (BGR, as OpenCV reads it): a program's own picture (api.py)."""

    def __init__(self, image: np.ndarray, name: str = "image") -> None:
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
            raise SourceError(f"an image array must be uint8, (height, width) or (height, width, 3 or 4); "
                              f"got {image.dtype} {image.shape}")
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        self._image = np.ascontiguousarray(image)
        self.info = SourceInfo(name, False, 0.0, 1, (image.shape[1], image.shape[0]), still=True)

    def frames(self, wait: Wait) -> Iterator[Frame]:
        yield Frame(self._image, 0, 0.0, time.monotonic(), _now_utc(), self.info.name, still=True)

    def close(self) -> None:
        pass


class PacedCapture:
    """Wraps a file capture so reads come at the file's frame rate, like a camera."""

    def __init__(self, cap: cv2.VideoCapture) -> None:
        self._cap = cap
        self._period = 1.0 / (cap.get(cv2.CAP_PROP_FPS) or 30.0)
        self._next = time.monotonic()

    def read(self) -> tuple[bool, np.ndarray | None]:
        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next = max(self._next + self._period, time.monotonic() - self._period)
        return self._cap.read()

    def get(self, prop: int) -> float:
        return self._cap.get(prop)

    def release(self) -> None:
        self._cap.release()


class LiveSource:
    """A camera or stream: wall-clock time; reconnects with backoff when it dies or goes silent.

    `opener` returns an object with cv2.VideoCapture's read/get/release (tests pass fakes);
    it raises SourceError when the source cannot be opened.
    The first open happens here, so a wrong index or URL fails at start with a clear error;
    later failures reconnect (1 s doubling to 30 s by default) and the run goes on.
    """

    def __init__(self, spec: str, config: CaptureConfig, opener: Callable[[], object], ends: bool = False) -> None:
        self.config = config
        self._opener = opener
        self._ends = ends  # a file played live: its end is the end, not a lost stream
        self._cap = opener()
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise SourceError(f"{redact(spec)} opened but sent no frame within {config.read_timeout_s:g} s")
        self._first = first
        fps = self._cap.get(cv2.CAP_PROP_FPS) or 0.0
        self.info = SourceInfo(redact(spec), True, fps, 0, (first.shape[1], first.shape[0]))

    def frames(self, wait: Wait) -> Iterator[Frame]:
        start, index, image = time.monotonic(), 0, self._first
        while True:
            if image is not None:
                now = time.monotonic()
                yield Frame(image, index, now - start, now, _now_utc(), self.info.name)
                index += 1
            ok, image = self._cap.read() if self._cap is not None else (False, None)
            if not ok or image is None:
                image = None
                if self._ends or not self._reconnect(wait):
                    return

    def _reconnect(self, wait: Wait) -> bool:
        """Reopens with backoff; False when a stop was requested. Raises when giving up."""
        self._release()
        delay, lost_at = self.config.reconnect_initial_s, time.monotonic()
        while True:
            log.warning("%s: stream lost, reconnecting in %g s", self.info.name, delay)
            if wait(delay):
                return False
            try:
                self._cap = self._opener()
                log.warning("%s: reconnected", self.info.name)
                return True
            except SourceError as exc:
                log.warning("%s", exc)
            give_up = self.config.give_up_after_s
            if give_up and time.monotonic() - lost_at >= give_up:
                raise SourceError(f"{self.info.name}: stream lost, gave up after {give_up:g} s of reconnecting")
            delay = min(delay * 2, self.config.reconnect_max_s)

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def close(self) -> None:
        self._release()
