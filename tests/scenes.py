"""Short synthetic videos with known plates, for end-to-end tests and benchmarks.

Plates come from the project's renderer (stream_lpr.synth.render.render_plate) and are warped
onto a fixed synthetic street background, each inside a simple car body, along scripted paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stream_lpr import plate_format as pf

SIZE = (1280, 720)
SMALL = (640, 360)  # quarter the pixels to render, draw and encode; ~150 px plates still read well


@dataclass(frozen=True)
class Appearance:
    """One plate on screen from frame `start` to `end` (exclusive), moving linearly.

    Positions are the plate centre in pixels; widths in pixels (height is half the width).
    """

    plate: pf.PlateText
    start: int
    end: int
    centre_from: tuple[float, float]
    centre_to: tuple[float, float]
    width_from: float
    width_to: float
    seed: int = 0

    def at(self, frame: int) -> tuple[np.ndarray, float] | None:
        if not self.start <= frame < self.end:
            return None
        a = (frame - self.start) / max(self.end - self.start - 1, 1)
        centre = np.array(self.centre_from) * (1 - a) + np.array(self.centre_to) * a
        return centre, self.width_from * (1 - a) + self.width_to * a


def background(size: tuple[int, int] = SIZE, seed: int = 0) -> np.ndarray:
    """Sky, buildings, road: enough texture that the detector has things to ignore."""
    rng = np.random.default_rng(seed)
    w, h = size
    image = np.full((h, w, 3), (120, 130, 135), np.uint8)  # walls behind the street
    image[: h // 3] = (200, 170, 140)
    for _ in range(12):
        x, bw, bh = int(rng.integers(0, w)), int(rng.integers(60, 200)), int(rng.integers(80, h // 2))
        colour = tuple(int(c) for c in rng.integers(60, 180, 3))
        cv2.rectangle(image, (x, h // 2 - bh), (x + bw, h // 2), colour, -1)
    image[h // 2:] = (90, 90, 95)
    for x in range(0, w, 160):
        cv2.line(image, (x, h - 40), (x + 80, h - 40), (230, 230, 230), 6)
    noise = rng.normal(0, 6, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def paste_plate(frame: np.ndarray, plate_image: np.ndarray, centre: np.ndarray, width: float) -> np.ndarray:
    """Draws a car body and warps the plate image to `width` px centred at `centre`. Returns corners."""
    height = width / 2
    cx, cy = centre
    body = (int(cx - 1.3 * width), int(cy - 1.2 * width), int(cx + 1.3 * width), int(cy + 0.5 * width))
    cv2.rectangle(frame, body[:2], body[2:], (40, 40, 150), -1)
    cv2.rectangle(frame, (body[0] + 10, body[1] + 10), (body[2] - 10, int(cy - 0.7 * width)), (60, 50, 40), -1)
    corners = np.array([[cx - width / 2, cy - height / 2], [cx + width / 2, cy - height / 2],
                        [cx + width / 2, cy + height / 2], [cx - width / 2, cy + height / 2]], np.float32)
    ph, pw = plate_image.shape[:2]
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, corners)
    size = (frame.shape[1], frame.shape[0])
    warped = cv2.warpPerspective(plate_image, matrix, size, flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), matrix, size)
    frame[mask > 127] = warped[mask > 127]
    return corners


def render_scene(appearances: list[Appearance], frames: int, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    from stream_lpr.synth.render import render_plate

    base = background(size)
    images = {id(a): render_plate(a.plate, seed=a.seed) for a in appearances}
    out = []
    for index in range(frames):
        frame = base.copy()
        for a in appearances:
            where = a.at(index)
            if where is not None:
                paste_plate(frame, images[id(a)], *where)
        out.append(frame)
    return out


def write_scene(path, appearances: list[Appearance], frames: int, fps: float = 30.0,
                size: tuple[int, int] = SIZE, noise: float = 0.0, seed: int = 0) -> None:
    """`noise`: sensor noise of this many grey levels, new in every frame, as a fixed camera's
    still picture has (a rendered one is otherwise the same frame after frame)."""
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for frame in render_scene(appearances, frames, size):
        if noise:
            frame = np.clip(frame + rng.normal(0, noise, frame.shape), 0, 255).astype(np.uint8)
        writer.write(frame)
    writer.release()


P_PRIVATE = pf.parse_plate("品川 300 あ 12-34", "private")
P_KEI = pf.parse_plate("なにわ 580 さ ・・12", "kei")
P_COMMERCIAL = pf.parse_plate("横浜 100 か 34-56", "commercial")
P_LONG = pf.parse_plate("尾張小牧 330 る ・987", "private")

SCENARIOS: dict[str, tuple[list[Appearance], int]] = {
    # one plate driving across the frame
    "moving": ([Appearance(P_PRIVATE, 0, 60, (300, 450), (900, 430), 200, 200)], 60),
    # one plate approaching: small to large
    "scaling": ([Appearance(P_KEI, 0, 60, (640, 380), (640, 470), 110, 300, seed=1)], 60),
    # a plate that drives out of the frame, then another that enters later
    "leaving": ([Appearance(P_COMMERCIAL, 0, 45, (700, 450), (1380, 450), 200, 200, seed=2),
                 Appearance(P_LONG, 60, 100, (400, 460), (500, 460), 210, 220, seed=3)], 100),
    # two plates at once
    "two_at_once": ([Appearance(P_PRIVATE, 0, 60, (330, 430), (420, 440), 190, 200, seed=4),
                     Appearance(P_KEI, 0, 60, (950, 470), (880, 460), 200, 190, seed=5)], 60),
}


def two_plates(frames: int = 60) -> list[Appearance]:
    """At SMALL size: plate A (P_PRIVATE) drives slowly left to right the whole time; plate B
    (P_KEI) stands on the right for frames 10-39 only, so its track ends mid-video. B's car
    body never covers A's plate (bodies are 2.6 plate widths wide)."""
    return [Appearance(P_PRIVATE, 0, frames, (110, 240), (250, 240), 150, 150, seed=4),
            Appearance(P_KEI, 10, 40, (490, 250), (490, 250), 150, 150, seed=5)]
