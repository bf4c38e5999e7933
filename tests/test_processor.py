"""The main-thread frame processor, frame by frame, with the real models and a synchronous read
channel."""

from datetime import datetime, timezone

import numpy as np
import pytest

from helpers import PLATE_A
from scenes import SMALL, Appearance, background, render_scene
from stream_lpr.config import load_config
from stream_lpr.motion import MotionGate
from stream_lpr.overlay import Overlay
from stream_lpr.processor import FrameProcessor, Outputs, Stats
from stream_lpr.records import Frame, ReadResult
from stream_lpr.watchlist import WatchAlerts, Watchlist, parse_entry

# Plate A drives right across a 640 x 360 street for one second of video, 12 px a frame.
DRIVE = Appearance(PLATE_A, 0, 31, (160, 220), (520, 220), 160, 160)


@pytest.fixture(scope="module")
def street():
    """(frames with plate A, the empty street)."""
    return render_scene([DRIVE], 31, SMALL), background(SMALL)


class HeldChannel:
    """Reads at once with the real reader but hands results back only when released (a slow worker)."""

    def __init__(self, reader):
        self.reader, self.held, self.released = reader, [], []

    def submit(self, job):
        self.held.append(ReadResult(job, self.reader.read([job.crop], job.views)[0]))
        return True

    def release(self):
        self.released += self.held
        self.held = []

    def poll(self, wait_s):
        out, self.released = self.released, []
        return out

    def depth(self):
        return len(self.held)


class ListSink:
    def __init__(self):
        self.rows = []

    def write(self, sighting):
        self.rows.append(sighting)

    def close(self):
        pass


def frame(street, index, with_plate=True):
    image = street[0][index] if with_plate else street[1]
    return Frame(image, index, index / 30, 0.0, datetime.now(timezone.utc), "v.mp4")


def processor(models, channel, watchlist=None, **overrides):
    config = load_config(None, {"tracking.lost_track_s": 0.1, **overrides})
    sink = ListSink()
    return FrameProcessor(config, models[0], channel, Outputs(csv=sink), None, Stats(), live=False,
                          watch=WatchAlerts(watchlist, config.watchlist.quiet_s, possible_min=config.watchlist.possible_min)
                          if watchlist else None), sink


def test_track_waits_for_its_reads_before_its_row_is_written(street, models):
    channel = HeldChannel(models[1])
    proc, sink = processor(models, channel)
    for i in range(10):
        proc.process(frame(street, i))
    for i in range(10, 20):  # plate gone: the track ends after 0.1 s
        proc.process(frame(street, i, with_plate=False))
    assert proc.closing and sink.rows == []  # ended, but its reads are still out
    channel.release()
    proc.process(frame(street, 20, with_plate=False))
    assert [s.verdict.text for s in sink.rows] == [PLATE_A]
    # confirmed at its 2nd detection (frame 1 at best), last seen at frame 9
    assert 1 <= sink.rows[0].first_frame <= 3 and 7 <= sink.rows[0].last_frame <= 9


@pytest.mark.parametrize("settles", [True, False])
def test_a_watched_plate_is_reported_once_while_in_view_or_else_when_it_ends(street, models, settles):
    channel = HeldChannel(models[1])
    # A margin no vote reaches: the plate is never stable, so it is reported when its track ends.
    proc, sink = processor(models, channel, Watchlist([parse_entry(f"{PLATE_A.number} # stolen")]),
                           **({} if settles else {"voting.min_margin": 1.0}))
    for i in range(31):
        channel.release()
        proc.process(frame(street, i))
    assert proc.stats.alerts == (1 if settles else 0)
    for i in range(31, 40):
        channel.release()
        proc.process(frame(street, i, with_plate=False))
    assert proc.stats.alerts == 1
    assert [(s.verdict.number, s.watchlist) for s in sink.rows] == [(PLATE_A.number, "stolen")]


@pytest.mark.parametrize("possible_min, reported", [(0.05, 0), (1e-12, 1)])
def test_a_plate_near_a_watched_one_is_a_possible_match_by_its_probability_reported_in_view(street, models, possible_min, reported):
    # A's plate with another kana: no exact match. The reader is sure of A's kana, so the listed
    # one gets far less than the default 0.05 probability; any at all passes a least probability of 1e-12.
    other_kana = next(k for k in "さすせ" if k != PLATE_A.kana)
    listed = f"{PLATE_A.region} {PLATE_A.class_number} {other_kana} {PLATE_A.number} # near A"
    channel = HeldChannel(models[1])
    proc, sink = processor(models, channel, Watchlist([parse_entry(listed)]), **{"watchlist.possible_min": possible_min})
    for i in range(31):
        channel.release()
        proc.process(frame(street, i))
    # Reported while in view, once its vote has settled on A, and not again when its track ends.
    assert (proc.stats.alerts, proc.stats.possible_alerts) == (0, reported)
    for i in range(31, 40):
        channel.release()
        proc.process(frame(street, i, with_plate=False))
    assert (proc.stats.alerts, proc.stats.possible_alerts) == (0, reported)
    [row] = sink.rows
    assert row.verdict.text == PLATE_A
    assert (row.watchlist, row.watchlist_match.split(" ")[0]) == (("near A", "possible") if reported else ("", ""))


