"""Short videos of Japanese plates in real street scenes, with every plate's box in every frame:
the test material for the whole product on video (tracking, reads across frames, the vote, one
CSV row a sighting), as composed photos are for still images.

A clip is one held-out scene photo, its boxed plates replaced by Japanese ones (parked cars, in
every frame), and one more plate driving through it: approaching (growing from 40-70 px to
100-220 px wide) or pulling away, seen from one angle. The lighting is the clip's own; the
camera (noise, blur, its image processor, JPEG) is drawn anew for every frame, as a real
camera's noise and shake are.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stream_lpr import plate_format as pf
from stream_lpr.synth import degrade
from stream_lpr.synth.compose import (SceneRecord, _overlaps, _read, over_boxed_plate, paste, plate_quad,
                                     quad_box, render_for_width)
from stream_lpr.synth.sample import sample_plate


@dataclass(frozen=True)
class ClipPlate:
    text: pf.PlateText
    boxes: np.ndarray  # (frames, 4) x1, y1, x2, y2 in every frame, source pixels
    moving: bool


@dataclass(frozen=True)
class Clip:
    frames: list[np.ndarray]  # BGR uint8
    plates: list[ClipPlate]


def _drive(rng: np.random.Generator, size: tuple[int, int], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(centres, widths) of a plate approaching the camera or pulling away, one per frame."""
    w, h = size
    near, far = rng.uniform(100, 220), rng.uniform(40, 70)
    start = np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.35, 0.6) * h])
    # Nearer is lower in the picture and drifts to a side: the car changes lanes or turns.
    end = start + np.array([rng.normal(0, 0.08 * w), rng.uniform(0.05, 0.2) * h])
    if rng.random() < 0.5:  # pulling away: the same path backwards
        start, end, near, far = end, start, far, near
    t = np.linspace(0.0, 1.0, frames)[:, None]
    return start + (end - start) * t, far + (near - far) * t[:, 0]


def make_clip(rng: np.random.Generator, scenes: list[SceneRecord], frames: int = 60) -> Clip:
    """One clip (frames at 30 fps); deterministic from rng."""
    record = scenes[rng.integers(len(scenes))]
    canvas = _read(record.path)
    scale = 1280 / max(canvas.shape[:2])
    canvas = cv2.resize(canvas, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = canvas.shape[:2]
    centres, widths = _drive(rng, (w, h), frames)
    # The moving plate's view, at unit width: a car ahead, never seen steeply.
    shape = plate_quad(rng, (0.0, 0.0), 1.0, 30, 15, 3, steep_share=0.0)
    path = [shape * width + centre for centre, width in zip(centres, widths)]
    plates = []
    for box in record.boxes:  # parked cars: a Japanese plate over each real one
        quad = over_boxed_plate(rng, box, scale, 1.05)
        if any(_overlaps(quad, moving) for moving in path[:: max(frames // 8, 1)]):
            continue  # the moving plate would pass over it: this car has left
        spec = sample_plate(rng)
        paste(canvas, render_for_width(spec, rng, float(np.ptp(quad[:, 0]))), quad)
        plates.append(ClipPlate(spec.text, np.tile(quad_box(quad), (frames, 1)), moving=False))
    spec = sample_plate(rng)
    rendered = render_for_width(spec, rng, float(widths.max()))
    plates.append(ClipPlate(spec.text, np.stack([quad_box(q) for q in path]), moving=True))
    light = degrade.lighting(rng, canvas.shape)
    images = []
    for quad in path:
        frame = canvas.copy()
        paste(frame, rendered, quad)
        images.append(degrade.camera(light.apply(frame), rng, strength=0.7))
    return Clip(images, plates)
