"""The shipped corner refiner (weights/refiner.onnx): corners as wrong as the detector's come
out closer to the plate's, on plates it never saw (turned real plates read with it:
test_models.py)."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from stream_lpr.errors import WeightsError
from stream_lpr.refine import CornerRefiner, context, from_offsets, to_offsets
from stream_lpr.synth.compose import load_scenes
from stream_lpr.synth.crops import PLATE_IN_CANVAS, refiner_sample

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


@pytest.fixture(scope="module")
def refiner():
    return CornerRefiner(WEIGHTS / "refiner.onnx")


def _error(quads: np.ndarray) -> np.ndarray:
    """Mean corner distance from the sample canvas's plate, in plate widths, per quad."""
    width = PLATE_IN_CANVAS[1, 0] - PLATE_IN_CANVAS[0, 0]
    return np.linalg.norm(quads - PLATE_IN_CANVAS, axis=2).mean(axis=1) / width


def test_context_puts_the_corners_where_the_network_expects_them():
    rng = np.random.default_rng(4)
    sample = refiner_sample(rng, None, guesses=1)
    crop, matrix = context(sample.canvas, sample.guesses[0])
    assert crop.shape == (80, 128, 3)
    inside = cv2.perspectiveTransform(sample.guesses[0].reshape(-1, 1, 2), matrix).reshape(4, 2)
    assert np.allclose(from_offsets(to_offsets(inside))[0], inside, atol=1e-4)
    assert np.allclose(to_offsets(inside), 0, atol=1e-4)  # the guess itself lands on the nominal corners


def test_refined_corners_are_closer_to_the_plate(refiner):
    rng = np.random.default_rng(2026)  # not a training seed; the held-out scenes
    scenes = load_scenes(split="test")
    samples = [refiner_sample(rng, scenes, guesses=1) for _ in range(200)]
    before = np.stack([s.guesses[0] for s in samples])
    after = np.stack([refiner.refine(s.canvas, s.guesses)[0] for s in samples])
    # A regression guard for the shipped weights (5.5 % -> 1.05 % of the plate's width, 198 of
    # 200 quads closer, when committed), not a target: `python -m stream_lpr.evaluate` measures
    # the detector's corners with and without it.
    assert _error(after).mean() < 0.3 * _error(before).mean()
    assert (_error(after) < _error(before)).mean() >= 0.9


def test_plates_drawn_far_off_get_a_second_look(refiner):
    """A quad the first look moved more than SECOND_LOOK of its width is looked at again from
    the refined corners, and lands closer than after one look."""
    rng = np.random.default_rng(2027)
    samples = [refiner_sample(rng, load_scenes(split="test"), guesses=1) for _ in range(200)]
    guesses = np.stack([s.guesses[0] for s in samples])
    once = np.stack([refiner._look(s.canvas, s.guesses)[0] for s in samples])
    twice = np.stack([refiner.refine(s.canvas, s.guesses)[0] for s in samples])
    width = (np.linalg.norm(guesses[:, 1] - guesses[:, 0], axis=1) + np.linalg.norm(guesses[:, 2] - guesses[:, 3], axis=1)) / 2
    far = np.linalg.norm(once - guesses, axis=2).max(axis=1) > CornerRefiner.SECOND_LOOK * width
    assert np.array_equal(twice[~far], once[~far])  # the rest keep their one look
    # When committed: 0.94 % -> 0.80 % of the width on the 65 far quads, 40 of them closer.
    assert far.sum() >= 20
    assert _error(twice[far]).mean() < 0.95 * _error(once[far]).mean()
    assert (_error(twice[far]) < _error(once[far])).mean() >= 0.55


def test_a_cut_plate_keeps_the_detectors_corners_along_the_edge(refiner):
    """A plate cut by the frame's edge, drawn along it as the detector draws one: a look puts
    its corners past the edge, where the plate goes on, and read_policy.min_inside would leave it
    unread. It keeps the detector's corners, cropped along the edge as the reader learnt cut
    plates (train reader --cut); no second look guesses farther."""
    rng = np.random.default_rng(2028)
    scenes = load_scenes(split="test")
    cut = 0
    for _ in range(30):
        sample = refiner_sample(rng, scenes, guesses=1)
        frame = np.ascontiguousarray(sample.canvas[:, :112])  # the frame ends two thirds into the plate
        guess = sample.guesses[:1].copy()
        guess[0, 1:3, 0] = 111  # its right corners on the edge
        once = refiner._look(frame, guess)
        width = (np.linalg.norm(guess[0, 1] - guess[0, 0]) + np.linalg.norm(guess[0, 2] - guess[0, 3])) / 2
        refined = refiner.refine(frame, guess)
        if (once[0, :, 0] > 112 + CornerRefiner.CUT * width).any():
            cut += 1
            assert np.array_equal(refined, guess)
        else:
            assert (refined[0, :, 0] <= 112 + CornerRefiner.CUT * width).all()
    assert cut >= 10  # when committed: 24 of 30 looks past the edge


def test_corners_the_refiner_cannot_place_are_kept(refiner):
    blank = np.full((200, 300, 3), 128, np.uint8)
    quad = np.float32([[[100, 80], [200, 80], [200, 130], [100, 130]]])
    refined = refiner.refine(blank, quad)
    width = 100.0
    assert np.linalg.norm(refined - quad, axis=2).max() <= CornerRefiner.MAX_MOVE * width + 1e-3
    assert refiner.refine(blank, np.zeros((0, 4, 2), np.float32)).shape == (0, 4, 2)


def test_missing_corrupt_and_wrong_refiner_weights_raise_weights_error(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        CornerRefiner(tmp_path / "refiner.onnx")
    corrupt = tmp_path / "refiner.onnx"
    corrupt.write_bytes(b"not a model" * 100)
    with pytest.raises(WeightsError, match="cannot load"):
        CornerRefiner(corrupt)
    with pytest.raises(WeightsError, match="not a corner refiner"):
        CornerRefiner(WEIGHTS / "reader.onnx")


def test_the_product_refines_corners_unless_told_not_to():
    from stream_lpr.cli import load_models
    from stream_lpr.config import load_config

    detector, _ = load_models(load_config(None, {}), None)  # the default: weights/refiner.onnx, found beside the package
    assert isinstance(detector.refiner, CornerRefiner)
    detector, _ = load_models(load_config(None, {"models.refiner": ""}), None)
    assert detector.refiner is None
