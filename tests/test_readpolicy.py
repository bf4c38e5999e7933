import numpy as np
import pytest

from stream_lpr.config import ReadPolicyConfig
from stream_lpr.readpolicy import ReadPolicy, inside_share, quad_geometry, sharpness, still_views


def quad(w, h, skew=0.0):
    """A w x h plate whose right edge is shortened by `skew` (perspective)."""
    return np.array([[0, 0], [w, skew * h / 2], [w, h - skew * h / 2], [0, h]], np.float32)


@pytest.mark.parametrize("corners, width, frontal_min, frontal_max", [
    (quad(100, 50), 100, 0.99, 1.0),
    (quad(100, 50, skew=0.5), 100, 0.3, 0.8),
    (quad(50, 50), 50, 0.45, 0.55),  # square: a plate seen from the side
    (np.zeros((4, 2), np.float32), 0, 0.0, 0.0),
])
def test_quad_geometry(corners, width, frontal_min, frontal_max):
    w, frontal = quad_geometry(corners)
    assert w == pytest.approx(width, rel=0.05)
    assert frontal_min <= frontal <= frontal_max


@pytest.mark.parametrize("shift, share", [
    ((10, 10), 1.0),  # whole
    ((10, 95), 0.5),  # the lower half below a 120 px tall frame
    ((-60, 10), 0.4),  # 60 % beyond the left edge
    ((500, 10), 0.0),  # out of view
])
def test_inside_share(shift, share):
    assert inside_share(quad(100, 50) + np.float32(shift), (120, 200, 3)) == pytest.approx(share, abs=1e-3)


def test_a_plate_mostly_out_of_the_frame_is_not_read():
    policy = ReadPolicy(ReadPolicyConfig())  # min_inside 0.9
    shape = (120, 200, 3)
    assert policy.geometry_ok(quad(100, 50) + np.float32([10, 10]), shape)
    assert policy.in_view(quad(100, 50) + np.float32([10, 73]), shape)  # 4 % cut: the rim, no characters
    assert not policy.in_view(quad(100, 50) + np.float32([10, 85]), shape)  # 30 % cut
    assert ReadPolicy(ReadPolicyConfig(min_inside=0.0)).in_view(quad(100, 50) + np.float32([10, 85]), shape)


def test_a_video_plate_along_the_frame_edge_waits_until_clear_of_it():
    """The detector draws a cut plate's corners along the edge: in video such a plate is read
    once it is min_edge_gap (2.5 %) of its width clear of the edge; a still is still read."""
    policy = ReadPolicy(ReadPolicyConfig())
    shape = (120, 200, 3)
    along = quad(100, 50) + np.float32([99, 10])  # its right side 1 px from the edge
    clear = quad(100, 50) + np.float32([96, 10])  # 4 px
    assert not policy.geometry_ok(along, shape) and policy.in_view(along, shape)
    assert policy.geometry_ok(clear, shape)
    assert not policy.geometry_ok(quad(100, 50) + np.float32([10, 68]), shape)  # 2 px above the bottom
    assert ReadPolicy(ReadPolicyConfig(min_edge_gap=0.0)).geometry_ok(along, shape)


def test_sharpness_orders_blur():
    rng = np.random.default_rng(0)
    sharp = (rng.random((64, 128, 3)) * 255).astype(np.uint8)
    import cv2
    assert sharpness(sharp) > sharpness(cv2.GaussianBlur(sharp, (9, 9), 3)) > sharpness(np.zeros_like(sharp))


def test_rate_cap_per_track():
    policy = ReadPolicy(ReadPolicyConfig(max_reads_per_s=5))
    assert policy.due(1, 0.0)
    policy.mark_read(1, 0.0)
    assert not policy.due(1, 0.1)
    assert policy.due(2, 0.1)  # other tracks are not affected
    assert policy.due(1, 0.2)
    policy.forget(1)
    assert policy.due(1, 0.0)


@pytest.mark.parametrize("corners, blur, accepted", [
    (quad(100, 50), False, True),
    (quad(20, 10), False, False),  # too small
    (quad(100, 50, skew=0.9), False, False),  # too oblique
    (quad(100, 50), True, False),  # too blurred
])
def test_judge(corners, blur, accepted):
    rng = np.random.default_rng(1)
    crop = (rng.random((64, 128, 3)) * 255).astype(np.uint8)
    if blur:
        crop = np.full_like(crop, 128)
    quality = ReadPolicy(ReadPolicyConfig()).judge(corners, crop)
    assert (quality is not None) is accepted
    if quality:
        assert 0 < quality.score <= 1


def test_still_views_start_with_the_detected_corners_then_wider_tighter_and_shifted():
    quad = np.array([[100, 50], [300, 60], [300, 160], [100, 150]], np.float32)
    views = still_views(quad, 9)
    assert len(views) == 9 and np.allclose(views[0], quad)
    width = lambda q: np.linalg.norm(q[1] - q[0])  # noqa: E731
    assert width(views[1]) > width(quad) > width(views[2])
    assert views[3].mean(0)[0] < quad.mean(0)[0] < views[4].mean(0)[0]  # shifted along the plate
    assert views[5].mean(0)[1] < quad.mean(0)[1] < views[6].mean(0)[1]  # up and down (image y grows down)
    assert width(views[7]) > width(views[1]) and width(views[8]) < width(views[2])
    assert len(still_views(quad, 1)) == 1
