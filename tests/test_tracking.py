"""Frame-by-frame lives of tracks (ultralytics' ByteTrack inside, our ids, ends and coasting around it)."""

import numpy as np
import pytest

from stream_lpr.config import TrackingConfig
from stream_lpr.tracking import PlateTracker

FPS = 30.0


def dets(*boxes, conf=0.9):
    xyxy = np.array(boxes, np.float32).reshape(-1, 4)
    corners = np.stack([xyxy[:, [0, 1]], xyxy[:, [2, 1]], xyxy[:, [2, 3]], xyxy[:, [0, 3]]], axis=1)
    confidence = np.full(len(xyxy), conf, np.float32) if np.isscalar(conf) else np.array(conf, np.float32)
    return xyxy, confidence, corners.reshape(-1, 4, 2)


def step(tracker, frame, *boxes, conf=0.9):
    return tracker.update(*dets(*boxes, conf=conf), t=frame / FPS, frame=frame)


def ids(update):
    return sorted(p.track_id for p in update.tracked)


def tracker(**kw):
    return PlateTracker(TrackingConfig(**kw))


def test_one_plate_life_frame_by_frame():
    tr = tracker(lost_track_s=0.1)  # 0.1 s = 3 frames at 30 fps
    first = step(tr, 0, (100, 100, 200, 150))
    assert first.tracked == [] and first.ended == []  # tentative: no id yet, even in the first frame
    second = step(tr, 1, (104, 100, 204, 150))
    assert ids(second) == [1]
    for f in range(2, 10):
        assert ids(step(tr, f, (100 + 4 * f, 100, 200 + 4 * f, 150))) == [1]
    for f in range(10, 13):  # gone for 3 frames: still open
        assert step(tr, f).ended == []
    assert step(tr, 13).ended == [1]
    assert tr.open_ids == []
    # An ended track never comes back under its id, even where ByteTrack could still re-find it.
    step(tr, 14, (136, 100, 236, 150))
    assert ids(step(tr, 15, (140, 100, 240, 150))) == [2]


def test_a_track_bridges_a_gap_shorter_than_lost_track_s():
    tr = tracker(lost_track_s=0.5)
    for f in range(4):
        step(tr, f, (100 + 5 * f, 100, 200 + 5 * f, 150))
    for f in range(4, 10):  # 6 frames (0.2 s) without the plate
        assert step(tr, f).ended == []
    assert ids(step(tr, 10, (150, 100, 250, 150))) == [1]


def test_ids_count_confirmed_tracks_and_are_per_tracker():
    a, b = tracker(), tracker()
    step(a, 0, (0, 0, 10, 10))
    step(a, 1, (500, 500, 510, 510))  # a tentative track that never confirms spends no id
    step(a, 2, (300, 0, 350, 20))
    assert ids(step(a, 3, (301, 0, 351, 20))) == [1]
    step(b, 0, (0, 0, 10, 10))
    assert ids(step(b, 1, (0, 0, 10, 10))) == [1]


def test_track_maps_back_to_its_detection_row():
    tr = tracker()
    step(tr, 0, (0, 0, 50, 20), (300, 300, 350, 320))
    first = {int(p.xyxy[0]): p.track_id for p in step(tr, 1, (0, 0, 50, 20), (300, 300, 350, 320)).tracked}
    update = step(tr, 2, (302, 300, 352, 320), (2, 0, 52, 20))  # rows swapped
    by_id = {p.track_id: p for p in update.tracked}
    left = by_id[first[0]]
    assert left.detection_index == 1 and by_id[first[300]].detection_index == 0
    np.testing.assert_allclose(left.xyxy, [2, 0, 52, 20])  # the detection's box, not a smoothed one
    np.testing.assert_allclose(left.corners[2], [52, 20])


def test_motion_keeps_a_fast_plate_on_its_track():
    tr = tracker()
    seen = set()
    for f in range(12):  # 30 px per frame on a 60 px wide plate, seen at confidence 0.6
        seen.update(ids(step(tr, f, (30 * f, 0, 30 * f + 60, 30), conf=0.6)))
    assert seen == {1}


def test_jittery_live_timestamps_do_not_break_a_track():
    """Live grab times bunch up (two frames 1 ms apart); association does not use them."""
    tr = tracker()
    times = [0.0, 0.033, 0.034, 0.100, 0.101, 0.102, 0.200]
    seen = set()
    for f, t in enumerate(times):
        seen.update(ids(tr.update(*dets((10 * f, 0, 10 * f + 60, 30)), t=t, frame=f)))
    assert seen == {1}


def test_plate_that_stops_keeps_its_track():
    tr = tracker()
    seen = set()
    for f in range(10):  # 15 px per frame, then stops dead
        x = 15 * min(f, 5)
        seen.update(ids(step(tr, f, (x, 0, x + 60, 30))))
    assert seen == {1}


