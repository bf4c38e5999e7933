"""Renders a Japanese plate, upright, from a PlateSpec: face colours, embossed characters,
bolts, seal cap, bolt covers, holder frame and wear. Lighting, blur and noise belong to the
camera and are applied later (degrade.py), once the plate sits in its scene.

Geometry is the medium plate (330 x 165 mm) from plate_spec.md; a large plate is the same
layout scaled by 4/3. Every size below is in millimetres of the medium plate.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from stream_lpr import plate_format as pf
from stream_lpr.synth import fonts
from stream_lpr.synth.sample import PlateSpec, PlateStyle

PLATE_MM = (330.0, 165.0)
CORNER_RADIUS_MM = 10.0
BOLTS_MM = ((60.0, 25.0), (270.0, 25.0))
DIGIT_LEFTS_MM = (75.0, 130.0, 212.0, 267.0)
DIGIT_BOX_MM = (48.0, 78.0)
DIGIT_TOP_MM = 72.0
# Class-number glyph width and the air between glyphs, mm. The spec's 25 wide at a 29 pitch is
# one maker's; the real reference photos show 20-26 wide at pitches of 23.5-29.5, and a reader
# that had seen one spacing only read the others' class numbers worse (session 29).
CLASS_GLYPH_W_MM = (19.5, 25.5)
CLASS_AIR_MM = (2.5, 5.0)
UPPER_ROW_LIGHT = 0.6  # share of plates whose upper row is in a regular-weight face
UPPER_ROW_THIN = 0.4  # share of plates whose upper row is thinned on top of that
BAR_ONE = 0.5  # share of plates whose '1' is a plain stroke, without flag or foot
KANA_BRUSH = 0.35  # share of plates whose kana is in a brush-derived textbook face
REGION_SPACED = 0.5  # share of plates whose region name is set one character to a slot
UPPER_ROW_END_MM = 60.0  # the upper row (region, class number) lies above this

# Background / character colours in BGR, before per-plate jitter.
GREEN = (23, 74, 25)
# The same paint as photos of real plates show it (the reference photos' commercial green and
# private-plate characters): darker and greyer. Each plate's green lies between the two, so the
# reader does not learn "nearly black characters" as "kei".
GREEN_AS_SEEN = (36, 52, 32)
WHITE = (213, 216, 215)
YELLOW = (9, 194, 241)
BLACK = (17, 17, 17)
FACE_COLOURS = {
    "private": (WHITE, GREEN),
    "kei": (YELLOW, BLACK),
    "commercial": (GREEN, WHITE),
    "kei_commercial": (BLACK, YELLOW),
    "graphic": (WHITE, GREEN),
}


@dataclass(frozen=True)
class RenderedPlate:
    """A plate with what surrounds it (holder frame), its coverage and its 4 corners."""

    image: np.ndarray  # (h, w, 3) uint8 BGR
    alpha: np.ndarray  # (h, w) float32: 1 where plate or holder covers what is behind
    corners: np.ndarray  # (4, 2) float32: TL, TR, BR, BL of the plate itself


# ---------------------------------------------------------------- glyph masks


@functools.lru_cache(maxsize=8192)
def _ink(face: fonts.FontFace, text: str) -> np.ndarray:
    """The text's ink at a large size, cropped to its bounding box, as float32 in 0..1."""
    font = face.load(96)
    left, top, right, bottom = font.getbbox(text)
    canvas = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(canvas).text((4 - left, 4 - top), text, font=font, fill=255)
    ink = np.asarray(canvas, dtype=np.float32) / 255.0
    rows, cols = np.nonzero(ink > 0.05)
    if len(rows) == 0:
        return np.zeros((1, 1), np.float32)
    return np.ascontiguousarray(ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1])


@functools.lru_cache(maxsize=64)
def _bar(face: fonts.FontFace) -> np.ndarray:
    """A '1' drawn as a plain upright stroke, as plate makers draw it, as thick as the face's '1'
    stem (its columns inked over most of their height)."""
    one = _ink(face, "1")
    stem = int(((one > 0.5).mean(axis=0) > 0.6).sum())
    return np.ones((one.shape[0], max(stem, 1)), np.float32)