class KeptVideo(ListSink):
    def write(self, frame):
        self.rows.append(frame)


def anonymizing(models, hold_s, every_n_frames=2):
    config = load_config(None, {"overlay.anonymize": True, "overlay.anonymize_hold_s": hold_s,
                                "detection.every_n_frames": every_n_frames})
    video = KeptVideo()
    return FrameProcessor(config, models[0], HeldChannel(models[1]), Outputs(video=video), Overlay(config.overlay),
                          Stats(), live=False), video


def test_anonymized_frames_hide_plates_while_found_and_for_the_hold_after(street, models):
    proc, video = anonymizing(models, 0.2)
    for i in range(31):
        proc.process(frame(street, i))
    for i in range(31, 45):  # the plate gone: its last place stays hidden for 0.2 s (6 frames)
        proc.process(frame(street, i, with_plate=False))
    assert len(video.rows) == 45  # frame 44 was detected: nothing held
    changed = [bool(np.any(scene != frame(street, i, i < 31).image)) for i, scene in enumerate(video.rows)]
    assert all(changed[:31]), changed  # every frame, detected or coasted between detections
    assert changed[31] and not any(changed[38:]), changed
    (cx, cy), width = DRIVE.at(15)
    box = video.rows[15][int(cy - width / 4) : int(cy + width / 4), int(cx - width / 2) : int(cx + width / 2)]
    assert len(np.unique(box.reshape(-1, 3), axis=0)) <= 12  # a mosaic of a few blocks, not a plate
    # Images: each its own scene, nothing held from the image before.
    for image in (street[0][5], street[1]):
        proc.process(Frame(image, 0, 0.0, 0.0, datetime.now(timezone.utc), "a.jpg", still=True))
    assert np.any(video.rows[-2] != street[0][5]) and np.array_equal(video.rows[-1], street[1])


@pytest.mark.parametrize("every_n_frames", [2, 3])
def test_a_plate_coming_into_view_between_detections_is_hidden_from_its_first_frame(street, models, every_n_frames):
    # The plate appears in frame 7, between two detections (0, 2, 4, 6, 8 or 0, 3, 6, 9), and is
    # found by the next: frame 7 is held until then and hides what it finds.
    proc, video = anonymizing(models, 0.2, every_n_frames)
    for i in range(16):
        proc.process(frame(street, i, with_plate=i >= 7))
        assert len(video.rows) == i + 1 - i % every_n_frames  # a frame after a detection waits for the next
    proc.end_all()
    assert len(video.rows) == 16  # the frames after the last detection, drawn at the end
    changed = [bool(np.any(scene != frame(street, i, i >= 7).image)) for i, scene in enumerate(video.rows)]
    assert changed == [False] * 7 + [True] * 9, changed


def test_reads_are_rate_capped_in_media_time(street, models):
    channel = HeldChannel(models[1])
    proc, _ = processor(models, channel, **{"read_policy.max_reads_per_s": 10, "detection.every_n_frames": 1})
    for i in range(31):  # one second of video, processed far slower than 30 fps
        proc.process(frame(street, i))
    read_at = [result.job.frame_index for result in channel.held]
    # every 3rd frame at 30 fps (1, 4, 7, ...); a missed detection may push one read a frame later
    assert 9 <= len(read_at) <= 10, read_at
    assert all(b - a >= 3 for a, b in zip(read_at, read_at[1:])), read_at


def test_a_track_is_read_at_the_full_rate_until_its_vote_is_stable_then_less_often(street, models):
    channel = HeldChannel(models[1])
    proc, _ = processor(models, channel, **{"detection.every_n_frames": 1})  # 15 a second, then 6
    read_at, stable_at = [], None
    for i in range(31):  # one second of a plate driving by
        proc.process(frame(street, i))
        read_at += [result.job.frame_index for result in channel.held]
        channel.release()  # its reads are voted at the next frame
        if stable_at is None and any(proc.voter.verdict(track).stable for track in proc.voter.open_ids):
            stable_at = i
    assert stable_at is not None and stable_at <= 12, (stable_at, read_at)
    early = [b - a for a, b in zip(read_at, read_at[1:]) if b <= stable_at]
    late = [b - a for a, b in zip(read_at, read_at[1:]) if a > stable_at]
    assert early and max(early) <= 3, read_at  # 15 a second: every 2nd frame, a missed detection aside
    assert late and min(late) >= 5, read_at  # 6 a second: every 5th frame


