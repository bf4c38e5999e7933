"""Reader training samples made the way the pipeline makes its crops: a plate seen by a camera
in its surroundings, then rectified from slightly wrong corners (as a detector gives them)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from stream_lpr import plate_format as pf
from stream_lpr.rectify import PLATE_SIZE, rectify, rectify_around
from stream_lpr.synth import degrade
from stream_lpr.synth.compose import (SceneRecord, _read, occlude, paste, plate_quad, privacy_mask,
                                      procedural_background)
from stream_lpr.synth.render import RenderedPlate, render
from stream_lpr.synth.sample import ANY_KANA, PlateSpec, sample_plate


def source_width(rng: np.random.Generator, smallest: float = 40.0, largest: float = 320.0) -> float:
    """Plate width in the source frame: small plates are common on a road, large ones near.
    Below about 40 px the region name is a few pixels tall: nobody can read it. A `largest`
    below 320 draws the widths it cuts off again from 60 px to `largest` (to train on the small
    plates, where the misses are). A `smallest` above 40 draws again every width below it, so
    the widths kept are spread as on the road (until session 28 they were set to `smallest`:
    the reader's test set, from 60 px, held 13.5 % of its plates at exactly 60 px)."""
    if smallest > min(largest, 320.0):
        raise ValueError(f"no plate width is both at least {smallest} and at most {largest}")
    while True:
        roll = rng.random()
        if roll < 0.15:
            width = float(rng.uniform(min(smallest, 40.0), 60.0))
        else:
            width = float(rng.uniform(60.0, 130) if roll < 0.65 else rng.uniform(130, 320))
        if width > largest:
            width = float(rng.uniform(60.0, largest))
        if width >= smallest:
            return width


@functools.lru_cache(maxsize=512)
def _small(path) -> np.ndarray:
    """Scene photos at a third of their size: backgrounds for plate crops need no more."""
    photo = _read.__wrapped__(path)
    return cv2.resize(photo, None, fx=1 / 3, fy=1 / 3, interpolation=cv2.INTER_AREA)


def _background(rng: np.random.Generator, scenes: list[SceneRecord] | None, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    if scenes and rng.random() < 0.7:
        photo = _small(scenes[rng.integers(len(scenes))].path)
        ph, pw = photo.shape[:2]
        cw, ch = min(pw, int(w * rng.uniform(1, 3))), min(ph, int(h * rng.uniform(1, 3)))
        x, y = int(rng.integers(0, pw - cw + 1)), int(rng.integers(0, ph - ch + 1))
        return cv2.resize(photo[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_AREA)
    return procedural_background(rng, (w, h))


@dataclass(frozen=True)
class ReaderSample:
    crop: np.ndarray  # PLATE_SIZE, BGR uint8, as rectify() gives it
    text: pf.PlateText
    width: float  # the plate's width in the source frame, px


@dataclass(frozen=True)
class SampleDraw:
    """How plates may be drawn unlike the test set's (the defaults): `largest` below 320 px draws
    more small plates (source_width()); `blur` is the share given heavy blur (degrade.camera());
    `occlude` the share with a slice of one side covered (compose.occlude()), whose hidden
    characters the reader should learn it cannot know rather than guess with confidence;
    `mask` the share whose number is hidden by a privacy mask (compose.privacy_mask()), just as
    unknowable; `any_kana` the share whose kana ignores the rules for the plate's colour
    (sample_kana()); `cut` the share cut by the frame's edge (cut_by_frame_edge())."""
    largest: float = 320.0
    blur: float = 0.0
    occlude: float = 0.0
    mask: float = 0.0
    any_kana: float = ANY_KANA
    cut: float = 0.0


def _point_at(a: np.ndarray, b: np.ndarray, value: float, axis: int) -> np.ndarray:
    """The point of segment a-b whose coordinate `axis` (0: x, 1: y) is `value`."""
    return a + (b - a) * ((value - a[axis]) / max(b[axis] - a[axis], 1e-3))


def cut_by_frame_edge(canvas: np.ndarray, quad: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The frame ends 4-40 % of the way into a plate (from its left, right or bottom side);
    returns what is left of the canvas and the corners of the plate's visible part. The
    detector was never shown corners outside the frame, so it draws a cut plate along the
    edge, and its crop is the visible part stretched to a whole plate's shape: the characters
    beyond the edge are not in it, and the reader should learn that rather than read the ones
    it sees as a shorter number."""
    share = rng.uniform(0.04, 0.4)
    side = rng.choice(["left", "right", "bottom"], p=[0.4, 0.4, 0.2])
    tl, tr, br, bl = quad.astype(np.float32)
    if side == "bottom":  # a plate low in a close car's frame
        edge = int(round(float(max(bl[1], br[1]) - share * np.linalg.norm(bl - tl))))
        visible = np.array([tl, tr, _point_at(tr, br, edge, 1), _point_at(tl, bl, edge, 1)], np.float32)
        return canvas[:edge], visible
    width = float(np.linalg.norm(tr - tl))
    if side == "left":
        edge = int(round(float(min(tl[0], bl[0]) + share * width)))
        visible = np.array([_point_at(tl, tr, edge, 0), tr, br, _point_at(bl, br, edge, 0)], np.float32)
        return canvas[:, edge:], (visible - [edge, 0]).astype(np.float32)
    edge = int(round(float(max(tr[0], br[0]) - share * width)))
    visible = np.array([tl, _point_at(tl, tr, edge, 0), _point_at(bl, br, edge, 0), bl], np.float32)
    return canvas[:, :edge], visible


def render_for_crop(spec: PlateSpec, rng: np.random.Generator, width: float) -> RenderedPlate:
    """The plate rendered for a reader crop of a plate `width` px wide in its frame: about 1.5x
    finer than the crop the reader gets, never finer than the camera sees."""
    return render(spec, rng, float(np.clip(max(width, PLATE_SIZE[0]) / 330.0 * 1.5, 0.35, 0.8)))


def _seen_plate(rng: np.random.Generator, scenes: list[SceneRecord] | None, smallest: float,
                draw: SampleDraw) -> tuple[np.ndarray, np.ndarray, pf.PlateText, float]:
    """A plate in its surroundings as a camera saw it: the picture, the plate's corners in it,
    its text and its width in pixels."""
    spec = sample_plate(rng, draw.any_kana)
    width = source_width(rng, smallest, draw.largest)
    rendered = render_for_crop(spec, rng, width)
    cw, ch = int(width * 1.6) + 8, int(width * 1.1) + 8
    canvas = _background(rng, scenes, (cw, ch))
    quad = plate_quad(rng, (cw / 2 + rng.normal(0, 2), ch / 2 + rng.normal(0, 2)), width)
    paste(canvas, rendered, quad)
    if draw.occlude and rng.random() < draw.occlude:
        occlude(canvas, quad, rng)
    if draw.mask and rng.random() < draw.mask:
        privacy_mask(canvas, quad, rng)
    canvas = degrade.camera(degrade.light(canvas, rng), rng, blur=draw.blur)
    if draw.cut and rng.random() < draw.cut:
        canvas, quad = cut_by_frame_edge(canvas, quad, rng)
    return canvas, quad, spec.text, width


def reader_sample(rng: np.random.Generator, scenes: list[SceneRecord] | None, corner_jitter: float = 0.025,
                  smallest: float = 40.0, draw: SampleDraw = SampleDraw()) -> ReaderSample:
    """One rectified plate crop, as the pipeline would cut it, with its text."""
    canvas, quad, text, width = _seen_plate(rng, scenes, smallest, draw)
    # Detector corners are off by a few percent of the plate width; train on the same error.
    noisy = quad + rng.normal(0, corner_jitter * width, quad.shape).astype(np.float32)
    if rng.random() < 0.3:  # a whole-quad scale error: boxes a bit too tight or too loose
        mid = noisy.mean(0)
        noisy = mid + (noisy - mid) * rng.uniform(0.94, 1.08)
    return ReaderSample(rectify(canvas, noisy, PLATE_SIZE), text, width)


def detector_like(rng: np.random.Generator, quad: np.ndarray, width: float) -> np.ndarray:
    """The true corners made as wrong as the detector makes them: mostly pulled toward an
    upright rectangle inside the plate's box (how it draws plates seen from the side), then
    each corner off by up to a few percent, the whole quad a little too large or small."""
    quad = np.asarray(quad, np.float32)
    if rng.random() < 0.6:
        (x0, y0), (x1, y1) = quad.min(0), quad.max(0)
        half = np.float32([(x1 - x0) / 2 * rng.uniform(0.8, 1.0), (y1 - y0) / 2 * rng.uniform(0.75, 1.0)])
        rect = np.float32([(x0 + x1) / 2, (y0 + y1) / 2]) + half * np.float32([[-1, -1], [1, -1], [1, 1], [-1, 1]])
        quad = quad + rng.uniform(0, 1) * (rect - quad)
    quad = quad + rng.normal(0, rng.uniform(0.005, 0.04) * width, (4, 2))
    mid = quad.mean(0)
    return (mid + (quad - mid) * rng.uniform(0.9, 1.1) + rng.normal(0, 0.02 * width, 2)).astype(np.float32)


# The plate as corner refiner samples keep it: upright, 96 x 48 in a 192 x 128 picture, with
# room around it for the contexts that wrong corners cut (refine.context()).
REFINER_CANVAS = (192, 128)
PLATE_IN_CANVAS = np.float32([[48, 40], [144, 40], [144, 88], [48, 88]])


@dataclass(frozen=True)
class RefinerSample:
    canvas: np.ndarray  # REFINER_CANVAS, BGR uint8: the plate at PLATE_IN_CANVAS
    guesses: np.ndarray  # (k, 4, 2) detector_like() corners, in canvas pixels


def refiner_sample(rng: np.random.Generator, scenes: list[SceneRecord] | None, guesses: int = 8,
                   draw: SampleDraw = SampleDraw(occlude=0.1)) -> RefinerSample:
    """A plate seen by a camera, rectified upright from its true corners with a wide margin,
    and `guesses` sets of detector-like corners for it carried into the same picture: each
    guess cuts a different context from one rendered plate."""
    canvas, quad, _, width = _seen_plate(rng, scenes, 40.0, draw)
    upright, matrix = rectify_around(canvas, quad, PLATE_IN_CANVAS, REFINER_CANVAS)
    wrong = np.stack([detector_like(rng, quad, width) for _ in range(guesses)])
    return RefinerSample(upright, cv2.perspectiveTransform(wrong.reshape(-1, 1, 2), matrix).reshape(-1, 4, 2))
