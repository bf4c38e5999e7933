"""Frame sources: files, images, folders, cameras, URLs, reconnects."""

import threading
import time

import cv2
import numpy as np
import pytest

from helpers import draw_frame, write_video
from stream_lpr.capture import LiveSource, open_source, redact
from stream_lpr.config import CaptureConfig
from stream_lpr.errors import SourceError

FAST = CaptureConfig(open_timeout_s=2, read_timeout_s=2, reconnect_initial_s=0.01, reconnect_max_s=0.04)


def never_stop(_seconds):
    return False


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, [draw_frame((160, 120), [((0, 200, 0), (i, 10, i + 40, 30))]) for i in range(30)], fps=15)
    return path


def test_video_file_gives_every_frame_with_media_time(video):
    source = open_source(str(video), FAST)
    frames = list(source.frames(never_stop))
    source.close()
    assert not source.info.live and source.info.fps == pytest.approx(15)
    assert [f.index for f in frames] == list(range(30))
    assert frames[15].timestamp_s == pytest.approx(1.0)
    assert frames[0].image.shape == (120, 160, 3) and not frames[0].still


def test_missing_file():
    with pytest.raises(SourceError, match="source not found"):
        open_source("/nonexistent/clip.mp4", FAST)


def test_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_bytes(b"this is not a video" * 100)
    with pytest.raises(SourceError, match="cannot (open|decode)"):
        open_source(str(path), FAST)


def test_truncated_video_fails_with_one_line(video, tmp_path):
    data = video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError) as info:
        source = open_source(str(cut), FAST)
        list(source.frames(never_stop))
    assert "\n" not in str(info.value)


def test_single_image_is_one_still_frame(tmp_path):
    path = tmp_path / "car.png"
    cv2.imwrite(str(path), np.full((50, 80, 3), 90, np.uint8))
    frames = list(open_source(str(path), FAST).frames(never_stop))
    assert len(frames) == 1 and frames[0].still and frames[0].source == str(path)


def test_an_iphone_s_heic_photo_is_read_upright_as_a_jpeg_is(tmp_path):
    from PIL import Image

    from stream_lpr.recorded_at import open_heif

    open_heif()
    picture = np.zeros((240, 320, 3), np.uint8)
    picture[:60, :80] = 255  # a white corner, to see which way up it comes
    image = Image.fromarray(picture)
    exif = image.getexif()
    exif[0x0112] = 6  # taken with the phone upright: the picture is to be turned a quarter
    image.save(tmp_path / "IMG_0001.HEIC", quality=95, exif=exif.tobytes())
    image.save(tmp_path / "IMG_0002.jpg", quality=95, exif=exif.tobytes())
    heic, jpeg = [f.image for f in open_source(str(tmp_path), FAST).frames(never_stop)]
    assert heic.shape == jpeg.shape == (320, 240, 3)  # turned, as OpenCV turns the JPEG
    assert np.abs(heic.astype(int) - jpeg.astype(int)).mean() < 3


def test_folder_with_a_broken_image_warns_and_goes_on(tmp_path, caplog):
    for name in ("a.png", "c.jpg"):
        cv2.imwrite(str(tmp_path / name), np.full((50, 80, 3), 90, np.uint8))
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8broken")
    (tmp_path / "readme.txt").write_text("not an image")
    source = open_source(str(tmp_path), FAST)
    frames = list(source.frames(never_stop))
    assert [f.source.rsplit("/", 1)[1] for f in frames] == ["a.png", "c.jpg"]
    assert "b.jpg" in caplog.text


def test_a_folder_of_folders_gives_the_images_in_them_and_not_in_hidden_ones(tmp_path):
    # Photos kept a folder a day; the trash and the ._ files macOS leaves on a card beside them.
    for folder in ("2026-12-01", "2026-12-02", ".Trashes"):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / "IMG_0001.jpg"), np.full((50, 80, 3), 90, np.uint8))
    (tmp_path / "2026-12-02" / "._IMG_0001.jpg").write_bytes(b"\0" * 512)
    frames = list(open_source(str(tmp_path), FAST).frames(never_stop))
    assert [f.source.split("/")[-2:] for f in frames] == [["2026-12-01", "IMG_0001.jpg"], ["2026-12-02", "IMG_0001.jpg"]]


