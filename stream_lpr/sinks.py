"""Where results go: the sightings CSV, the annotated video, a live window, best-crop images,
a webhook.

Each sink is a context manager so the pipeline's shutdown path closes them even on errors.
"""

from __future__ import annotations

import base64
import csv
import json
import logging
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path

import cv2
import numpy as np

from stream_lpr.capture import redact
from stream_lpr.errors import ConfigError, DisplayError, StreamLprError
from stream_lpr.records import Sighting
from stream_lpr.voting import FIELDS
from stream_lpr.watchlist import Alert

log = logging.getLogger(__name__)

CSV_HEADER = ("source,track_id,first_seen_s,last_seen_s,first_frame,last_frame,plate,region,"
              "class_number,kana,number,plate_type,confidence,reads,x1,y1,x2,y2,crop_path,seen_at_utc,seen_at_local,"
              "direction,watchlist,vehicle_path,watchlist_match").split(",") + [f"{name}_confidence" for name in FIELDS]


def sighting_row(s: Sighting, zone: tzinfo | None = None) -> list[str]:
    """One CSV row; fields the vote could not settle are empty (`plate` shows them as `?`).
    `zone`: the time zone of `seen_at_local` (None: this machine's)."""
    v = s.verdict
    box = [f"{c:.0f}" for c in s.xyxy] if s.xyxy is not None else ["", "", "", ""]
    return [
        s.source, str(s.track_id), f"{s.first_seen_s:.3f}", f"{s.last_seen_s:.3f}",
        str(s.first_frame), str(s.last_frame),
        v.display("?") if v.reads and (v.readable or s.watchlist_match) else "",
        v.region or "", v.class_number or "", v.kana or "", v.number or "",
        v.plate_type, f"{v.confidence:.3f}", str(v.reads), *box, s.crop_path,
        s.seen_at.isoformat(timespec="milliseconds"),
        s.seen_at.astimezone(zone).isoformat(sep=" ", timespec="milliseconds"), s.direction, s.watchlist, s.vehicle_path,
        s.watchlist_match, *(f"{v.field_confidence[f]:.3f}" if f in v.field_confidence else "" for f in FIELDS),
    ]


_INTEGERS = ("track_id", "first_frame", "last_frame", "reads")
_DECIMALS = ("first_seen_s", "last_seen_s", "confidence")
_BOX = ("x1", "y1", "x2", "y2")


def sighting_record(s: Sighting, zone: tzinfo | None = None) -> dict:
    """The sighting as a JSON object (output.webhook): the CSV row's columns, numbers as
    numbers and the box as `box: [x1, y1, x2, y2]` (null when none), after `event: sighting`."""
    row = dict(zip(CSV_HEADER, sighting_row(s, zone)))
    for key in _INTEGERS:
        row[key] = int(row[key])
    for key in _DECIMALS:
        row[key] = float(row[key])
    for key in FIELDS:
        row[f"{key}_confidence"] = float(row[f"{key}_confidence"]) if row[f"{key}_confidence"] else None
    box = [row.pop(key) for key in _BOX]
    return {"event": "sighting", **row, "box": [int(v) for v in box] if all(box) else None}


def alert_record(alert: Alert) -> dict:
    """A watchlist report as a JSON object (output.webhook), with what watchlist.command gets."""
    return {"event": "watchlist", "plate": alert.plate, "listed": alert.entry.display(), "note": alert.entry.note,
            "match": alert.match.split()[0], "probability": alert.probability, "source": alert.source,
            "track_id": alert.track_id, "seconds": round(alert.at_s, 3)}


_RECORD_VEHICLE_WIDTH = 640  # a notification's picture of the car, not a frame to analyse


def record_images(crop: np.ndarray | None, vehicle: np.ndarray | None) -> dict:
    """A record's pictures (output.webhook_images) as base64 JPEG: `crop_jpeg`, the plate crop,
    and `vehicle_jpeg`, the frame around it, shrunk to at most 640 px wide; null when none."""
    if vehicle is not None and vehicle.shape[1] > _RECORD_VEHICLE_WIDTH:
        scale = _RECORD_VEHICLE_WIDTH / vehicle.shape[1]
        vehicle = cv2.resize(vehicle, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)

    def jpeg(image: np.ndarray | None, quality: int) -> str | None:
        if image is None or not image.size:
            return None
        return base64.b64encode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]).decode("ascii")

    return {"crop_jpeg": jpeg(crop, 90), "vehicle_jpeg": jpeg(vehicle, 85)}


class WebhookRejected(Exception):
    """The server refused a record (HTTP 4xx): sending it again would be refused again."""


