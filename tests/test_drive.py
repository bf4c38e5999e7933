"""A dashcam card's files grouped into drives, and a drive played as one video (drive.py)."""

from datetime import datetime, timedelta, timezone

import cv2
import pytest

from helpers import draw_frame, write_video
from stream_lpr import drive
from stream_lpr.capture import videos_in
from stream_lpr.config import CaptureConfig

JAPAN = CaptureConfig(file_timezone="+09:00")
SIZE = (64, 48)


def never_stop(_seconds):
    return False


def grouped(videos, config):
    """drive.group's drives as lists of their files."""
    return [[segment.path for segment in drive_] for drive_ in drive.group(videos, config)]


def clip(path, frames=10, fps=5.0, size=SIZE):
    """`frames` frames at `fps`, each a different shade: 2 s by default."""
    write_video(path, [draw_frame(size, [((20 * k, 90, 200), (8, 8, 40, 30))]) for k in range(frames)], fps)
    return path


def test_files_recorded_back_to_back_are_one_drive_per_camera(tmp_path):
    # A front and a rear camera in one folder, each cutting 2 s files; the front stops for
    # a minute after 08:00:04; a third camera records at another size.
    names = ["20261201_080000_F.mp4", "20261201_080000_R.mp4", "20261201_080002_F.mp4", "20261201_080002_R.mp4",
             "20261201_080004_F.mp4", "20261201_080104_F.mp4"]
    paths = [clip(tmp_path / name) for name in names]
    paths.append(clip(tmp_path / "20261201_080002_X.mp4", size=(80, 48)))
    paths.append(clip(tmp_path / "20261201_080004_R.mp4", fps=10.0, frames=20))  # the same 2 s at another rate
    paths.append(clip(tmp_path / "trip.mp4"))  # no recording time: read alone
    paths.append(clip(tmp_path / "20261201_080010_F.mp4"))  # 4 s after the front's last file ended
    drives = grouped(sorted(paths), JAPAN)
    assert [[p.name for p in d] for d in drives] == [
        ["20261201_080000_F.mp4", "20261201_080002_F.mp4", "20261201_080004_F.mp4"],
        ["20261201_080000_R.mp4", "20261201_080002_R.mp4"],
        ["20261201_080002_X.mp4"],
        ["20261201_080004_R.mp4"],
        ["20261201_080010_F.mp4"],
        ["20261201_080104_F.mp4"],
        ["trip.mp4"],
    ]


@pytest.mark.parametrize("config", [CaptureConfig(drive_gap_s=0.0), CaptureConfig(file_clock="processed")])
def test_files_are_read_alone_when_drives_are_off_or_their_times_not_read(tmp_path, config):
    paths = [clip(tmp_path / name) for name in ("20261201_080000.mp4", "20261201_080002.mp4")]
    assert grouped(paths, config) == [[paths[0]], [paths[1]]]


def test_a_drive_plays_as_one_timeline_and_each_frame_names_its_own_file(tmp_path):
    paths = [clip(tmp_path / "20261201_080000.mp4"), clip(tmp_path / "20261201_080002.mp4", frames=5),
             tmp_path / "20261201_080003.mp4", clip(tmp_path / "20261201_080006.mp4")]
    paths[2].write_bytes(b"\0" * 4096)  # a file the card's fault left unreadable
    source = drive.DriveSource([drive.probe(path, JAPAN) for path in paths])
    assert source.info.frame_count == 25 and source.info.fps == 5.0 and source.info.size == SIZE
    frames = list(source.frames(never_stop))
    source.close()
    assert [f.index for f in frames] == list(range(25))
    assert [f.source for f in frames] == [str(paths[0])] * 10 + [str(paths[1])] * 5 + [str(paths[3])] * 10
    # The run's clock goes on from file to file, leaving the 3 s the recording is missing.
    assert [round(f.timestamp_s, 3) for f in frames[9:11] + frames[14:16]] == [1.8, 2.0, 2.8, 6.0]
    assert [(f.file_start_s, f.file_start_frame) for f in (frames[0], frames[10], frames[15])] == [
        (0.0, 0), (2.0, 10), (6.0, 15)]
    assert [round(f.file_time_s, 3) for f in (frames[10], frames[16])] == [0.0, 0.2]
    # Each frame's wall clock is its own file's start plus its time into that file.
    japan = timezone(timedelta(hours=9))
    assert frames[16].seen_at == datetime(2026, 12, 1, 8, 0, 6, 200000, tzinfo=japan)
    assert source.failed == ["20261201_080003.mp4"]


def test_a_cards_root_gives_the_videos_of_its_folders_in_time_order_and_drives_run_through_them(tmp_path):
    # As a Viofo camera leaves its card: segments in DCIM/Movie, the one an impact locked moved
    # to DCIM/Movie/RO, photos in DCIM/Photo; macOS's trash and its ._ files beside them.
    movie, locked, photo, trash = (tmp_path / "DCIM" / "Movie", tmp_path / "DCIM" / "Movie" / "RO",
                                   tmp_path / "DCIM" / "Photo", tmp_path / ".Trashes")
    for folder in (locked, photo, trash):
        folder.mkdir(parents=True)
    names = ["2026_1201_080000_0001F.MP4", "2026_1201_080002_0002F.MP4", "2026_1201_080004_0003F.MP4"]
    paths = [clip(movie / names[0]), clip(locked / names[1]), clip(movie / names[2])]
    clip(trash / "2026_1201_075958_0000F.MP4")
    (movie / "._2026_1201_080000_0001F.MP4").write_bytes(b"\0" * 512)
    cv2.imwrite(str(photo / "2026_1201_080003_0001F.JPG"), draw_frame(SIZE, []))
    assert videos_in(tmp_path) == paths
    assert videos_in(movie) == [paths[0], paths[2]]  # a folder with videos of its own: only those
    assert grouped(videos_in(tmp_path), JAPAN) == [paths]


def test_two_cameras_naming_their_files_alike_in_two_folders_make_two_drives(tmp_path):
    (tmp_path / "Front").mkdir()
    (tmp_path / "Rear").mkdir()
    # The front camera's first file is 0.2 s short: its second file begins nearer the rear's end.
    front = [clip(tmp_path / "Front" / "20261201_080000.mp4", frames=9), clip(tmp_path / "Front" / "20261201_080002.mp4")]
    rear = [clip(tmp_path / "Rear" / "20261201_080000.mp4"), clip(tmp_path / "Rear" / "20261201_080002.mp4")]
    # (A tolerance under these 2 s files' length: a camera's segments last a minute or more.)
    assert grouped(videos_in(tmp_path), CaptureConfig(file_timezone="+09:00", drive_gap_s=0.5)) == [front, rear]