def _digit_ink(face: fonts.FontFace, ch: str, bar_one: bool) -> np.ndarray:
    return _bar(face) if bar_one and ch == "1" else _ink(face, ch)


def _spaced(face: fonts.FontFace, text: str, air: float) -> np.ndarray:
    """The characters side by side in equal slots, `air` of a slot's width left empty between
    neighbours; every character keeps its own ink box, so narrow ones sit centred in their slot."""
    inks = [_ink(face, ch) for ch in text]
    height = max(ink.shape[0] for ink in inks)
    slot = max(ink.shape[1] for ink in inks)
    step = int(round(slot * (1 + air)))
    out = np.zeros((height, step * (len(text) - 1) + slot), np.float32)
    for k, ink in enumerate(inks):
        x, y = k * step + (slot - ink.shape[1]) // 2, (height - ink.shape[0]) // 2
        out[y : y + ink.shape[0], x : x + ink.shape[1]] = ink
    return out


class _Canvas:
    """A float mask in plate pixels that glyphs are stamped into by millimetre boxes."""

    def __init__(self, width_px: int, height_px: int, px_per_mm: float):
        self.mask = np.zeros((height_px, width_px), np.float32)
        self.ppm = px_per_mm

    def stamp(self, ink: np.ndarray, x_mm: float, y_mm: float, w_mm: float, h_mm: float) -> None:
        x0, y0 = int(round(x_mm * self.ppm)), int(round(y_mm * self.ppm))
        w, h = max(1, int(round(w_mm * self.ppm))), max(1, int(round(h_mm * self.ppm)))
        glyph = cv2.resize(ink, (w, h), interpolation=cv2.INTER_AREA)
        H, W = self.mask.shape
        gx0, gy0, gx1, gy1 = max(0, -x0), max(0, -y0), min(w, W - x0), min(h, H - y0)
        if gx1 <= gx0 or gy1 <= gy0:
            return
        region = self.mask[y0 + gy0 : y0 + gy1, x0 + gx0 : x0 + gx1]
        np.maximum(region, glyph[gy0:gy1, gx0:gx1], out=region)

    def fitted(self, ink: np.ndarray, box: tuple[float, float, float, float], condense: float) -> None:
        """Scales ink to the box height, keeps its proportions (times condense), centres it."""
        x, y, w, h = box
        natural = ink.shape[1] / ink.shape[0] * h * condense
        width = min(natural, w)
        self.stamp(ink, x + (w - width) / 2, y, width, h)


def _condense(face: fonts.FontFace, box_w: float, box_h: float) -> float:
    """The horizontal squeeze that makes this face's '0' fill a digit box, as plate digits do."""
    zero = _ink(face, "0")
    return box_w / (zero.shape[1] / zero.shape[0] * box_h)


# ---------------------------------------------------------------- layout


