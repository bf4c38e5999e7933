"""When a file was recorded: dashcam and phone file names, MP4 metadata, EXIF, and the frames'
wall clock that comes of them."""

import struct
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from PIL import Image

from helpers import draw_frame, write_video
from stream_lpr import recorded_at
from stream_lpr.capture import open_source
from stream_lpr.config import CaptureConfig, load_config
from stream_lpr.errors import ConfigError

JST = timezone(timedelta(hours=9))


def never_stop(_seconds):
    return False


@pytest.mark.parametrize("name, when", [
    ("20261207_153012_NF.mp4", datetime(2026, 12, 7, 15, 30, 12)),  # BlackVue
    ("2026_1207_153012_0001F.MP4", datetime(2026, 12, 7, 15, 30, 12)),  # Viofo
    ("REC_2026_12_07_15_30_12_F.MP4", datetime(2026, 12, 7, 15, 30, 12)),  # Thinkware
    ("2026120715301200.MOV", datetime(2026, 12, 7, 15, 30, 12)),  # Comtec
    ("FILE261207-153012F.MOV", datetime(2026, 12, 7, 15, 30, 12)),  # Yupiteru
    ("VID_20261207_153012.mp4", datetime(2026, 12, 7, 15, 30, 12)),  # a phone
    ("PXL_20261207_063012345.mp4", datetime(2026, 12, 7, 15, 30, 12)),  # a Pixel names files in UTC
    ("20261201_0800.MP4", datetime(2026, 12, 1, 8, 0)),
    ("clip.mp4", None),
    ("20261399_153012.mp4", None),  # no 99th of the 13th month
    ("2000_0101_000000.mp4", None),  # a camera whose clock was never set
    ("20991231_235959.mp4", None),  # after today
])
def test_dashcam_and_phone_file_names_give_their_recording_time_in_the_zone_given(name, when):
    got = recorded_at.from_name(name, JST)
    assert got == (when.replace(tzinfo=JST) if when else None)


def test_a_time_zone_is_local_utc_or_an_offset():
    assert recorded_at.parse_timezone("local") is None
    assert recorded_at.parse_timezone("UTC") == timezone.utc
    assert recorded_at.parse_timezone("+09:00") == JST
    assert recorded_at.parse_timezone("-0330") == timezone(-timedelta(hours=3, minutes=30))
    with pytest.raises(ConfigError, match="capture.file_timezone"):
        load_config(None, {"capture.file_timezone": "Tokyo"})
    with pytest.raises(ConfigError, match="capture.file_clock"):
        load_config(None, {"capture.file_clock": "exif"})


def stamp_mp4(path, when):
    """Writes `when` into the MP4's movie header, as a camera does (OpenCV leaves it 0)."""
    data = bytearray(path.read_bytes())
    at = data.index(b"mvhd") + 4
    assert data[at] == 0  # version 0: 32-bit seconds since 1904
    seconds = int((when - datetime(1904, 1, 1, tzinfo=timezone.utc)).total_seconds())
    data[at + 4:at + 8] = struct.pack(">I", seconds)
    path.write_bytes(bytes(data))


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, [draw_frame((160, 120), [((0, 200, 0), (i, 10, i + 40, 30))]) for i in range(30)], fps=15)
    return path


def test_a_video_s_frames_carry_its_recording_time_from_its_metadata_or_its_name(clip, tmp_path):
    config = CaptureConfig(file_timezone="+09:00")
    frames = list(open_source(str(clip), config).frames(never_stop))
    assert datetime.now(timezone.utc) - frames[0].seen_at < timedelta(minutes=1)  # nothing tells it: now

    start = datetime(2026, 11, 30, 23, 0, 5, tzinfo=timezone.utc)
    stamp_mp4(clip, start)
    frames = list(open_source(str(clip), config).frames(never_stop))
    assert len(frames) == 30  # still a playable file
    assert frames[0].seen_at == start and frames[15].seen_at == start + timedelta(seconds=1)

    named = tmp_path / "20261201_0800.mp4"  # the name wins over the metadata: a dashcam's own clock
    named.write_bytes(clip.read_bytes())
    frames = list(open_source(str(named), config).frames(never_stop))
    assert frames[15].seen_at == datetime(2026, 12, 1, 8, 0, 1, tzinfo=JST)
    assert frames[15].seen_at.tzinfo == timezone.utc

    frames = list(open_source(str(named), CaptureConfig(file_clock="processed")).frames(never_stop))
    assert datetime.now(timezone.utc) - frames[0].seen_at < timedelta(minutes=1)


def test_a_photo_carries_the_time_it_was_taken_from_its_exif(tmp_path):
    recorded_at.open_heif()  # PIL writes HEIC through pillow-heif
    image = Image.fromarray(np.full((60, 80, 3), 128, np.uint8))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2026:12:07 15:30:12"  # DateTimeOriginal
    image.save(tmp_path / "a.jpg", exif=exif)
    exif.get_ifd(0x8769)[36881] = "+09:00"  # OffsetTimeOriginal
    image.save(tmp_path / "b.jpg", exif=exif)
    image.save(tmp_path / "d.heic", exif=exif)  # an iPhone's photo
    image.save(tmp_path / "IMG_20261206_101500.jpg")  # no EXIF: its name
    image.save(tmp_path / "c.jpg")

    frames = list(open_source(str(tmp_path), CaptureConfig(file_timezone="-05:00")).frames(never_stop))
    seen = {f.source.rsplit("/", 1)[-1]: f.seen_at for f in frames}
    assert seen["a.jpg"] == datetime(2026, 12, 7, 20, 30, 12, tzinfo=timezone.utc)  # the zone given
    assert seen["b.jpg"] == seen["d.heic"] == datetime(2026, 12, 7, 6, 30, 12, tzinfo=timezone.utc)  # its own offset
    assert seen["IMG_20261206_101500.jpg"] == datetime(2026, 12, 6, 15, 15, tzinfo=timezone.utc)
    assert datetime.now(timezone.utc) - seen["c.jpg"] < timedelta(minutes=1)
