"""The threaded pipeline with the real models on rendered plates: ordering, drops, shutdown,
still images."""

import csv
import threading
import time

import cv2
import pytest

from helpers import PLATE_A, PLATE_B
from scenes import P_COMMERCIAL, SMALL, Appearance, render_scene, two_plates, write_scene
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


@pytest.fixture(scope="module")
def two_plate_video(tmp_path_factory):
    """60 frames: A in view throughout, B in view for frames 10-39 only."""
    path = tmp_path_factory.mktemp("videos") / "two.mp4"
    write_scene(path, two_plates(60), 60, size=SMALL)
    return path


class Slowed:
    """The real reader or detector, made slow: a stage that falls behind a live source."""

    def __init__(self, model, delay_s):
        self.model, self.delay_s = model, delay_s

    def read(self, crops, views=1):
        time.sleep(self.delay_s)
        return self.model.read(crops, views)

    def detect(self, image, still=False):
        time.sleep(self.delay_s)
        return self.model.detect(image, still)


class BrokenReader:
    def read(self, crops, views=1):
        raise RuntimeError("CUDA fell over")


def run(config, source_path, tmp_path, models, reader=None, detector=None, video=True, stop=None,
        on_frame=None, realtime=False, crops=False):
    source = open_source(str(source_path), config.capture, realtime=realtime)
    outputs = Outputs(csv=CsvSink(tmp_path / "s.csv"),
                      video=VideoSink(tmp_path / "out.mp4", source.info.fps) if video and not source.info.still else None,
                      crops=CropSaver(tmp_path / "crops") if crops else None,
                      images_dir=str(tmp_path / "annotated") if video and source.info.still else None)
    stats = run_pipeline(config, source, detector or models[0], [reader or models[1]],
                         outputs, Overlay(config.overlay) if video else None, stop=stop, on_frame=on_frame)
    return stats, rows(tmp_path / "s.csv")


def test_file_run_logs_each_plate_once_and_writes_every_frame(two_plate_video, tmp_path, models):
    config = load_config(None, {"tracking.lost_track_s": 0.3})
    stats, sightings = run(config, two_plate_video, tmp_path, models, crops=True)
    assert sorted(r["plate"] for r in sightings) == sorted([str(PLATE_A), str(PLATE_B)])
    b = next(r for r in sightings if r["plate"] == str(PLATE_B))
    # B is on screen for frames 10-39; a track is confirmed at its 2nd detection (frame 11 at best).
    assert 11 <= int(b["first_frame"]) <= 13 and 37 <= int(b["last_frame"]) <= 39
    assert float(b["first_seen_s"]) == pytest.approx(int(b["first_frame"]) / 30, abs=1e-3)
    assert b["plate_type"] == "kei" and int(b["reads"]) >= 3 and b["crop_path"].endswith(".jpg")
    assert stats.frames == 60 and stats.dropped_frames == 0 and stats.dropped_reads == 0
    assert frame_count(tmp_path / "out.mp4") == 60
    # B ended mid-video, A at the end of the stream: B's row comes first.
    assert [r["plate"] for r in sightings] == [str(PLATE_B), str(PLATE_A)]


def test_reads_are_capped_per_track_per_second(two_plate_video, tmp_path, models):
    config = load_config(None, {"read_policy.max_reads_per_s": 3})
    stats, sightings = run(config, two_plate_video, tmp_path, models, video=False)
    a = next(r for r in sightings if r["plate"] == str(PLATE_A))
    # 2 s of video: about 6 reads at the cap; uncapped, the default 6/s would give about 12.
    assert 4 <= int(a["reads"]) <= 3 * 2 + 1
    assert stats.reads == sum(int(r["reads"]) for r in sightings)


def test_stop_mid_run_flushes_open_tracks_and_closes_the_video(two_plate_video, tmp_path, models):
    stop = threading.Event()

    def on_frame(stats):
        if stats.frames == 20:
            stop.set()

    stats, sightings = run(load_config(None), two_plate_video, tmp_path, models, stop=stop, on_frame=on_frame)
    assert sorted(r["plate"] for r in sightings) == sorted([str(PLATE_A), str(PLATE_B)])
    assert 20 <= frame_count(tmp_path / "out.mp4") <= 21


def test_unread_tracks_are_logged_only_when_asked(two_plate_video, tmp_path, models):
    never_read = {"read_policy.min_width_px": 5000}
    _, sightings = run(load_config(None, never_read), two_plate_video, tmp_path, models, video=False)
    assert sightings == []
    _, sightings = run(load_config(None, {**never_read, "output.log_unread": True}), two_plate_video, tmp_path,
                       models, video=False)
    assert len(sightings) == 2 and all(r["plate"] == "" and r["reads"] == "0" for r in sightings)


def test_reader_failures_are_counted_and_the_run_goes_on(two_plate_video, tmp_path, models):
    stats, sightings = run(load_config(None), two_plate_video, tmp_path, models, reader=BrokenReader(), video=False)
    assert stats.frames == 60 and stats.failed_reads > 0 and sightings == []