def _draw_text(canvas: _Canvas, text: pf.PlateText, rng: np.random.Generator) -> None:
    jp = fonts.japanese_faces()
    digits = fonts.digit_faces()
    pick = lambda faces: faces[rng.integers(len(faces))]  # noqa: E731 - a local shorthand
    region_face, digit_face = pick(jp), pick(digits)
    kana_face = region_face if rng.random() < 0.5 else pick(jp)
    if rng.random() < KANA_BRUSH and fonts.brush_kana_faces():
        kana_face = pick(fonts.brush_kana_faces())
    class_face = digit_face
    if rng.random() < UPPER_ROW_LIGHT:
        region_face, class_face = pick(fonts.light_faces(digits=False)), pick(fonts.light_faces(digits=True))
    jitter = lambda s: float(rng.normal(0, s))  # noqa: E731 - a local shorthand

    # Upper row: region name then class number, centred as a group on the plate.
    region_h = float(rng.uniform(31.0, 39.0))
    natural = {1: 46.0, 2: 80.0, 3: 100.0, 4: 104.0}[len(text.region)]
    if len(text.region) > 1 and rng.random() < REGION_SPACED:
        # Plate makers often give each character of the name its own slot, with air between
        # them (沖縄, 鳥取), rather than setting the name as one word.
        region_ink = _spaced(region_face, text.region, rng.uniform(0.08, 0.3))
        region_w = natural + jitter(3.0)
    else:
        region_ink = _ink(region_face, text.region)
        widen = rng.uniform(1.0, 1.3) if len(text.region) == 1 else 1.0  # a lone kanji is drawn wide
        region_w = min(natural, region_ink.shape[1] / region_ink.shape[0] * region_h * widen)
    # The class number keeps its own field: a one-character name (堺, 柏) sits centred where a
    # two-character name would be, well apart from the digits, not beside them.
    field_w = 80.0 + jitter(2.0) if len(text.region) == 1 else region_w
    class_h = float(np.clip(region_h + jitter(2.0), 31.0, 40.0))
    glyph_w = float(rng.uniform(*CLASS_GLYPH_W_MM))
    pitch = glyph_w + float(rng.uniform(*CLASS_AIR_MM))
    class_w = pitch * (len(text.class_number) - 1) + glyph_w
    gap = 5.0 + jitter(1.0)
    left = 165.0 - (field_w + gap + class_w) / 2 + jitter(3.0)
    top = 15.0 + jitter(1.0)
    canvas.stamp(region_ink, left + (field_w - region_w) / 2, top, region_w, region_h)
    condense = _condense(class_face, glyph_w, class_h)
    x = left + field_w + gap
    bar_one = rng.random() < BAR_ONE
    for ch in text.class_number:
        canvas.fitted(_digit_ink(class_face, ch, bar_one), (x, top, glyph_w, class_h), condense)
        x += pitch

    # Lower row: kana, then the four designation slots.
    kana_size = float(rng.uniform(31.0, 43.0))
    kana_box = (15.0 + (43.0 - kana_size) / 2 + jitter(1.0), 108.0 - kana_size / 2 + jitter(2.0), kana_size, kana_size)
    if text.kana in pf.LATIN_KANA:
        canvas.fitted(_ink(digit_face, text.kana), kana_box, _condense(digit_face, 30.0, kana_size))
    else:
        ink = _ink(kana_face, text.kana)
        scale = kana_size / max(ink.shape)
        w, h = ink.shape[1] * scale, ink.shape[0] * scale
        canvas.stamp(ink, kana_box[0] + (kana_size - w) / 2, kana_box[1] + (kana_size - h) / 2, w, h)

    digit_h = DIGIT_BOX_MM[1] + jitter(1.5)
    digit_w = float(rng.uniform(38.0, DIGIT_BOX_MM[0]))  # real plates' digits are often narrower
    condense = _condense(digit_face, digit_w, digit_h)
    dy = jitter(1.0)
    for slot, ch in enumerate(pf.number_slots(text.number)):
        x = DIGIT_LEFTS_MM[slot] + jitter(0.6)
        if ch == pf.DOT:
            r = 7.0 + jitter(0.5)
            cx, cy = x + DIGIT_BOX_MM[0] / 2, DIGIT_TOP_MM + digit_h / 2 + dy
            cv2.circle(canvas.mask, _px((cx, cy), canvas.ppm), max(1, int(r * canvas.ppm)), 1.0, -1, cv2.LINE_AA)
        else:
            box = (x + (DIGIT_BOX_MM[0] - digit_w) / 2, DIGIT_TOP_MM + dy, digit_w, digit_h)
            canvas.fitted(_digit_ink(digit_face, ch, bar_one), box, condense)
    if "-" in text.number:
        y = DIGIT_TOP_MM + digit_h / 2 + dy
        p0, p1 = _px((184.0, y - 3.5), canvas.ppm), _px((206.0, y + 3.5), canvas.ppm)
        cv2.rectangle(canvas.mask, p0, p1, 1.0, -1)


def _restroke(ink: np.ndarray, level: float, rng: np.random.Generator, ppm: float) -> np.ndarray:
    """Thins (level above 0.5) or thickens (below) strokes: blur, then a steep threshold at level."""
    return np.clip((cv2.GaussianBlur(ink, (0, 0), 0.6 * ppm + 0.3) - level) * rng.uniform(2.0, 4.0) + 0.5, 0, 1)


def _px(point_mm: tuple[float, float], ppm: float) -> tuple[int, int]:
    return int(round(point_mm[0] * ppm)), int(round(point_mm[1] * ppm))


# ---------------------------------------------------------------- surface