def test_video_crops_are_read_at_several_shifts_and_still_crops_once(street, models):
    channel = HeldChannel(models[1])
    proc, _ = processor(models, channel, **{"read_policy.views": 2, "detection.every_n_frames": 1})
    for i in range(4):
        proc.process(frame(street, i))
    assert channel.held and {result.job.views for result in channel.held} == {2}
    channel.held.clear()
    still = Frame(street[0][5], 0, 0.0, 0.0, datetime.now(timezone.utc), "a.jpg", still=True)
    proc.process(still)  # its corner sets (read_policy.still_views) already vary the crop
    assert len(channel.held) == 9 and {result.job.views for result in channel.held} == {1}


def test_end_all_forces_every_open_track_out(street, models):
    proc, sink = processor(models, HeldChannel(models[1]))
    for i in range(5):
        proc.process(frame(street, i))
    proc.end_all()  # reads still held: the row is written with what is known (nothing)
    assert sink.rows == []  # unread tracks are not logged by default
    proc2, sink2 = processor(models, HeldChannel(models[1]), **{"output.log_unread": True})
    for i in range(5):
        proc2.process(frame(street, i))
    proc2.end_all()
    assert len(sink2.rows) == 1 and not sink2.rows[0].verdict.readable
    # the row's box is the plate's last box: frame 4's to within the detector's few pixels, and
    # not frame 3's (12 px to the left)
    (cx, cy), width = DRIVE.at(4)
    plate_box = [cx - width / 2, cy - width / 4, cx + width / 2, cy + width / 4]
    assert np.allclose(sink2.rows[0].xyxy, plate_box, atol=8), (sink2.rows[0].xyxy, plate_box)


class CountingDetector:
    """The real detector, counting the frames it is run on."""

    def __init__(self, detector):
        self.detector, self.frames = detector, []

    def detect(self, image, still=False):
        self.frames.append(len(self.frames))
        return self.detector.detect(image, still)


def test_detector_runs_on_every_nth_frame_and_tracks_coast_between(street, models):
    channel = HeldChannel(models[1])
    config = load_config(None, {"tracking.lost_track_s": 0.1, "detection.every_n_frames": 3})
    counting, sink = CountingDetector(models[0]), ListSink()
    proc = FrameProcessor(config, counting, channel, Outputs(csv=sink), None, Stats(), live=False)
    coasted = []
    for i in range(31):
        proc.process(frame(street, i))
        if i % 3:
            coasted.append(proc.tracker.coast(i))
    assert len(counting.frames) == 11  # frames 0, 3, ..., 30
    assert all(job.job.frame_index % 3 == 0 for job in channel.held)  # only detected frames are read
    moving = [plates[0] for plates in coasted if plates]
    assert len(moving) >= 15 and all(p.detection_index == -1 for p in moving)
    assert moving[-1].xyxy[0] > moving[0].xyxy[0] + 200  # the coasted box follows the plate (12 px a frame)
    channel.release()
    for i in range(31, 45):
        proc.process(frame(street, i, with_plate=False))
    assert [s.verdict.text for s in sink.rows] == [PLATE_A]
    assert sink.rows[0].last_frame % 3 == 0


def test_fps_follows_the_mean_interval_when_detected_and_coasted_frames_alternate():
    stats = Stats()
    for _ in range(200):  # a detected frame (55 ms), then a coasted one (2 ms): 35 frames a second
        stats.count_interval(0.055)
        stats.count_interval(0.002)
    assert stats.fps == pytest.approx(1 / 0.0285, rel=0.05)


def test_the_motion_gate_passes_movement_at_once_and_sensor_noise_never():
    rng = np.random.default_rng(3)
    # a car 156 px wide (its plate 60 px) drives in from the left edge, 4 px a frame, from frame 21
    images = render_scene([Appearance(PLATE_A, 20, 40, (-80, 240), (0, 240), 60, 60)], 40, SMALL)
    gate = MotionGate(every_s=1.0)

    def due(index, t=None):
        noisy = np.clip(images[index] + rng.normal(0, 4, images[index].shape), 0, 255).astype(np.uint8)
        return gate.due(Frame(noisy, index, index / 30 if t is None else t, 0.0, datetime.now(timezone.utc), "cam"))

    assert due(0)  # the first frame is always detected
    assert not any(due(i) for i in range(1, 21))  # noise alone is no movement
    assert not due(21) and due(22)  # 2 px of the car in view, then 6 px: the detector runs at once
    assert not due(22) and due(22, t=22 / 30 + 1.0)  # a still picture is detected again after every_s
