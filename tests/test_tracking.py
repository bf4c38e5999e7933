"""Frame-by-frame lives of tracks."""

import numpy as np
import pytest

from stream_lpr.config import TrackingConfig
from stream_lpr.tracking import PlateTracker, box_iou

FPS = 30.0


def dets(*boxes, conf=0.9):
    xyxy = np.array(boxes, np.float32).reshape(-1, 4)
    corners = np.stack([xyxy[:, [0, 1]], xyxy[:, [2, 1]], xyxy[:, [2, 3]], xyxy[:, [0, 3]]], axis=1)
    confidence = np.full(len(xyxy), conf, np.float32) if np.isscalar(conf) else np.array(conf, np.float32)
    return xyxy, confidence, corners.reshape(-1, 4, 2)


def step(tracker, frame, *boxes, conf=0.9):
    return tracker.update(*dets(*boxes, conf=conf), t=frame / FPS, frame=frame)


def tracker(**kw):
    return PlateTracker(TrackingConfig(**kw))


def test_one_plate_life_frame_by_frame():
    tr = tracker(min_hits=2, lost_track_s=0.1)  # 0.1 s = 3 frames at 30 fps
    first = step(tr, 0, (100, 100, 200, 150))
    assert first.tracked == [] and first.ended == []  # tentative: no id yet
    second = step(tr, 1, (104, 100, 204, 150))
    assert [p.track_id for p in second.tracked] == [1]
    for f in range(2, 10):
        update = step(tr, f, (100 + 4 * f, 100, 200 + 4 * f, 150))
        assert [p.track_id for p in update.tracked] == [1]
    for f in range(10, 13):  # gone for 3 frames: still open
        assert step(tr, f).ended == []
    assert step(tr, 13).ended == [1]
    assert tr.open_ids == []


def test_ids_are_per_tracker_not_global():
    a, b = tracker(min_hits=1), tracker(min_hits=1)
    assert [p.track_id for p in step(a, 0, (0, 0, 10, 10)).tracked] == [1]
    assert [p.track_id for p in step(b, 0, (0, 0, 10, 10)).tracked] == [1]


def test_track_maps_back_to_its_detection_row():
    tr = tracker(min_hits=1)
    step(tr, 0, (0, 0, 50, 20), (300, 300, 350, 320))
    update = step(tr, 1, (302, 300, 352, 320), (2, 0, 52, 20))  # rows swapped
    by_id = {p.track_id: p for p in update.tracked}
    assert by_id[1].detection_index == 1 and by_id[2].detection_index == 0
    np.testing.assert_allclose(by_id[1].xyxy, [2, 0, 52, 20])
    np.testing.assert_allclose(by_id[1].corners[2], [52, 20])


def test_velocity_keeps_a_fast_plate_on_its_track():
    tr = tracker(min_hits=1, match_iou=0.2)
    ids = set()
    for f in range(12):  # 30 px per frame on a 60 px wide plate: IoU with the last box is 0.33 or less
        update = step(tr, f, (30 * f, 0, 30 * f + 60, 30))
        ids.update(p.track_id for p in update.tracked)
    assert ids == {1}


def test_jittery_live_timestamps_do_not_break_a_track():
    """Live grab times bunch up (two frames 1 ms apart); motion is per frame, so no effect."""
    tr = tracker(min_hits=1)
    times = [0.0, 0.033, 0.034, 0.100, 0.101, 0.102, 0.200]
    ids = set()
    for f, t in enumerate(times):
        update = tr.update(*dets((10 * f, 0, 10 * f + 60, 30)), t=t, frame=f)
        ids.update(p.track_id for p in update.tracked)
    assert ids == {1}


def test_plate_that_stops_keeps_its_track():
    tr = tracker(min_hits=1, match_iou=0.3)
    ids = set()
    for f in range(8):  # 25 px per frame, then stops dead
        x = 25 * min(f, 4)
        ids.update(p.track_id for p in step(tr, f, (x, 0, x + 60, 30)).tracked)
    assert ids == {1}


def test_low_confidence_continues_but_never_starts_a_track():
    tr = tracker(min_hits=1, high_confidence=0.5)
    assert step(tr, 0, (0, 0, 50, 20), conf=0.3).tracked == []
    assert [p.track_id for p in step(tr, 1, (0, 0, 50, 20), conf=0.9).tracked] == [1]
    assert [p.track_id for p in step(tr, 2, (1, 0, 51, 20), conf=0.3).tracked] == [1]


def test_one_frame_false_positive_gets_no_id():
    tr = tracker(min_hits=2)
    step(tr, 0, (0, 0, 50, 20))
    step(tr, 1)
    assert step(tr, 2, (300, 300, 350, 320)).tracked == []
    assert tr.open_ids == []


def test_two_plates_crossing_paths_keep_their_ids():
    tr = tracker(min_hits=1)
    for f in range(10):
        update = step(tr, f, (10 * f, 0, 10 * f + 50, 20), (10 * f, 200, 10 * f + 50, 220))
        assert sorted((p.track_id, int(p.xyxy[1])) for p in update.tracked) == [(1, 0), (2, 200)]


def test_end_all_returns_open_ids():
    tr = tracker(min_hits=1)
    step(tr, 0, (0, 0, 50, 20), (100, 100, 150, 120))
    assert sorted(tr.end_all()) == [1, 2]
    assert tr.open_ids == []


def test_still_plates_continue_the_counter_and_need_a_track_starting_confidence():
    tr = tracker(min_hits=1, high_confidence=0.5)
    step(tr, 0, (0, 0, 50, 20))
    plates = tr.still(*dets((0, 0, 50, 20), (100, 0, 150, 20), (200, 0, 250, 20), conf=[0.9, 0.3, 0.6]))
    assert [(p.track_id, p.detection_index) for p in plates] == [(2, 0), (3, 2)]


@pytest.mark.parametrize("a, b, expected", [
    ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
    ((0, 0, 10, 10), (5, 0, 15, 10), 1 / 3),
    ((0, 0, 10, 10), (20, 20, 30, 30), 0.0),
])
def test_box_iou(a, b, expected):
    assert box_iou(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected)


def test_coasting_moves_tracks_seen_at_the_last_detection_and_changes_nothing():
    tr = tracker(min_hits=1)
    step(tr, 0, (100, 100, 200, 150), (400, 100, 500, 150))
    step(tr, 2, (110, 100, 210, 150), (400, 100, 500, 150))  # plate 1 moves 5 px a frame
    coasted = {p.track_id: p for p in tr.coast(3)}
    assert coasted[1].detection_index == -1
    assert coasted[1].xyxy[0] > 110 and coasted[1].corners[0, 0] == pytest.approx(coasted[1].xyxy[0])
    assert coasted[2].xyxy.tolist() == [400, 100, 500, 150]
    step(tr, 4, (120, 100, 220, 150))  # plate 2 missed at this detection: it is not drawn on
    assert [p.track_id for p in tr.coast(5)] == [1]
    assert sorted(tr.open_ids) == [1, 2]  # coasting neither ends nor extends a track