def _rounded_rect_mask(w: int, h: int, radius: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    cv2.rectangle(mask, (radius, 0), (w - 1 - radius, h - 1), 255, -1)
    cv2.rectangle(mask, (0, radius), (w - 1, h - 1 - radius), 255, -1)
    for cx, cy in ((radius, radius), (w - 1 - radius, radius), (radius, h - 1 - radius), (w - 1 - radius, h - 1 - radius)):
        cv2.circle(mask, (cx, cy), radius, 255, -1, cv2.LINE_AA)
    return mask.astype(np.float32) / 255.0


def _jitter_colour(colour: tuple[int, int, int], rng: np.random.Generator, spread: float) -> np.ndarray:
    return np.clip(np.array(colour, np.float32) + rng.normal(0, spread, 3), 0, 255)


def _graphic_face(face: np.ndarray, rng: np.random.Generator, ppm: float) -> None:
    """A regional-design picture: soft colour shapes and a pattern over the white base."""
    h, w = face.shape[:2]
    art = face.copy()
    for _ in range(rng.integers(2, 6)):
        colour = tuple(float(c) for c in rng.integers(60, 256, 3))
        kind = rng.integers(3)
        if kind == 0:  # a hill or wave along the bottom
            xs = np.linspace(0, w, 12)
            ys = h * (0.55 + 0.3 * rng.random()) + rng.normal(0, h * 0.06, 12)
            poly = np.concatenate([np.stack([xs, ys], 1), [[w, h], [0, h]]]).astype(np.int32)
            cv2.fillPoly(art, [poly], colour, cv2.LINE_AA)
        elif kind == 1:  # a flower, sun or emblem
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.circle(art, centre, int(rng.uniform(8, 40) * ppm), colour, -1, cv2.LINE_AA)
        else:  # diagonal stripes
            step = int(rng.uniform(6, 20) * ppm) + 2
            for x in range(-h, w, step * 2):
                cv2.line(art, (x, h), (x + h, 0), colour, max(1, step // 2), cv2.LINE_AA)
    strength = rng.uniform(0.25, 0.6)
    face[:] = face * (1 - strength) + art * strength


def _emboss(face: np.ndarray, relief: np.ndarray, rng: np.random.Generator, ppm: float) -> np.ndarray:
    """Lights the raised characters and rim from one side, as a pressed aluminium plate looks."""
    sigma = max(0.6, 0.8 * ppm)
    height = cv2.GaussianBlur(relief, (0, 0), sigma)
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3)
    angle = rng.uniform(0, 2 * np.pi)
    shade = -(gx * np.cos(angle) + gy * np.sin(angle)) / max(ppm, 0.5)
    strength = rng.uniform(20, 70)
    return face + (shade * strength)[..., None]


def _dome(image: np.ndarray, centre: tuple[int, int], ppm: float, rng: np.random.Generator) -> None:
    """A small plate-coloured bolt head: the usual look on new plates."""
    r = int(max(1, rng.uniform(3.5, 5.5) * ppm))
    x, y = centre
    base = image[min(y + r + 2, image.shape[0] - 1), x].copy()
    cv2.circle(image, centre, r, tuple(float(c) * 0.8 for c in base), -1, cv2.LINE_AA)
    cv2.circle(image, (x - r // 3, y - r // 3), max(1, r // 2), tuple(min(255.0, float(c) * 1.1 + 10) for c in base), -1, cv2.LINE_AA)


def _bolt(image: np.ndarray, centre: tuple[int, int], ppm: float, rng: np.random.Generator) -> None:
    if rng.random() < 0.45:
        _dome(image, centre, ppm, rng)
        return
    r = int(max(2, rng.uniform(5.5, 7.5) * ppm))
    metal = float(rng.uniform(110, 200))
    cv2.circle(image, centre, r + max(1, int(ppm)), (metal * 0.45,) * 3, -1, cv2.LINE_AA)
    cv2.circle(image, centre, r, (metal,) * 3, -1, cv2.LINE_AA)
    cv2.circle(image, (centre[0] - r // 3, centre[1] - r // 3), max(1, r // 3), (min(255.0, metal + 50),) * 3, -1, cv2.LINE_AA)
    if rng.random() < 0.7:  # a cross-head slot
        d = int(r * 0.6)
        cv2.line(image, (centre[0] - d, centre[1]), (centre[0] + d, centre[1]), (metal * 0.4,) * 3, max(1, int(ppm)))
        cv2.line(image, (centre[0], centre[1] - d), (centre[0], centre[1] + d), (metal * 0.4,) * 3, max(1, int(ppm)))


def _seal(image: np.ndarray, centre: tuple[int, int], ppm: float, rng: np.random.Generator) -> None:
    r = int(max(3, rng.uniform(8.0, 10.0) * ppm))
    tone = float(rng.uniform(150, 215))
    cv2.circle(image, centre, r, (tone * 0.55,) * 3, -1, cv2.LINE_AA)
    cv2.circle(image, centre, int(r * 0.9), (tone,) * 3, -1, cv2.LINE_AA)
    cv2.circle(image, centre, int(r * 0.55), (tone * 0.75,) * 3, max(1, int(ppm)), cv2.LINE_AA)


def _bolt_cover(image: np.ndarray, centre: tuple[int, int], ppm: float, rng: np.random.Generator) -> None:
    r = int(max(3, rng.uniform(9.0, 14.0) * ppm))
    colour = tuple(float(c) for c in (rng.integers(0, 256, 3) if rng.random() < 0.3 else [rng.uniform(20, 230)] * 3))
    cv2.circle(image, centre, r, colour, -1, cv2.LINE_AA)
    highlight = tuple(min(255.0, c + 60) for c in colour)
    cv2.ellipse(image, centre, (int(r * 0.7), int(r * 0.5)), -30, 200, 300, highlight, max(1, int(ppm)), cv2.LINE_AA)


def _wear(face: np.ndarray, rng: np.random.Generator, ppm: float) -> None:
    """Dirt, scratches and spatter, mostly low on the plate where road spray lands."""
    h, w = face.shape[:2]
    if rng.random() < 0.5:
        grime = np.linspace(0, 1, h, dtype=np.float32)[:, None] ** 2 * rng.uniform(0.05, 0.35)
        dirt = np.array([rng.uniform(40, 90), rng.uniform(50, 100), rng.uniform(60, 110)], np.float32)
        face[:] = face * (1 - grime[..., None]) + dirt * grime[..., None]
    for _ in range(rng.integers(0, 40) if rng.random() < 0.5 else 0):
        centre = (int(rng.integers(0, w)), int(rng.integers(int(h * 0.3), h)))
        tone = rng.uniform(30, 110)
        cv2.circle(face, centre, max(1, int(rng.uniform(0.3, 1.5) * ppm)), (tone, tone, tone), -1, cv2.LINE_AA)
    for _ in range(rng.integers(0, 6) if rng.random() < 0.4 else 0):
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p1 = (p0[0] + int(rng.normal(0, 30 * ppm)), p0[1] + int(rng.normal(0, 10 * ppm)))
        tone = rng.uniform(120, 255)
        cv2.line(face, p0, p1, (tone, tone, tone), 1, cv2.LINE_AA)


def _holder(image: np.ndarray, alpha: np.ndarray, margin: int, ppm: float, rng: np.random.Generator) -> None:
    """A plate frame: a ring that covers the plate's edges and shows around it."""
    h, w = alpha.shape
    top, side, bottom = (int(rng.uniform(a, b) * ppm) for a, b in ((2, 10), (2, 12), (3, 13.5)))
    colour = tuple(float(c) for c in ([rng.uniform(10, 60)] * 3 if rng.random() < 0.5 else [rng.uniform(140, 230)] * 3))
    ring = np.ones((h, w), np.uint8)
    cv2.rectangle(ring, (margin + side, margin + top), (w - 1 - margin - side, h - 1 - margin - bottom), 0, -1)
    image[ring > 0] = colour
    alpha[ring > 0] = 1.0
    if rng.random() < 0.5:  # a highlight line along the frame's top edge, as chrome shows
        cv2.line(image, (0, max(1, margin // 3)), (w - 1, max(1, margin // 3)), (250, 250, 250), max(1, int(ppm)))


# ---------------------------------------------------------------- entry points


def render(spec: PlateSpec, rng: np.random.Generator, px_per_mm: float = 1.0) -> RenderedPlate:
    """Renders a plate; its corners are exact, whatever covers its edges."""
    style: PlateStyle = spec.style
    ppm = px_per_mm * (4.0 / 3.0 if style.large else 1.0)
    w, h = int(round(PLATE_MM[0] * ppm)), int(round(PLATE_MM[1] * ppm))
    bg, fg = FACE_COLOURS.get(spec.text.plate_type, FACE_COLOURS["private"])
    green = np.array(GREEN) + rng.uniform(0, 1) * (np.array(GREEN_AS_SEEN) - np.array(GREEN))
    bg, fg = (tuple(green) if c == GREEN else c for c in (bg, fg))
    if style.lit:
        bg = tuple(int(c * 0.75) for c in bg)
    face = np.empty((h, w, 3), np.float32)
    face[:] = _jitter_colour(bg, rng, 6.0)
    if spec.text.plate_type == "graphic":
        _graphic_face(face, rng, ppm)

    canvas = _Canvas(w, h, ppm)
    _draw_text(canvas, spec.text, rng)
    text = canvas.mask
    thinned = False
    if rng.random() < 0.6:  # stroke weight varies between plate makers: thin or thicken
        level = rng.uniform(0.3, 0.75)
        text, thinned = _restroke(text, level, rng, ppm), level > 0.5
    # Real plates' upper row is often thinner than the number; thinning twice breaks a light
    # face's strokes into fragments no real plate shows.
    if rng.random() < UPPER_ROW_THIN and not thinned:
        upper = int(UPPER_ROW_END_MM * ppm)
        text[:upper] = _restroke(text[:upper], rng.uniform(0.55, 0.72), rng, ppm)
    face = face * (1 - text[..., None]) + _jitter_colour(fg, rng, 6.0) * text[..., None]

    rim = np.zeros((h, w), np.float32)
    inset, radius = int(3.5 * ppm), int(CORNER_RADIUS_MM * ppm)
    cv2.rectangle(rim, (inset, inset), (w - 1 - inset, h - 1 - inset), 1.0, max(1, int(1.5 * ppm)), cv2.LINE_AA)
    if style.graphic_frame:
        frame_colour = YELLOW if style.graphic_frame == "kei" else GREEN
        band = int(5 * ppm)
        ring = np.ones((h, w), np.uint8)
        cv2.rectangle(ring, (band, band), (w - 1 - band, h - 1 - band), 0, -1)
        face[ring > 0] = _jitter_colour(frame_colour, rng, 6.0)
    face = _emboss(face, text + rim, rng, ppm)
    _wear(face, rng, ppm)

    bolts = list(BOLTS_MM) + ([(60.0, 140.0), (270.0, 140.0)] if style.large else [])
    for i, centre_mm in enumerate(bolts):
        centre = _px(centre_mm, ppm)
        if style.bolt_covers:
            _bolt_cover(face, centre, ppm, rng)
        elif i == 0 and style.rear:
            _seal(face, centre, ppm, rng)
        else:
            _bolt(face, centre, ppm, rng)

    margin = int(rng.uniform(4, 14) * ppm) if style.holder else 0
    image = np.zeros((h + 2 * margin, w + 2 * margin, 3), np.float32)
    alpha = np.zeros((h + 2 * margin, w + 2 * margin), np.float32)
    plate_alpha = _rounded_rect_mask(w, h, radius)
    image[margin : margin + h, margin : margin + w] = face
    alpha[margin : margin + h, margin : margin + w] = plate_alpha
    if style.holder:
        _holder(image, alpha, margin, ppm, rng)
    corners = np.array([[margin, margin], [margin + w, margin], [margin + w, margin + h], [margin, margin + h]], np.float32)
    return RenderedPlate(np.clip(image, 0, 255).astype(np.uint8), alpha, corners)


def render_plate(plate: pf.PlateText, seed: int = 0, px_per_mm: float = 1.0) -> np.ndarray:
    """A clean, frameless plate image (BGR, 2:1) for a known text: for tests and demos."""
    rng = np.random.default_rng(seed)
    rendered = render(PlateSpec(plate, PlateStyle()), rng, px_per_mm)
    return rendered.image
