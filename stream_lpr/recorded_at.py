"""When a video file or photo was recorded: the wall clock of its sightings (`seen_at_utc`).

A dashcam's card is read days after the drive, so the time a file is processed says nothing of
when a car was passed. Dashcams and phones name each file by the time it began (in the camera's
local time), MP4 and MOV files carry a creation time (UTC), and photos carry EXIF's
DateTimeOriginal (local time, with an offset only on newer cameras). What none of these gives is
left to the caller: it stamps frames with the time they were processed, as for a live camera.
"""

from __future__ import annotations

import logging
import re
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path

log = logging.getLogger(__name__)

# 2026-12-07 15:30:12 as dashcams and phones write it in a file name: 20261207_153012 (BlackVue,
# phones), 2026_1207_153012 (Viofo), 20261207153012 (Comtec), REC_2026_12_07_15_30_12 (Thinkware),
# 2026-12-07 15.30.12, 20261207_1530 (to the minute); FILE261207-153012 (Yupiteru) with a
# two-digit year.
_SEP = r"[-_. T:]?"
_FOUR_DIGIT_YEAR = re.compile(rf"(?<!\d)(20\d\d){_SEP}(\d\d){_SEP}(\d\d){_SEP}(\d\d){_SEP}(\d\d)(?:{_SEP}(\d\d))?")
_TWO_DIGIT_YEAR = re.compile(r"(?<!\d)(\d\d)(\d\d)(\d\d)[-_](\d\d)(\d\d)(\d\d)(?!\d)")
# Google's Pixel phones name photos and videos in UTC (PXL_20261207_063012345.mp4 is 15:30:12 in
# Japan); every other camera above names them by its own local clock.
_UTC_NAMES = re.compile(r"PXL_", re.IGNORECASE)
_MP4_EPOCH = datetime(1904, 1, 1, tzinfo=timezone.utc)
_EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
_EXIF_IFD, _DATETIME_ORIGINAL, _DATETIME_DIGITIZED = 0x8769, 36867, 36868
_OFFSET_TIME_ORIGINAL, _OFFSET_TIME_DIGITIZED = 36881, 36882


@dataclass(frozen=True)
class RecordedAt:
    start: datetime  # when the file's first frame was recorded, timezone-aware
    how: str  # where that came from, for the log: "its file name", "its MP4 metadata", "its EXIF"


def parse_timezone(text: str) -> tzinfo | None:
    """`local` (None: this machine's time zone), `UTC` or an offset like `+09:00`."""
    if text == "local":
        return None
    if text.upper() == "UTC":
        return timezone.utc
    match = re.fullmatch(r"([+-])(\d\d):?(\d\d)", text)
    if match is None:
        raise ValueError(f"not a time zone: {text!r} (local, UTC or an offset like +09:00)")
    sign = 1 if match[1] == "+" else -1
    return timezone(sign * timedelta(hours=int(match[2]), minutes=int(match[3])))


def video_start(path: Path, zone: tzinfo | None) -> RecordedAt | None:
    """The file name's time first: dashcams name files by their own clock, while some write local
    time into the MP4's UTC field, which would put every sighting hours off."""
    named = from_name(path.name, zone)
    if named is not None:
        return RecordedAt(named, "its file name")
    created = _mp4_creation_time(path)
    if created is not None:
        return RecordedAt(created, "its MP4 metadata")
    return None


def photo_taken(path: Path, zone: tzinfo | None) -> RecordedAt | None:
    """EXIF first: a photo copied or renamed keeps it."""
    taken = _exif_taken(path, zone)
    if taken is not None:
        return RecordedAt(taken, "its EXIF")
    named = from_name(path.name, zone)
    return RecordedAt(named, "its file name") if named is not None else None


def from_name(name: str, zone: tzinfo | None) -> datetime | None:
    if _UTC_NAMES.match(name):
        zone = timezone.utc
    for pattern, century in ((_FOUR_DIGIT_YEAR, 0), (_TWO_DIGIT_YEAR, 2000)):
        for match in pattern.finditer(name):
            parts = [int(p) for p in match.groups() if p is not None]
            parts[0] += century
            try:
                when = _aware(datetime(*parts), zone)
            except ValueError:  # 20261399_...: digits, not a time
                continue
            if _plausible(when):
                return when
    return None


def _aware(naive: datetime, zone: tzinfo | None) -> datetime:
    return naive.astimezone() if zone is None else naive.replace(tzinfo=zone)


def _plausible(when: datetime) -> bool:
    # A camera whose clock was never set records 1970 or 2000-01-01 00:00; a 0 field means unset.
    return _EARLIEST < when < datetime.now(timezone.utc) + timedelta(days=2)


def _mp4_creation_time(path: Path) -> datetime | None:
    """The movie header's (`moov/mvhd`) creation time, read without decoding the file. It may
    sit after the media data, so top-level boxes are skipped by their sizes, not scanned."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            moov = _find_box(f, 0, size, b"moov")
            mvhd = _find_box(f, moov[0], moov[1], b"mvhd") if moov else None
            if mvhd is None:
                return None
            f.seek(mvhd[0])
            header = f.read(12)
    except OSError:
        return None
    if len(header) < 8:
        return None
    seconds = struct.unpack(">Q", header[4:12])[0] if header[0] == 1 else struct.unpack(">I", header[4:8])[0]
    when = _MP4_EPOCH + timedelta(seconds=seconds)
    return when if _plausible(when) else None


def _find_box(f, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """(start, end) of the payload of the first `kind` box between `start` and `end`."""
    at = start
    while at + 8 <= end:
        f.seek(at)
        head = f.read(16)
        if len(head) < 8:
            return None
        size, box = struct.unpack(">I4s", head[:8])
        payload = at + 8
        if size == 1 and len(head) == 16:
            size, payload = struct.unpack(">Q", head[8:16])[0], at + 16
        elif size == 0:
            size = end - at
        if size < 8 or at + size > end:
            return None  # not an MP4 (an AVI, an MKV) or a truncated one
        if box == kind:
            return payload, at + size
        at += size
    return None


def open_heif() -> None:
    """Lets PIL open HEIC/HEIF photos (an iPhone's), through pillow-heif: it turns each picture
    upright as the file says and resets its EXIF orientation, as OpenCV does for a JPEG."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def _exif_taken(path: Path, zone: tzinfo | None) -> datetime | None:
    from PIL import Image

    open_heif()
    try:
        with Image.open(path) as image:
            exif = image.getexif().get_ifd(_EXIF_IFD)
    except (OSError, SyntaxError, ValueError):
        return None
    for stamp_tag, offset_tag in ((_DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL),
                                  (_DATETIME_DIGITIZED, _OFFSET_TIME_DIGITIZED)):
        stamp = str(exif.get(stamp_tag, "")).strip("\x00 ")
        try:
            naive = datetime.strptime(stamp, "%Y:%m:%d %H:%M:%S")
        except ValueError:
            continue
        offset = str(exif.get(offset_tag, "")).strip("\x00 ")
        try:
            when = _aware(naive, parse_timezone(offset) if offset else zone)
        except ValueError:  # an offset written wrong: the configured zone rather than nothing
            when = _aware(naive, zone)
        if _plausible(when):
            return when
    return None
