"""The threaded pipeline with fake models: ordering, drops, shutdown, still images."""

import csv
import threading

import cv2
import numpy as np
import pytest

from fakes import PALETTE, PLATE_A, PLATE_B, ColourDetector, ColourReader, draw_frame, two_plate_frames, write_video
from stream_lpr.capture import open_source
from stream_lpr.config import load_config
from stream_lpr.overlay import Overlay
from stream_lpr.pipeline import Outputs, run_pipeline
from stream_lpr.sinks import CropSaver, CsvSink, VideoSink


def rows(path):
    return list(csv.DictReader(open(path, encoding="utf-8")))


def frame_count(path):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


@pytest.fixture
def two_plates(tmp_path):
    path = tmp_path / "two.mp4"
    write_video(path, two_plate_frames(60))
    return path


def run(config, source_path, tmp_path, reader=None, detector=None, video=True, stop=None, on_frame=None,
        realtime=False, crops=False):
    source = open_source(str(source_path), config.capture, realtime=realtime)
    outputs = Outputs(csv=CsvSink(tmp_path / "s.csv"),
                      video=VideoSink(tmp_path / "out.mp4", source.info.fps) if video and not source.info.still else None,
                      crops=CropSaver(tmp_path / "crops") if crops else None,
                      images_dir=str(tmp_path / "annotated") if video and source.info.still else None)
    stats = run_pipeline(config, source, detector or ColourDetector(), [reader or ColourReader(PALETTE)],
                         outputs, Overlay(config.overlay) if video else None, stop=stop, on_frame=on_frame)
    return stats, rows(tmp_path / "s.csv")


def test_file_run_logs_each_plate_once_and_writes_every_frame(two_plates, tmp_path):
    config = load_config(None, {"tracking.lost_track_s": 0.3})
    stats, sightings = run(config, two_plates, tmp_path, crops=True)
    assert sorted(r["plate"] for r in sightings) == sorted([str(PLATE_A), str(PLATE_B)])
    b = next(r for r in sightings if r["plate"] == str(PLATE_B))
    assert (int(b["first_frame"]), int(b["last_frame"])) == (11, 39)  # confirmed at its 2nd frame
    assert float(b["first_seen_s"]) == pytest.approx(11 / 30, abs=1e-3)
    assert b["plate_type"] == "kei" and int(b["reads"]) >= 3 and b["crop_path"].endswith(".jpg")
    assert stats.frames == 60 and stats.dropped_frames == 0 and stats.dropped_reads == 0
    assert frame_count(tmp_path / "out.mp4") == 60
    # B ended mid-video, A at the end of the stream: B's row comes first.
    assert [r["plate"] for r in sightings] == [str(PLATE_B), str(PLATE_A)]


def test_reads_are_capped_per_track_per_second(two_plates, tmp_path):
    config = load_config(None, {"read_policy.max_reads_per_s": 3})
    stats, sightings = run(config, two_plates, tmp_path, video=False)
    a = next(r for r in sightings if r["plate"] == str(PLATE_A))
    assert int(a["reads"]) <= 3 * 2 + 1  # 2 s of video
    assert stats.reads == sum(int(r["reads"]) for r in sightings)


def test_stop_mid_run_flushes_open_tracks_and_closes_the_video(two_plates, tmp_path):
    stop = threading.Event()

    def on_frame(stats):
        if stats.frames == 20:
            stop.set()

    stats, sightings = run(load_config(None), two_plates, tmp_path, stop=stop, on_frame=on_frame)
    assert sorted(r["plate"] for r in sightings) == sorted([str(PLATE_A), str(PLATE_B)])
    assert 20 <= frame_count(tmp_path / "out.mp4") <= 21


def test_unread_tracks_are_logged_only_when_asked(two_plates, tmp_path):
    never_read = {"read_policy.min_width_px": 5000}
    _, sightings = run(load_config(None, never_read), two_plates, tmp_path, video=False)
    assert sightings == []
    _, sightings = run(load_config(None, {**never_read, "output.log_unread": True}), two_plates, tmp_path, video=False)
    assert len(sightings) == 2 and all(r["plate"] == "" and r["reads"] == "0" for r in sightings)


class BrokenReader:
    def read(self, crops):
        raise RuntimeError("CUDA fell over")


def test_reader_failures_are_counted_and_the_run_goes_on(two_plates, tmp_path):
    stats, sightings = run(load_config(None), two_plates, tmp_path, reader=BrokenReader(), video=False)
    assert stats.frames == 60 and stats.failed_reads > 0 and sightings == []