def test_low_confidence_continues_but_never_starts_a_track():
    tr = tracker(high_confidence=0.5)
    step(tr, 0, (0, 0, 50, 20), conf=0.3)
    assert step(tr, 1, (0, 0, 50, 20), conf=0.3).tracked == []
    step(tr, 2, (0, 0, 50, 20), conf=0.9)
    assert ids(step(tr, 3, (0, 0, 50, 20), conf=0.9)) == [1]
    assert ids(step(tr, 4, (1, 0, 51, 20), conf=0.3)) == [1]


def test_one_frame_false_positive_gets_no_id():
    tr = tracker()
    step(tr, 0, (0, 0, 50, 20))
    step(tr, 1)
    assert step(tr, 2, (300, 300, 350, 320)).tracked == []
    assert tr.open_ids == []


def test_two_plates_side_by_side_keep_their_ids():
    tr = tracker()
    for f in range(10):
        update = step(tr, f, (10 * f, 0, 10 * f + 50, 20), (10 * f, 200, 10 * f + 50, 220))
        if f >= 1:
            assert sorted((p.track_id, int(p.xyxy[1])) for p in update.tracked) == [(1, 0), (2, 200)]


def test_end_all_returns_open_ids_and_the_next_track_gets_a_new_one():
    tr = tracker()
    for f in range(2):
        step(tr, f, (0, 0, 50, 20), (100, 100, 150, 120))
    assert sorted(tr.end_all().ended) == [1, 2]
    assert tr.open_ids == []
    step(tr, 2, (0, 0, 50, 20))
    assert ids(step(tr, 3, (0, 0, 50, 20))) == [3]


def test_still_plates_continue_the_counter_and_need_a_track_starting_confidence():
    tr = tracker(high_confidence=0.5)
    step(tr, 0, (0, 0, 50, 20))
    step(tr, 1, (0, 0, 50, 20))
    plates = tr.still(*dets((0, 0, 50, 20), (100, 0, 150, 20), (200, 0, 250, 20), conf=[0.9, 0.3, 0.6]))
    assert [(p.track_id, p.detection_index) for p in plates] == [(2, 0), (3, 2)]


def test_coasting_moves_tracks_seen_at_the_last_detection_and_changes_nothing():
    tr = tracker()
    step(tr, 0, (100, 100, 200, 150), (400, 100, 500, 150))
    step(tr, 2, (110, 100, 210, 150), (400, 100, 500, 150))  # plate 1 moves 5 px a frame
    step(tr, 4, (120, 100, 220, 150), (400, 100, 500, 150))
    coasted = {p.track_id: p for p in tr.coast(5)}
    assert coasted[1].detection_index == -1
    assert coasted[1].xyxy[0] > 120 and coasted[1].corners[0, 0] == pytest.approx(coasted[1].xyxy[0])
    assert coasted[2].xyxy.tolist() == [400, 100, 500, 150]
    step(tr, 6, (130, 100, 230, 150))  # plate 2 missed at this detection: it is not drawn on
    assert [p.track_id for p in tr.coast(7)] == [1]
    assert sorted(tr.open_ids) == [1, 2]  # coasting neither ends nor extends a track


def test_tracker_imports_without_installing_anything():
    """ByteTrack's solver (lap) is an install requirement: were it missing, ultralytics would try
    to pip-install it mid-run. In a clean environment the import must neither try nor need to."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("YOLO_")}
    probe = "import stream_lpr.tracking; from ultralytics.utils import AUTOINSTALL; print(AUTOINSTALL)"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert "AutoUpdate" not in done.stderr + done.stdout


def test_a_plate_that_stood_still_outlasts_a_passing_car_that_hides_it():
    # Parked at frames 0-89 (3 s), then hidden from its left edge, as traffic passing in front of
    # it hides it, from frame 80; a plate driving by is lost at frame 90 too.
    tr = tracker(lost_track_s=1.0, parked_lost_track_s=5.0)
    for f in range(90):
        hidden = max(0, f - 80) * 5  # px of its 100 covered
        update = step(tr, f, (100 + hidden, 100, 200, 150), (300 + 6 * f, 300, 400 + 6 * f, 350))
    assert ids(update) == [1, 2]
    ends = [(f, u.ended, sorted(u.parked)) for f in range(90, 300) for u in [step(tr, f)] if u.ended]
    # the driving plate ends 1 s after it was last seen, the parked one 5 s after, as parked
    assert ends == [(89 + 31, [2], []), (89 + 151, [1], [1])]


def test_end_all_says_which_plates_stood_still():
    tr = tracker()
    for f in range(70):
        step(tr, f, (100, 100, 200, 150), (300 + 6 * f, 300, 400 + 6 * f, 350))
    end = tr.end_all()
    assert sorted(end.ended) == [1, 2] and end.parked == {1}