def test_live_source_drops_reads_when_readers_fall_behind(two_plate_video, tmp_path, models):
    config = load_config(None, {"workers.queue_size": 1, "workers.batch_size": 1,
                                "read_policy.max_reads_per_s": 1000})
    stats, sightings = run(config, two_plate_video, tmp_path, models, reader=Slowed(models[1], 0.2),
                           video=False, realtime=True)
    assert stats.dropped_reads > 0
    assert stats.latency_p95() is not None and stats.latency_p95() < 1000
    assert {r["plate"] for r in sightings} <= {str(PLATE_A), str(PLATE_B)}


def test_live_source_drops_frames_when_detection_falls_behind(two_plate_video, tmp_path, models):
    stats, _ = run(load_config(None), two_plate_video, tmp_path, models, detector=Slowed(models[0], 0.08),
                   video=False, realtime=True)
    assert stats.dropped_frames > 0 and stats.frames + stats.dropped_frames <= 60


def test_images_are_their_own_sightings(tmp_path, models):
    folder = tmp_path / "images"
    folder.mkdir()
    one, two = two_plates(60)
    cv2.imwrite(str(folder / "1.png"), render_scene([one], 1, SMALL)[0])
    cv2.imwrite(str(folder / "2.png"), render_scene([one, two], 20, SMALL)[15])
    (folder / "3.jpg").write_bytes(b"broken")
    stats, sightings = run(load_config(None), folder, tmp_path, models)
    # images in name order; within an image the order is the detector's (by confidence)
    assert [r["source"].rsplit("/", 1)[1] for r in sightings] == ["1.png", "2.png", "2.png"]
    assert [r["plate"] for r in sightings[:1]] == [str(PLATE_A)]
    assert sorted(r["plate"] for r in sightings[1:]) == sorted([str(PLATE_A), str(PLATE_B)])
    assert len({r["track_id"] for r in sightings}) == 3
    assert sorted(p.name for p in (tmp_path / "annotated").iterdir()) == ["1.png", "2.png"]


def test_source_failure_mid_run_is_reported_after_writing(two_plate_video, tmp_path, models):
    # A 'video' that declares more frames than it holds: decoded frames still produce rows.
    config = load_config(None)
    source = open_source(str(two_plate_video), config.capture)
    source.info = type(source.info)(**{**source.info.__dict__, "frame_count": 200})
    outputs = Outputs(csv=CsvSink(tmp_path / "s.csv"))
    stats = run_pipeline(config, source, models[0], [models[1]], outputs)
    assert stats.error and "60 of 200" in stats.error
    assert sorted(r["plate"] for r in rows(tmp_path / "s.csv")) == sorted([str(PLATE_A), str(PLATE_B)])


def test_empty_frames_end_tracks(tmp_path, models):
    # The same car at the same place twice, with 20 frames of empty street between.
    parked = dict(centre_from=(320, 240), centre_to=(320, 240), width_from=160, width_to=160)
    path = tmp_path / "gap.mp4"
    write_scene(path, [Appearance(PLATE_A, 0, 15, **parked), Appearance(PLATE_A, 35, 50, **parked)], 50, size=SMALL)
    _, sightings = run(load_config(None, {"tracking.lost_track_s": 0.3}), path, tmp_path, models, video=False)
    assert [r["plate"] for r in sightings] == [str(PLATE_A)] * 2  # two separate sightings
    assert [int(r["track_id"]) for r in sightings] == [1, 2]
    assert int(sightings[0]["last_frame"]) <= 14 and int(sightings[1]["first_frame"]) >= 35


class DyingCamera:
    """Serves the given frames at 20 fps, then the stream dies for good. Slow enough that the
    real detector, even on a loaded machine, sees most frames (a live source drops the rest)."""

    def __init__(self, frames):
        self.frames = list(frames)

    def read(self):
        if not self.frames:
            return False, None
        threading.Event().wait(0.05)
        return True, self.frames.pop(0)

    def get(self, prop):
        return 20.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self):
        pass


def test_live_source_dying_mid_run_flushes_tracks_and_ends_threads(tmp_path, models):
    from stream_lpr.capture import LiveSource
    from stream_lpr.errors import SourceError

    config = load_config(None, {"capture.reconnect_initial_s": 0.02, "capture.reconnect_max_s": 0.05,
                                "capture.give_up_after_s": 0.2})
    opens = []

    def opener():
        opens.append(1)
        if len(opens) > 1:
            raise SourceError("cannot connect to rtsp://cam")
        return DyingCamera(render_scene(two_plates(60), 40, SMALL)[10:40])  # both plates in view

    source = LiveSource("rtsp://user:secret@cam", config.capture, opener)
    outputs = Outputs(csv=CsvSink(tmp_path / "s.csv"), video=VideoSink(tmp_path / "o.mp4", 20))
    stats = run_pipeline(config, source, models[0], [models[1]], outputs, Overlay(config.overlay))
    assert stats.error and "gave up" in stats.error and "secret" not in stats.error
    # a set: a live source drops frames, and on a busy machine a track may break in two
    assert {r["plate"] for r in rows(tmp_path / "s.csv")} == {str(PLATE_A), str(PLATE_B)}
    assert frame_count(tmp_path / "o.mp4") == stats.frames > 0
    alive = [t.name for t in threading.enumerate() if t.name == "grabber" or t.name.startswith("reader-")]
    assert alive == []