def test_folder_of_only_broken_images_is_an_error(tmp_path):
    (tmp_path / "b.jpg").write_bytes(b"broken")
    source = open_source(str(tmp_path), FAST)
    with pytest.raises(SourceError, match="could be read"):
        list(source.frames(never_stop))


def test_empty_folder(tmp_path):
    with pytest.raises(SourceError, match="no images"):
        open_source(str(tmp_path), FAST)


def test_camera_index_that_does_not_exist():
    with pytest.raises(SourceError, match="camera 97"):
        open_source("97", FAST)


@pytest.mark.parametrize("url", ["rtsp://admin:hunter2@127.0.0.1:9/stream", "http://127.0.0.1:9/video.mjpg"])
def test_unreachable_url_fails_fast_and_hides_the_password(url):
    start = time.monotonic()
    with pytest.raises(SourceError) as info:
        open_source(url, FAST)
    assert time.monotonic() - start < 10
    assert "hunter2" not in str(info.value) and "127.0.0.1" in str(info.value)


@pytest.mark.parametrize("url, expected", [
    ("rtsp://admin:hunter2@10.0.0.1:554/live", "rtsp://admin:***@10.0.0.1:554/live"),
    ("http://cam/video?user=a&password=hunter2&x=1", "http://cam/video?user=a&password=***&x=1"),
    ("rtsp://10.0.0.1/live", "rtsp://10.0.0.1/live"),
    ("0", "0"),
])
def test_redact(url, expected):
    assert redact(url) == expected


class FakeCapture:
    """Gives `frames` frames, then fails every read (a stream that died)."""

    def __init__(self, frames):
        self.left = frames

    def read(self):
        if self.left <= 0:
            return False, None
        self.left -= 1
        return True, np.zeros((8, 8, 3), np.uint8)

    def get(self, prop):
        return 25.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self):
        pass


class FlakyOpener:
    """First open works; then `failures` opens fail; then opens work again."""

    def __init__(self, failures, frames_per_open=3):
        self.opens, self.failures, self.frames_per_open = 0, failures, frames_per_open

    def __call__(self):
        self.opens += 1
        if 1 < self.opens <= 1 + self.failures:
            raise SourceError("cannot connect to rtsp://user:***@cam")
        return FakeCapture(self.frames_per_open)


def test_live_source_reconnects_with_doubling_backoff():
    opener, waits = FlakyOpener(failures=3), []

    def wait(seconds):
        waits.append(seconds)
        return False

    source = LiveSource("rtsp://user:pw@cam", FAST, opener)
    frames = []
    for frame in source.frames(wait):
        frames.append(frame)
        if len(frames) == 6:
            break
    assert source.info.live and source.info.name == "rtsp://user:***@cam"
    assert [f.index for f in frames] == list(range(6))
    assert waits == [0.01, 0.02, 0.04, 0.04]  # doubling, capped at reconnect_max_s
    assert all(b.timestamp_s >= a.timestamp_s for a, b in zip(frames, frames[1:]))


def test_live_source_gives_up_when_configured():
    config = CaptureConfig(reconnect_initial_s=0.01, reconnect_max_s=0.01, give_up_after_s=0.05)
    source = LiveSource("rtsp://cam", config, FlakyOpener(failures=10**6))
    with pytest.raises(SourceError, match="gave up"):
        list(source.frames(lambda s: time.sleep(s) or False))


def test_stop_during_backoff_ends_the_stream_at_once():
    stop = threading.Event()
    stop.set()
    source = LiveSource("rtsp://cam", FAST, FlakyOpener(failures=10**6))
    assert len(list(source.frames(stop.wait))) == 3  # the frames before the loss, then a clean end


def test_first_open_failure_is_an_error_not_a_reconnect():
    def opener():
        raise SourceError("cannot connect to rtsp://cam")

    with pytest.raises(SourceError):
        LiveSource("rtsp://cam", FAST, opener)


def test_realtime_file_is_live_and_ends_at_the_end(video):
    source = open_source(str(video), FAST, realtime=True)
    start = time.monotonic()
    frames = list(source.frames(never_stop))
    assert source.info.live and len(frames) == 30
    assert time.monotonic() - start > 1.5  # paced at 15 fps