def test_live_source_drops_reads_when_readers_fall_behind(two_plates, tmp_path):
    config = load_config(None, {"workers.queue_size": 1, "workers.batch_size": 1,
                                "read_policy.max_reads_per_s": 1000})
    stats, sightings = run(config, two_plates, tmp_path, reader=ColourReader(PALETTE, delay_s=0.2),
                           video=False, realtime=True)
    assert stats.dropped_reads > 0
    assert stats.latency_p95() is not None and stats.latency_p95() < 1000
    assert {r["plate"] for r in sightings} <= {str(PLATE_A), str(PLATE_B)}


def test_live_source_drops_frames_when_detection_falls_behind(two_plates, tmp_path):
    stats, _ = run(load_config(None), two_plates, tmp_path, detector=ColourDetector(delay_s=0.08),
                   video=False, realtime=True)
    assert stats.dropped_frames > 0 and stats.frames + stats.dropped_frames <= 60


def test_images_are_their_own_sightings(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name, boxes in [("1.png", [((0, 200, 0), (10, 10, 110, 60))]),
                        ("2.png", [((0, 200, 0), (10, 10, 110, 60)), ((0, 0, 200), (150, 100, 250, 150))])]:
        cv2.imwrite(str(folder / name), draw_frame((320, 240), boxes))
    (folder / "3.jpg").write_bytes(b"broken")
    stats, sightings = run(load_config(None), folder, tmp_path)
    assert [(r["source"].rsplit("/", 1)[1], r["plate"]) for r in sightings] == [
        ("1.png", str(PLATE_A)), ("2.png", str(PLATE_A)), ("2.png", str(PLATE_B))]
    assert len({r["track_id"] for r in sightings}) == 3
    assert sorted(p.name for p in (tmp_path / "annotated").iterdir()) == ["1.png", "2.png"]


def test_source_failure_mid_run_is_reported_after_writing(tmp_path):
    # A 'video' that declares more frames than it holds: decoded frames still produce rows.
    path = tmp_path / "two.mp4"
    write_video(path, two_plate_frames(60))
    source = open_source(str(path), load_config(None).capture)
    source.info = type(source.info)(**{**source.info.__dict__, "frame_count": 200})
    outputs = Outputs(csv=CsvSink(tmp_path / "s.csv"))
    stats = run_pipeline(load_config(None), source, ColourDetector(), [ColourReader(PALETTE)], outputs)
    assert stats.error and "60 of 200" in stats.error
    assert len(rows(tmp_path / "s.csv")) == 2


def test_empty_frames_end_tracks(tmp_path):
    frames = [draw_frame((320, 240), [((0, 200, 0), (10, 10, 110, 60))]) for _ in range(10)]
    frames += [np.zeros((240, 320, 3), np.uint8)] * 20
    frames += [draw_frame((320, 240), [((0, 200, 0), (10, 10, 110, 60))]) for _ in range(10)]
    path = tmp_path / "gap.mp4"
    write_video(path, frames)
    _, sightings = run(load_config(None, {"tracking.lost_track_s": 0.3}), path, tmp_path, video=False)
    assert [r["plate"] for r in sightings] == [str(PLATE_A)] * 2  # two separate sightings
    assert [int(r["track_id"]) for r in sightings] == [1, 2]


class DyingCamera:
    """Serves the given frames at ~100 fps, then the stream dies for good."""

    def __init__(self, frames):
        self.frames = list(frames)

    def read(self):
        if not self.frames:
            return False, None
        threading.Event().wait(0.01)
        return True, self.frames.pop(0)

    def get(self, prop):
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self):
        pass


def test_live_source_dying_mid_run_flushes_tracks_and_ends_threads(tmp_path):
    from stream_lpr.capture import LiveSource
    from stream_lpr.errors import SourceError

    config = load_config(None, {"capture.reconnect_initial_s": 0.02, "capture.reconnect_max_s": 0.05,
                                "capture.give_up_after_s": 0.2})
    opens = []

    def opener():
        opens.append(1)
        if len(opens) > 1:
            raise SourceError("cannot connect to rtsp://cam")
        return DyingCamera(two_plate_frames(30))

    source = LiveSource("rtsp://user:secret@cam", config.capture, opener)
    outputs = Outputs(csv=CsvSink(tmp_path / "s.csv"), video=VideoSink(tmp_path / "o.mp4", 30))
    stats = run_pipeline(config, source, ColourDetector(), [ColourReader(PALETTE)], outputs, Overlay(config.overlay))
    assert stats.error and "gave up" in stats.error and "secret" not in stats.error
    assert sorted(r["plate"] for r in rows(tmp_path / "s.csv")) == sorted([str(PLATE_A), str(PLATE_B)])
    assert frame_count(tmp_path / "o.mp4") == stats.frames > 0
    alive = [t.name for t in threading.enumerate() if t.name == "grabber" or t.name.startswith("reader-")]
    assert alive == []