@pytest.fixture(scope="module")
def quiet_street(tmp_path_factory):
    """A fixed camera: 5 s of a car parked in view (B), the picture still but for sensor noise
    and the codec's, and a car (A) that drives through from frame 70 to 110."""
    path = tmp_path_factory.mktemp("videos") / "quiet.mp4"
    write_scene(path, [Appearance(PLATE_B, 0, 150, (470, 250), (470, 250), 150, 150, seed=5),
                       Appearance(PLATE_A, 70, 110, (-60, 240), (260, 250), 150, 150, seed=4)], 150,
                size=SMALL, noise=3, seed=7)
    return path


def test_a_still_picture_idles_the_detector_and_loses_no_sighting(quiet_street, tmp_path, models):
    results = {}
    for idle in (0.5, 0.0):
        config = load_config(None, {"tracking.lost_track_s": 0.3, "detection.idle_every_s": idle})
        stats, sightings = run(config, quiet_street, tmp_path / str(idle), models, video=False)
        results[idle] = stats, sightings
    (idle, rows_idle), (busy, rows_busy) = results[0.5], results[0.0]
    # the parked car's track lived through the idle stretches: one row each
    assert sorted(r["plate"] for r in rows_idle) == sorted(r["plate"] for r in rows_busy) == sorted(
        [str(PLATE_A), str(PLATE_B)])
    seen, seen_busy = ({r["plate"]: r for r in rows} for rows in (rows_idle, rows_busy))
    parked = seen[str(PLATE_B)]  # a plate found with no track yet keeps the detector awake: confirmed at once
    assert int(parked["first_frame"]) <= int(seen_busy[str(PLATE_B)]["first_frame"]) + 1
    assert int(parked["last_frame"]) >= 145
    # The driving car is found as soon as it moves into view, not at the next idle detection.
    assert int(seen[str(PLATE_A)]["first_frame"]) <= int(seen_busy[str(PLATE_A)]["first_frame"]) + 2
    # Still stretches (frames 0-69 and 110-149) are detected every 0.15 s (half of lost_track_s),
    # not every 2nd frame: about half the detector's runs there are spared.
    assert busy.idle_frames == 0 and busy.stage_n["detect"] == 75
    assert idle.idle_frames >= 20 and idle.stage_n["detect"] <= 55


@pytest.fixture(scope="module")
def passing_van(tmp_path_factory):
    """A fixed camera: a car parked in view (B) for 8 s, and a van (C) that drives past in front
    of it from frame 90 to 180, hiding its plate for more than a second."""
    path = tmp_path_factory.mktemp("videos") / "van.mp4"
    write_scene(path, [Appearance(PLATE_B, 0, 240, (450, 240), (450, 240), 100, 100, seed=1),
                       Appearance(P_COMMERCIAL, 90, 180, (700, 250), (100, 255), 110, 110, seed=2)], 240,
                size=SMALL, noise=3, seed=1)
    return path


def test_a_parked_car_hidden_by_passing_traffic_is_one_sighting(passing_van, tmp_path, models):
    _, sightings = run(load_config(None), passing_van, tmp_path / "a", models, video=False)
    assert sorted(r["plate"] for r in sightings) == sorted([str(PLATE_B), str(P_COMMERCIAL)])
    parked = next(r for r in sightings if r["plate"] == str(PLATE_B))
    assert int(parked["first_frame"]) <= 3 and int(parked["last_frame"]) >= 220
    assert parked["direction"] == ""  # not `receding` as the van covered it, then `approaching`
    # Without the parked plate's longer life its track ends while hidden: two rows for one car.
    _, sightings = run(load_config(None, {"tracking.parked_lost_track_s": 0}), passing_van, tmp_path / "b", models,
                       video=False)
    assert sorted(r["plate"] for r in sightings) == sorted([str(PLATE_B)] * 2 + [str(P_COMMERCIAL)])


def test_a_parked_plate_whose_vote_settled_is_read_seldom(quiet_street, tmp_path, models):
    reads = {}
    for rate in (0.5, 6.0):  # 6: as often as any plate (read_policy.max_reads_per_s)
        config = load_config(None, {"tracking.lost_track_s": 0.3, "detection.idle_every_s": 0,
                                    "read_policy.settled_reads_per_s": rate})
        _, sightings = run(config, quiet_street, tmp_path / str(rate), models, video=False)
        assert sorted(r["plate"] for r in sightings) == sorted([str(PLATE_A), str(PLATE_B)])
        reads[rate] = {r["plate"]: int(r["reads"]) for r in sightings}
    # The parked car (5 s in view) is read at 6 a second until 12 reads settle its vote and it
    # has stood still 2 s, then at 0.5; the driving one, which never stood still, as often as before.
    assert reads[6.0][str(PLATE_B)] >= 25 and reads[0.5][str(PLATE_B)] <= 16
    assert reads[0.5][str(PLATE_A)] == reads[6.0][str(PLATE_A)]
