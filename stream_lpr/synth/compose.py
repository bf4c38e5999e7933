"""Puts rendered plates into scenes with exact 4-corner labels.

Backgrounds are the real photos in ../shared/data/scenes (a Japanese plate pasted over each
boxed plate, so plates sit where real plates sit) and procedural ones. Plate-like distractors
(signs, text, stickers, other countries' plates) are added unlabelled, as negatives.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from stream_lpr import plate_format as pf
from stream_lpr.synth import degrade, fonts
from stream_lpr.synth.render import DIGIT_BOX_MM, DIGIT_LEFTS_MM, DIGIT_TOP_MM, PLATE_MM, RenderedPlate, render
from stream_lpr.synth.sample import PlateSpec, sample_plate

DEFAULT_SCENES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "scenes"
# Whole drives held out for testing: frames of one drive look alike, so a random frame split
# would test on near-copies of training frames.
HELD_OUT_DRIVES = ("ro_dashcam/dayride_type1_002", "ro_dashcam/dayride_type1_003")


@dataclass(frozen=True)
class SceneRecord:
    path: Path
    boxes: tuple[tuple[float, float, float, float], ...]
    group: str  # the drive or photo set a frame belongs to


@dataclass
class PlateLabel:
    corners: np.ndarray  # (4, 2) TL, TR, BR, BL in scene pixels
    text: pf.PlateText
    occluded: bool = False  # a side slice covered: some characters cannot be read


@dataclass
class Scene:
    image: np.ndarray
    plates: list[PlateLabel] = field(default_factory=list)


def _group(image: str) -> str:
    folder, name = image.split("/", 1)
    if folder == "ro_dashcam":
        return f"{folder}/{name.rsplit('_t', 1)[0]}"
    return f"{folder}/{name}"


def is_test_group(group: str) -> bool:
    if group in HELD_OUT_DRIVES or group.startswith("jp_dashcam/"):
        return True
    if group.startswith("ro_dashcam/"):
        return False
    return int(hashlib.md5(group.encode()).hexdigest(), 16) % 5 == 0


def load_scenes(root: Path = DEFAULT_SCENES, split: str = "train") -> list[SceneRecord]:
    """The scene photos of one split ("train" or "test"), split by drive or photo set."""
    labels = Path(root) / "labels.jsonl"
    if not labels.exists():
        raise FileNotFoundError(f"scene labels not found: {labels}")
    records = []
    for line in labels.read_text().splitlines():
        item = json.loads(line)
        group = _group(item["image"])
        if is_test_group(group) != (split == "test"):
            continue
        boxes = tuple(tuple(p["box"]) for p in item["plates"])
        records.append(SceneRecord(Path(root) / item["image"], boxes, group))
    return records


@functools.lru_cache(maxsize=64)
def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read scene image {path}")
    return image


# ---------------------------------------------------------------- geometry


# Share of plates seen from far off to one side (and half of them from well above or below): a
# parked car photographed from the pavement. With small angles alone (the product of two uniform
# draws) 1 plate in 200 was turned more than 45 degrees, and the detector put the corners of real
# plates turned 45 degrees 10-18 % of their width off, which cost their class numbers.
STEEP_VIEWS = 0.2


def _angle(rng: np.random.Generator, limit: float, steep: bool) -> float:
    """A signed angle in radians: mostly small, as most plates face the camera; a steep one
    between half of `limit` degrees and a tenth beyond it."""
    sign = 1.0 if rng.random() < 0.5 else -1.0
    magnitude = rng.uniform(0.5, 1.1) if steep else rng.random() * rng.random()
    return float(np.radians(sign * limit * magnitude))


def plate_quad(rng: np.random.Generator, centre: tuple[float, float], width: float,
               max_yaw: float = 50.0, max_pitch: float = 30.0, max_roll: float = 8.0,
               steep_share: float = STEEP_VIEWS) -> np.ndarray:
    """Corners of a 2:1 plate of about `width` px seen under a random yaw, pitch and roll."""
    steep = bool(rng.random() < steep_share)
    yaw = _angle(rng, max_yaw, steep)
    pitch = _angle(rng, max_pitch, steep and rng.random() < 0.5)
    roll = np.radians(rng.normal(0, max_roll / 2))
    pts = np.array([[-1, -0.5, 0], [1, -0.5, 0], [1, 0.5, 0], [-1, 0.5, 0]], np.float64)
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    rz = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
    pts = pts @ (rz @ rx @ ry).T
    # In plate half-widths: sets how strong perspective is. Steep views are the close ones.
    distance = rng.uniform(3.0 if steep else 4.0, 12.0)
    proj = pts[:, :2] / (pts[:, 2:3] + distance) * distance
    proj *= width / max(proj[:, 0].max() - proj[:, 0].min(), 1e-6)
    return (proj + np.array(centre)).astype(np.float32)


def quad_box(quad: np.ndarray) -> np.ndarray:
    """x1, y1, x2, y2 around a (4, 2) quad."""
    return np.concatenate([quad.min(0), quad.max(0)]).astype(np.float32)


def _pixel_bounds(points: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1: the pixels around `points`, clipped to a picture of `shape`."""
    x0, y0 = np.maximum(np.floor(points.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(points.max(0)).astype(int) + 1, [shape[1], shape[0]])
    return x0, y0, x1, y1


def paste(canvas: np.ndarray, rendered: RenderedPlate, quad: np.ndarray) -> None:
    """Warps the rendered plate so its corners land on quad, blending by its coverage."""
    matrix = cv2.getPerspectiveTransform(rendered.corners, quad.astype(np.float32))
    rh, rw = rendered.alpha.shape
    outline = cv2.perspectiveTransform(np.array([[[0, 0], [rw, 0], [rw, rh], [0, rh]]], np.float32), matrix)[0]
    x0, y0, x1, y1 = _pixel_bounds(outline, canvas.shape)
    if x1 <= x0 or y1 <= y0:
        return
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    local = shift @ matrix
    size = (int(x1 - x0), int(y1 - y0))
    image = cv2.warpPerspective(rendered.image, local, size, flags=cv2.INTER_AREA if rw > size[0] else cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(rendered.alpha, local, size, flags=cv2.INTER_LINEAR)[..., None]
    region = canvas[y0:y1, x0:x1]
    region[:] = (region * (1 - alpha) + image * alpha).astype(canvas.dtype)


# ---------------------------------------------------------------- backgrounds and distractors


def procedural_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    base = rng.uniform(30, 220, 3)
    image = np.empty((h, w, 3), np.float32)
    image[:] = base
    image += (np.linspace(-1, 1, h)[:, None, None] * rng.uniform(-60, 60, 3)).astype(np.float32)
    for _ in range(rng.integers(5, 30)):
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        x, y = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        kind = rng.integers(3)
        if kind == 0:
            cv2.rectangle(image, (x, y), (x + int(rng.uniform(10, w / 2)), y + int(rng.uniform(10, h / 2))), colour, -1)
        elif kind == 1:
            cv2.ellipse(image, (x, y), (int(rng.uniform(5, w / 4)), int(rng.uniform(5, h / 4))), rng.uniform(0, 180), 0, 360, colour, -1)
        else:
            cv2.line(image, (x, y), (int(rng.uniform(0, w)), int(rng.uniform(0, h))), colour, int(rng.integers(1, 8)))
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 3))
    image += rng.normal(0, 6, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


SIGN_WORDS = ("オールタイム", "駐車料金", "コインパーキング", "最大料金", "入庫後", "月極", "時間貸", "営業時間", "お問合せ",
              "夜間", "平日", "土日祝", "空", "満")
SIGN_AMOUNTS = ("{a}分/{b}円", "{a}分 {b}円", "{b}円", "最大{b}円", "{a}:00-{c}:00", "0{a}-{b}-{c}", "{a}時間")


def _two_line_sign(rng: np.random.Generator) -> RenderedPlate:
    """Small words over large digits on a 2:1 panel: the layout of a plate, the parking-price
    signs the detector once took for plates."""
    w = int(rng.uniform(160, 300))
    h = int(w * rng.uniform(0.4, 0.7))
    bg = tuple(int(c) for c in rng.uniform(0, 255, 3))
    fg = tuple(int(c) for c in (rng.uniform(0, 80, 3) if sum(bg) > 380 else rng.uniform(175, 255, 3)))
    panel = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(panel)
    jp = fonts.japanese_faces()
    top = str(rng.choice(SIGN_WORDS))
    bottom = str(rng.choice(SIGN_AMOUNTS)).format(a=rng.integers(1, 60), b=rng.integers(1, 20) * 100, c=rng.integers(10, 99))
    for text, y, height in ((top, 0.05, 0.3), (bottom, 0.42, 0.45)):
        face = jp[rng.integers(len(jp))]
        font = face.load(int(h * height))
        fit = 0.92 * w / max(1.0, draw.textlength(text, font=font))
        if fit < 1:  # shrink a long line to the panel
            font = face.load(max(6, int(h * height * fit)))
        x = (w - draw.textlength(text, font=font)) * rng.uniform(0.1, 0.9)
        draw.text((x, h * y), text, font=font, fill=fg)
    if rng.random() < 0.6:
        draw.rectangle((1, 1, w - 2, h - 2), outline=fg, width=max(1, h // 30))
    image = np.asarray(panel, np.uint8).copy()
    return RenderedPlate(image, np.ones((h, w), np.float32), np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32))


def _distractor(rng: np.random.Generator) -> RenderedPlate:
    """A sign, sticker or foreign plate: text on a panel that is not a Japanese plate."""
    kind = rng.integers(4)
    if kind == 3:
        return _two_line_sign(rng)
    if kind == 0:  # a European or other long plate
        w, h = int(rng.uniform(200, 260)), int(rng.uniform(45, 60))
        text = "".join(rng.choice(list("ABCDEFGHJKLMNPRSTUVWXYZ0123456789"), int(rng.integers(5, 8))))
        bg, fg = ((235, 235, 235), (20, 20, 20)) if rng.random() < 0.7 else ((40, 200, 240), (20, 20, 20))
        face = fonts.digit_faces()[rng.integers(len(fonts.digit_faces()))]
    elif kind == 1:  # a US-style plate or a sign with Latin text
        w, h = int(rng.uniform(150, 240)), int(rng.uniform(70, 130))
        text = "".join(rng.choice(list("ABCDEFGHKLMNPRSTUVWXYZ0123456789 "), int(rng.integers(3, 9))))
        bg, fg = tuple(float(c) for c in rng.uniform(0, 255, 3)), tuple(float(c) for c in rng.uniform(0, 255, 3))
        face = fonts.digit_faces()[rng.integers(len(fonts.digit_faces()))]
    else:  # a Japanese sign, shop name or sticker
        w, h = int(rng.uniform(120, 300)), int(rng.uniform(40, 150))
        text = "".join(rng.choice(list("駐車場出口営業中東京大阪注意安全運転ありがとう"), int(rng.integers(2, 6))))
        bg, fg = tuple(float(c) for c in rng.uniform(0, 255, 3)), tuple(float(c) for c in rng.uniform(0, 255, 3))
        face = fonts.japanese_faces()[rng.integers(len(fonts.japanese_faces()))]
    panel = Image.new("RGB", (w, h), tuple(int(c) for c in bg))
    font = face.load(max(8, int(h * rng.uniform(0.4, 0.7))))
    ImageDraw.Draw(panel).text((w * 0.05, h * 0.15), text, font=font, fill=tuple(int(c) for c in fg))
    image = np.asarray(panel, np.uint8).copy()
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    return RenderedPlate(image, np.ones((h, w), np.float32), corners)


def _paste_shape(canvas: np.ndarray, rendered: RenderedPlate, centre, width: float, rng: np.random.Generator,
                 **view) -> None:
    """Pastes a rendered thing `width` px wide at `centre`, seen like a plate (plate_quad's
    angles, or `view`'s), in its own aspect ratio."""
    quad = plate_quad(rng, centre, width, **view)
    # plate_quad makes 2:1 shapes; stretch to the thing's own aspect ratio.
    ch = rendered.alpha.shape[0] / rendered.alpha.shape[1] * 2
    mid = quad.mean(0)
    paste(canvas, rendered, mid + (quad - mid) * np.array([1.0, ch], np.float32))


def _add_distractors(canvas: np.ndarray, rng: np.random.Generator, count: int) -> None:
    h, w = canvas.shape[:2]
    for _ in range(count):
        d = _distractor(rng)
        width = rng.uniform(0.03, 0.3) * w
        _paste_shape(canvas, d, (rng.uniform(0, w), rng.uniform(0, h)), width, rng)


def _chrome(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Polished metal: grey bands that brighten and darken down the part, a warm or cool tint."""
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    level = 150 + 70 * np.sin(y * rng.uniform(4, 9) + rng.uniform(0, 6.3)) + rng.normal(0, 6, (h, 1))
    tint = np.float32([1.0, 1.0, 1.0]) + rng.normal(0, 0.04, 3).astype(np.float32)
    return np.clip(np.repeat(level, w, axis=1)[:, :, None] * tint, 0, 255).astype(np.uint8)


def _badge_ground(rng: np.random.Generator) -> np.ndarray:
    """A badge's ground colour (BGR): blue or red, never green. Green grounds are rare on cars,
    and one under chrome letters looks like a commercial plate: rounds with them cost green
    plates' confidence. Drawn as before session 39, so every other part of a scene stays the same."""
    colour = np.array([rng.uniform(90, 200), rng.uniform(20, 90), rng.uniform(0, 60)])[rng.permutation(3)]
    if colour.argmax() == 1:
        low = int(colour.argmin())
        colour[[1, low]] = colour[[low, 1]]
    return colour


def _emblem(rng: np.random.Generator) -> RenderedPlate:
    """A car maker's badge: a chrome ring around crossed ovals, a letter, a bar with a word cut
    out of it or a few diamonds, now and then on a coloured ground. A badge sits above nearly
    every plate, and on the real photos the detector took Toyota's for a plate (0.62 and 0.65)."""
    w = 160
    h = int(w * rng.uniform(0.55, 1.0))
    t = max(3, int(h * rng.uniform(0.05, 0.11)))
    cx, cy, ax, ay = w // 2, h // 2, w // 2 - t, h // 2 - t
    strokes, ground = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    if rng.random() < 0.35:
        cv2.ellipse(ground, (cx, cy), (ax, ay), 0, 0, 360, 255, -1, cv2.LINE_AA)
    if rng.random() < 0.85:
        cv2.ellipse(strokes, (cx, cy), (ax, ay), 0, 0, 360, 255, t, cv2.LINE_AA)
    inner = int(rng.integers(4))
    if inner == 0:  # crossed ovals
        cv2.ellipse(strokes, (cx, int(h * 0.4)), (int(ax * 0.62), int(ay * 0.3)), 0, 0, 360, 255, max(2, t * 2 // 3), cv2.LINE_AA)
        cv2.ellipse(strokes, (cx, int(h * 0.56)), (int(ax * 0.22), int(ay * 0.62)), 0, 0, 360, 255, max(2, t * 2 // 3), cv2.LINE_AA)
    elif inner in (1, 2):  # a letter, or a bar across the ring with a word cut out of it
        face = fonts.digit_faces()[rng.integers(len(fonts.digit_faces()))]
        letters = "".join(rng.choice(list("HNSMLZDAVT"), 1 if inner == 1 else int(rng.integers(4, 7))))
        layer = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(layer)
        if inner == 2:
            draw.rectangle((0, int(h * 0.36), w - 1, int(h * 0.64)), fill=255)
        font = face.load(max(8, int(h * (0.6 if inner == 1 else 0.22))))
        box = draw.textbbox((0, 0), letters, font=font)
        scale = min(1.0, 0.9 * w / max(1, box[2] - box[0]))
        font = face.load(max(8, int(font.size * scale)))
        box = draw.textbbox((0, 0), letters, font=font)
        draw.text((cx - (box[0] + box[2]) / 2, cy - (box[1] + box[3]) / 2), letters, font=font, fill=0 if inner == 2 else 255)
        strokes = np.maximum(strokes, np.asarray(layer, np.uint8))
    else:  # diamonds around the middle
        size = int(min(ax, ay) * rng.uniform(0.35, 0.55))
        for k in range(int(rng.integers(2, 4))):
            angle = np.pi / 2 + k * 2 * np.pi / 3
            px, py = cx + np.cos(angle) * size * 0.9, cy - np.sin(angle) * size * 0.9
            diamond = np.int32([[px, py - size * 0.6], [px + size * 0.35, py], [px, py + size * 0.6], [px - size * 0.35, py]])
            cv2.fillConvexPoly(strokes, diamond, 255, cv2.LINE_AA)
    image = _chrome(h, w, rng)
    if ground.any():
        colour = _badge_ground(rng)
        fill = (ground > 0) & (strokes < 128)
        image[fill] = np.clip(colour * rng.uniform(0.4, 1.0) + rng.normal(0, 5, 3), 0, 255).astype(np.uint8)
    alpha = np.maximum(strokes, ground).astype(np.float32) / 255.0
    return RenderedPlate(image, alpha, np.float32([[0, 0], [w, 0], [w, h], [0, h]]))


def _emblem_near(canvas: np.ndarray, quad: np.ndarray, rng: np.random.Generator) -> None:
    """A badge centred above a plate (below it now and then), clear of the plate."""
    badge = _emblem(rng)
    width = float(np.linalg.norm(quad[1] - quad[0])) * rng.uniform(0.3, 0.8)
    height = width * badge.alpha.shape[0] / badge.alpha.shape[1]
    up = (quad[0] + quad[1] - quad[2] - quad[3]) / 2  # from the plate's middle to its top edge
    gap = rng.uniform(0.2, 1.8) * float(np.linalg.norm(up)) + height / 2
    side = 1.0 if rng.random() < 0.85 else -1.0
    edge = (quad[0] + quad[1]) / 2 if side > 0 else (quad[2] + quad[3]) / 2
    centre = edge + side * up / max(float(np.linalg.norm(up)), 1e-3) * gap + rng.normal(0, 0.05 * width, 2)
    _paste_shape(canvas, badge, tuple(centre), width, rng, max_yaw=15, max_pitch=10, max_roll=3, steep_share=0.0)


# ---------------------------------------------------------------- scenes


def occlude(canvas: np.ndarray, quad: np.ndarray, rng: np.random.Generator) -> None:
    """Covers a slice of a plate's side (a pole, a pedestrian, another car)."""
    x0, y0 = quad.min(0)
    x1, y1 = quad.max(0)
    frac = rng.uniform(0.1, 0.35)
    colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
    if rng.random() < 0.5:
        cv2.rectangle(canvas, (int(x0 - 5), int(y0 - 5)), (int(x0 + (x1 - x0) * frac), int(y1 + 5)), colour, -1)
    else:
        cv2.rectangle(canvas, (int(x1 - (x1 - x0) * frac), int(y0 - 5)), (int(x1 + 5), int(y1 + 5)), colour, -1)


def _slot_span(first: int, last: int) -> tuple[float, float]:
    """Designation slots first..last as shares of the plate's width (render.py's layout)."""
    return (DIGIT_LEFTS_MM[first] - 4.0) / PLATE_MM[0], (DIGIT_LEFTS_MM[last] + DIGIT_BOX_MM[0] + 4.0) / PLATE_MM[0]


def privacy_mask(canvas: np.ndarray, quad: np.ndarray, rng: np.random.Generator) -> None:
    """Hides a plate's number as photos published online do: a mosaic, a heavy blur or a flat
    patch over the designation number, over some of its digits (often the last two) or, now and
    then, over the whole plate."""
    span = rng.random()
    if span < 0.2:
        u0, v0, u1, v1 = -0.02, -0.04, 1.02, 1.04
    else:
        first, last = (0, 3) if span < 0.55 else (2, 3) if span < 0.8 else sorted(rng.integers(0, 4, 2))
        u0, u1 = _slot_span(first, last)
        v0, v1 = (DIGIT_TOP_MM - 4.0) / PLATE_MM[1], (DIGIT_TOP_MM + DIGIT_BOX_MM[1] + 4.0) / PLATE_MM[1]
        u0, v0, u1, v1 = np.array([u0, v0, u1, v1]) + rng.uniform(-0.02, 0.02, 4)
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    to_plate = cv2.getPerspectiveTransform(unit, quad.astype(np.float32))
    area = cv2.perspectiveTransform(np.array([[[u0, v0], [u1, v0], [u1, v1], [u0, v1]]], np.float32), to_plate)[0]
    x0, y0, x1, y1 = _pixel_bounds(area, canvas.shape)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    patch = canvas[y0:y1, x0:x1]
    plate_h = float(np.linalg.norm(quad[3] - quad[0]))
    kind = rng.choice(["mosaic", "blur", "flat"], p=[0.45, 0.35, 0.2])
    if kind == "mosaic":  # cells a sixth to a third of the plate's height
        cell = max(2.0, plate_h * rng.uniform(0.16, 0.33))
        small = (max(1, round((x1 - x0) / cell)), max(1, round((y1 - y0) / cell)))
        hidden = cv2.resize(cv2.resize(patch, small, interpolation=cv2.INTER_AREA), (x1 - x0, y1 - y0),
                            interpolation=cv2.INTER_NEAREST)
    elif kind == "blur":
        hidden = cv2.GaussianBlur(patch, (0, 0), max(1.0, plate_h * rng.uniform(0.15, 0.3)))
    else:  # a sticker or a painted box, often near the plate's own colour
        colour = patch.reshape(-1, patch.shape[2]).mean(0) if rng.random() < 0.6 else rng.uniform(0, 255, 3)
        hidden = np.empty_like(patch)
        hidden[:] = np.clip(colour + rng.normal(0, 12, 3), 0, 255)
    inside = np.zeros(patch.shape[:2], np.uint8)
    cv2.fillConvexPoly(inside, np.round(area - [x0, y0]).astype(np.int32), 1)
    patch[inside > 0] = hidden[inside > 0]


def _overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    (ax0, ay0), (ax1, ay1) = a.min(0), a.max(0)
    (bx0, by0), (bx1, by1) = b.min(0), b.max(0)
    return ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1


def _plate_width(rng: np.random.Generator, frame_width: int) -> float:
    """Plate widths from 20 px to 500 px (for a 1280 px frame), most of them small as on a road."""
    return float(np.exp(rng.uniform(np.log(20), np.log(500)))) * frame_width / 1280


def over_boxed_plate(rng: np.random.Generator, box, scale: float, widen: float) -> np.ndarray:
    """The quad of a Japanese plate pasted over a scene's boxed real plate (its box scaled by
    `scale`): 2:1 around the box's centre, `widen` times as wide, so the real plate is covered."""
    x1, y1, x2, y2 = (v * scale for v in box)
    return plate_quad(rng, ((x1 + x2) / 2, (y1 + y2) / 2), max(x2 - x1, 2 * (y2 - y1)) * widen, 15, 10, 3,
                      steep_share=0.0)


def render_for_width(spec: PlateSpec, rng: np.random.Generator, width: float,
                     px_per_mm_max: float = 1.6) -> RenderedPlate:
    """`spec` rendered no finer than a plate `width` px wide in the picture needs."""
    return render(spec, rng, float(np.clip(width / 330.0 * 1.3, 0.3, px_per_mm_max)))


def compose(rng: np.random.Generator, scenes: list[SceneRecord] | None, size: tuple[int, int] = (1280, 720),
            long_side: int | None = None, px_per_mm_max: float = 1.6, emblems: float = 0.0,
            blur: float = 0.0) -> Scene:
    """One scene: real photo (boxed plates replaced) or procedural background, plus extra plates.

    long_side scales the scene (e.g. to the detector's input size) before plates are drawn, so
    small training scenes cost no full-resolution work. `emblems`: the share of plates given a
    car maker's badge nearby; `blur`: the share of scenes blurred past the camera's usual
    (degrade.heavy_blur()). At 0 neither draws anything, so the test scenes stay as they were.
    """
    if scenes and rng.random() < 0.8:
        record = scenes[rng.integers(len(scenes))]
        canvas = _read(record.path)
        scale = long_side / max(canvas.shape[:2]) if long_side else 1.0
        canvas = cv2.resize(canvas, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale != 1.0 else canvas.copy()
        targets = [over_boxed_plate(rng, box, scale, rng.uniform(1.0, 1.1)) for box in record.boxes]
    else:
        if long_side:
            size = (long_side, int(long_side * size[1] / size[0]))
        canvas = procedural_background(rng, size)
        targets = []
    h, w = canvas.shape[:2]
    for _ in range(rng.integers(0, 4)):
        pw = _plate_width(rng, w)
        margin = pw * 0.3 if rng.random() < 0.9 else -pw * 0.3  # some plates cut by the frame edge
        centre = (rng.uniform(margin, w - margin), rng.uniform(margin / 2, h - margin / 2))
        quad = plate_quad(rng, centre, pw)
        if not any(_overlaps(quad, other) for other in targets):
            targets.append(quad)
    _add_distractors(canvas, rng, int(rng.integers(0, 4)))
    scene = Scene(canvas)
    for quad in targets:
        spec = sample_plate(rng)
        width = float(np.linalg.norm(quad[1] - quad[0]))
        paste(canvas, render_for_width(spec, rng, width, px_per_mm_max), quad)
        if emblems and rng.random() < emblems:
            _emblem_near(canvas, quad, rng)
        occluded = bool(rng.random() < 0.1)
        if occluded:
            occlude(canvas, quad, rng)
        scene.plates.append(PlateLabel(quad, spec.text, occluded))
    scene.image = degrade.camera(degrade.light(canvas, rng), rng, strength=0.7, blur=blur)
    return scene