class WebhookPoster:
    """POSTs one JSON record a request to output.webhook. Synchronous: pipeline.py posts from its
    own thread (with retries), so a slow or dead server never holds up the video."""

    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urllib.parse.urlsplit(check_webhook(url))
        self.name = redact(url)  # safe to log
        self.timeout_s = timeout_s
        self._headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "stream_lpr"}
        if parts.username is not None:  # https://user:password@host/...: urllib wants it as a header
            login = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            self._headers["Authorization"] = "Basic " + base64.b64encode(login.encode("utf-8")).decode("ascii")
            host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6 keeps its brackets
            host += f":{parts.port}" if parts.port else ""
            parts = parts._replace(netloc=host)
        self._url = urllib.parse.urlunsplit(parts)

    def post(self, record: dict) -> None:
        """OSError when the server cannot be reached or fails (5xx, or 408/429: try later);
        WebhookRejected when it refuses the record."""
        body = json.dumps(record, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self._url, body, self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise WebhookRejected(f"HTTP {exc.code} {exc.reason}") from None
            raise

    def send(self, record: dict) -> None:
        """Posts `record` now, once; a failure is logged, not raised."""
        try:
            self.post(record)
        except (OSError, WebhookRejected) as exc:
            log.warning("webhook: a %s record was not delivered to %s: %s", record.get("event"), self.name, exc)

    def close(self) -> None:
        pass


def check_webhook(url: str) -> str:
    """`url` if it is an http(s) URL with a host, else ConfigError."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"config key 'output.webhook' must be an http:// or https:// URL, got {redact(url)!r}")
    return url


class CsvSink:
    """Sightings CSV, flushed after every row so a killed run loses nothing written.

    `append`: rows go after those of an earlier run, so a camera's log restarted (a reboot, a
    service restart) keeps its history. An earlier file with other columns (written by another
    version) is moved aside to `<name>.<its time>.csv` first, never mixed or overwritten.

    `zone`: the time zone of the `seen_at_local` column and of the dates in file names (None:
    this machine's).

    A path with strftime fields (`sightings-%Y-%m-%d.csv`) names a file a day (or a month, an
    hour): each row goes to the file that its sighting's local time names, so a camera that logs
    for months leaves a file a day, and a dashcam's card (stamped with its recording times,
    recorded_at.py) a file for each day it drove. Such files are opened at their first row.
    `started`: files this run has begun, shared by the sinks of one run (a folder of videos), which
    append to them whatever `append` says."""

    def __init__(self, path: str | Path, append: bool = False, started: set[Path] | None = None,
                 zone: tzinfo | None = None) -> None:
        self.template = str(path)
        self.zone = zone
        self.append = append
        self.started = started if started is not None else set()
        self.path: Path | None = None  # the file rows go to now
        self._file = None
        self.rows = 0
        sample = datetime(2000, 1, 2, 3, 4, 5)
        self.dated = sample.strftime(self.template) != self.template
        if self.dated:  # a folder that cannot be written fails now, not at the first row
            self._mkdir(Path(datetime.now(self.zone).strftime(self.template)))
        else:
            self._open(Path(self.template))

    def _mkdir(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StreamLprError(f"cannot write CSV {path}: {exc.strerror or exc}") from None

    def _open(self, path: Path) -> None:
        self._mkdir(path)
        try:
            if not ((self.append or path in self.started) and self._resumable(path)):
                with open(path, "w", newline="", encoding="utf-8") as fresh:
                    csv.writer(fresh).writerow(CSV_HEADER)
            # Rows are appended even to a fresh file: each lands at the file's end, so a log
            # rotator that copies and truncates the file (logrotate's copytruncate) leaves no gap.
            self._file = open(path, "a", newline="", encoding="utf-8")
        except OSError as exc:
            raise StreamLprError(f"cannot write CSV {path}: {exc.strerror or exc}") from None
        self.path = path
        self.started.add(path)
        self._writer = csv.writer(self._file)

    @staticmethod
    def _resumable(path: Path) -> bool:
        """True when the file holds rows of these columns to append to (it is made to end with
        a line break); an earlier file of other columns is moved aside."""
        if not path.is_file() or path.stat().st_size == 0:
            return False
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            header = next(csv.reader(f), [])
        if header != CSV_HEADER:
            move_aside(path, "it has other columns than this version writes")
            return False
        with open(path, "rb+") as f:  # a run killed mid-row: the next row starts on its own line
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")
        return True

    def write(self, sighting: Sighting) -> None:
        if self.dated:
            path = Path(sighting.seen_at.astimezone(self.zone).strftime(self.template))
            if path != self.path:
                self.close()
                self._open(path)
        self._writer.writerow(sighting_row(sighting, self.zone))
        self._file.flush()
        self.rows += 1

    def close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()

    def __enter__(self) -> CsvSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def move_aside(path: Path, why: str) -> Path:
    """Renames `path` to `<stem>.<its modification time><suffix>` beside it, so that nothing
    written by an earlier run is overwritten; returns the new path."""
    aside = _stamped(path)
    log.warning("%s: %s, so it was moved to %s", path, why, aside)
    return aside


def _stamped(path: Path) -> Path:
    """Renames `path` to `<stem>.<its modification time><suffix>`; returns the new path."""
    stamp = datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y%m%d-%H%M%S")
    aside, n = path.with_name(f"{path.stem}.{stamp}{path.suffix}"), 1
    while aside.exists():  # restarted twice within a second
        aside, n = path.with_name(f"{path.stem}.{stamp}-{n}{path.suffix}"), n + 1
    path.rename(aside)
    return aside


class VideoSink:
    """Annotated video; opened at the first frame (its size), released playable on close.
    `keep_earlier`: an existing file at `path` (a camera's recording before a restart) is moved
    aside (move_aside) instead of overwritten. `segment_s`: a camera's recording is closed every
    this many seconds (of `clock`) and renamed as move_aside names it, and a new file begun at
    `path`: an MP4 is playable only once closed, so a power cut loses one segment, not days."""

    def __init__(self, path: str | Path, fps: float, codec: str = "mp4v", keep_earlier: bool = False,
                 segment_s: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self.fps = fps if fps and fps > 0 else 30.0
        self.codec = codec
        self.segment_s, self._clock = segment_s, clock
        self._writer: cv2.VideoWriter | None = None
        self._opened_at = 0.0
        self.frames = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if keep_earlier and self.path.is_file():
                move_aside(self.path, "a live source's recording is never overwritten")
        except OSError as exc:
            raise StreamLprError(f"cannot write video {self.path}: {exc.strerror or exc}") from None

    def _open(self, size: tuple[int, int]) -> cv2.VideoWriter:
        # avc1 needs an OpenCV built with an H.264 encoder (pip wheels often lack one): fall back.
        for codec in dict.fromkeys([self.codec, "mp4v"]):
            writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*codec), self.fps, size)
            if writer.isOpened():
                self._opened_at = self._clock()
                return writer
            writer.release()
        raise StreamLprError(f"cannot open video writer for {self.path} (codec {self.codec})")

    def write(self, image: np.ndarray) -> None:
        if self._writer is not None and self.segment_s and self._clock() - self._opened_at >= self.segment_s:
            self.close()
            try:
                log.info("recording: a %g-minute segment closed as %s", self.segment_s / 60, _stamped(self.path))
            except OSError as exc:
                raise StreamLprError(f"cannot rename video segment {self.path}: {exc.strerror or exc}") from None
        if self._writer is None:
            self._writer = self._open((image.shape[1], image.shape[0]))
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_PROBE = "import cv2; cv2.namedWindow('probe'); cv2.waitKey(1); cv2.destroyAllWindows()"
_PROBE_TIMEOUT_S = 20.0


def check_display() -> None:
    """Raises DisplayError when no window can be shown (no X/Wayland, or a headless OpenCV).

    The probe runs in a child process: with an unreachable DISPLAY, OpenCV's Qt backend
    aborts the whole process instead of raising, which would lose the run without a word.
    """
    hint = "use --serve 0.0.0.0:8080 to watch it in a browser, or --output annotated.mp4 to save it"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise DisplayError(f"--show needs a display but none is available (DISPLAY is not set); {hint}")
    try:
        probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, timeout=_PROBE_TIMEOUT_S)
        ok = probe.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        raise DisplayError(f"--show cannot open a window (display unreachable, or OpenCV built without "
                           f"GUI support); {hint}")


class Window:
    """Live window; `show` returns True when the user pressed q or Esc."""

    def __init__(self, title: str = "stream_lpr", check: bool = True) -> None:
        if check:  # callers that already checked (the CLI, before loading models) skip the probe
            check_display()
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def show(self, image: np.ndarray) -> bool:
        cv2.imshow(self.title, image)
        return (cv2.waitKey(1) & 0xFF) in (ord("q"), 27)

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass

    def __enter__(self) -> Window:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CropSaver:
    """Saves each sighting's best crop as DIR/<source>_<UTC time first seen>_t<track>.jpg and
    the frame around it as ..._vehicle.jpg. The time keeps the names of a restarted run, whose
    track ids start again at 1, from overwriting the last run's pictures."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StreamLprError(f"cannot create crops folder {self.folder}: {exc.strerror or exc}") from None

    def save(self, sighting: Sighting) -> tuple[str, str]:
        """(the crop's path, the vehicle picture's path); "" for one not saved."""
        stem = re.sub(r"[^\w.-]+", "_", Path(sighting.source).stem)[:60] or "source"
        stem = f"{stem}_{sighting.seen_at:%Y%m%dT%H%M%S}_t{sighting.track_id}"
        return (self._write(self.folder / f"{stem}.jpg", sighting.best_crop),
                self._write(self.folder / f"{stem}_vehicle.jpg", sighting.best_vehicle))

    @staticmethod
    def _write(path: Path, image: np.ndarray | None) -> str:
        return str(path) if image is not None and image.size and cv2.imwrite(str(path), image) else ""
