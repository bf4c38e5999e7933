"""Draws plate quads, track ids, voted Japanese plates and a HUD on a copy of a frame.

Quads are drawn by supervision's oriented-box annotator. cv2.putText cannot draw kana or kanji,
so labels are rendered with PIL and a CJK font found at run time. PIL text rendering costs
milliseconds per label (supervision's rich-label annotator converts the whole frame to PIL on
every call), so rendered labels are cached per (text, colours): a plate's label changes only
when its vote does.
"""

from __future__ import annotations

import functools
import importlib.util
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import supervision as sv
from PIL import Image, ImageDraw, ImageFont
from supervision.config import ORIENTED_BOX_COORDINATES

from stream_lpr.config import OverlayConfig
from stream_lpr.errors import StreamLprError
from stream_lpr.records import TrackedPlate, Verdict

BGR = tuple[int, int, int]
# Label colours per plate type, as (background, text) in BGR, after the real plates, so the
# label reads like the plate it names.
PLATE_COLOURS: dict[str, tuple[BGR, BGR]] = {
    "private": ((213, 216, 215), (23, 74, 25)),
    "kei": ((9, 194, 241), (17, 17, 17)),
    "commercial": ((23, 74, 25), (213, 216, 215)),
    "kei_commercial": ((17, 17, 17), (9, 194, 241)),
    "graphic": ((230, 220, 170), (23, 74, 25)),
    "unknown": ((80, 80, 80), (255, 255, 255)),
}
_TENTATIVE = ((50, 50, 50), (200, 200, 200))  # label colours before a plate is stable
_WATCHED = ((0, 0, 210), (255, 255, 255))  # label colours of a plate on the watchlist: no plate is red
_ROI_COLOUR = (255, 255, 0)  # cyan: apart from the quads' green and orange and the plates' colours
# Quad colour and weight show the vote's state: they must stand out on any plate colour.
_QUAD_STYLE = {"stable": (sv.Color(r=0, g=255, b=0), 3), "tentative": (sv.Color(r=255, g=165, b=0), 1),
               "watched": (sv.Color(r=255, g=0, b=0), 4)}
# Sizes (font_size, line weights, the HUD) are for frames up to this many lines; taller frames
# draw them larger in proportion, so that a 4K stream's window, shrunk to fit a screen, still
# shows labels a person can read.
_BASE_LINES = 720
_HIDE_BLOCKS = 4  # a hidden plate is this many blocks wide (Overlay.hide)
_DEBIAN_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
_DEBIAN_FONT_NAMES = ("ipaexg.ttf", "ipag.ttf", "NotoSansCJK-Bold.ttc", "NotoSansCJK-Regular.ttc",
                      "NotoSansCJKjp-Regular.otf", "NotoSansJP-Regular.otf", "TakaoGothic.ttf")


def find_cjk_font(explicit: str = "") -> Path:
    """The font for Japanese labels: `explicit`, else IPAexGothic from the matplotlib-fontja
    pip package, else an IPA or Noto CJK font from the system font folders."""
    if explicit:
        if not Path(explicit).is_file():
            raise StreamLprError(f"overlay.font_path {explicit} does not exist")
        return Path(explicit)
    spec = importlib.util.find_spec("matplotlib_fontja")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / "fonts" / "ipaexg.ttf"
            if candidate.is_file():
                return candidate
    for name in _DEBIAN_FONT_NAMES:
        for folder in _DEBIAN_FONT_DIRS:
            found = sorted(folder.rglob(name)) if folder.is_dir() else []
            if found:
                return found[0]
    raise StreamLprError("no Japanese font found: pip install matplotlib-fontja "
                         "(or apt install fonts-ipaexfont-gothic), or set overlay.font_path")


class LabelRenderer:
    """Renders one-line labels to BGR images, cached per (text, colours)."""

    def __init__(self, font_path: Path, size: int, cache_size: int = 512) -> None:
        self.font = ImageFont.truetype(str(font_path), size)
        self._pad = max(size // 6, 2)
        self._cache: OrderedDict[tuple[str, BGR, BGR], np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def render(self, text: str, fg: BGR, bg: BGR) -> np.ndarray:
        key = (text, fg, bg)
        image = self._cache.get(key)
        if image is not None:
            self._cache.move_to_end(key)
            return image
        image = self._draw(text, fg, bg)
        self._cache[key] = image
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return image

    def _draw(self, text: str, fg: BGR, bg: BGR) -> np.ndarray:
        x0, y0, x1, y1 = self.font.getbbox(text)
        w, h = x1 - min(x0, 0) + 2 * self._pad, y1 - min(y0, 0) + 2 * self._pad
        # PIL works in RGB: reverse the BGR tuples in, and the pixels out.
        canvas = Image.new("RGB", (max(w, 1), max(h, 1)), bg[::-1])
        ImageDraw.Draw(canvas).text((self._pad - min(x0, 0), self._pad - min(y0, 0)), text,
                                    font=self.font, fill=fg[::-1])
        return np.ascontiguousarray(np.asarray(canvas)[:, :, ::-1])


def paste(scene: np.ndarray, image: np.ndarray, x: int, y: int) -> None:
    """Copies `image` into `scene` at (x, y), clipped to the scene's borders."""
    h, w = image.shape[:2]
    sx0, sy0 = max(x, 0), max(y, 0)
    sx1, sy1 = min(x + w, scene.shape[1]), min(y + h, scene.shape[0])
    if sx1 > sx0 and sy1 > sy0:
        scene[sy0:sy1, sx0:sx1] = image[sy0 - y:sy1 - y, sx0 - x:sx1 - x]


@dataclass(frozen=True)
class HudStats:
    fps: float
    dropped_frames: int
    frame_queue: int
    read_queue: int
    dropped_reads: int
    latency_ms: float | None = None
    sightings: int = 0  # rows written so far
    alerts: int | None = None  # watchlist plates reported; None: no watchlist
    possible_alerts: int = 0  # plates reported as possibly a watched one


class Overlay:
    def __init__(self, config: OverlayConfig) -> None:
        self.config = config
        self.font_path = find_cjk_font(config.font_path)
        self._labels: dict[int, LabelRenderer] = {}  # by font size in pixels: one per frame height seen

    def _label_renderer(self, scale: float) -> LabelRenderer:
        size = round(self.config.font_size * scale)
        if size not in self._labels:
            self._labels[size] = LabelRenderer(self.font_path, size, self.config.text_cache_size)
        return self._labels[size]

    def draw(self, image: np.ndarray, plates: list[tuple[TrackedPlate, Verdict | None]],
             hud: HudStats | None = None, roi: tuple[tuple[float, float], ...] = (),
             watched: dict[int, str] | None = None) -> np.ndarray:
        """A copy of `image` with every plate, the outline of the region of interest (points as
        fractions of the width and height) and, if given and enabled, the HUD. `watched`: track
        id -> watchlist note, for the plates drawn in red with their note."""
        watched = watched or {}
        scene = image.copy()
        h, w = scene.shape[:2]
        scale = max(1.0, h / _BASE_LINES)
        if roi:
            outline = np.round(np.asarray(roi, np.float32) * np.float32([w - 1, h - 1])).astype(np.int32)
            cv2.polylines(scene, [outline], True, _ROI_COLOUR, round(scale), cv2.LINE_AA)
        for style in ("tentative", "stable", "watched"):
            corners = [p.corners for p, v in plates if _style(p, v, watched) == style]
            if corners:
                _quad_annotator(style, round(scale)).annotate(scene, _quads(np.stack(corners)))
        labels = self._label_renderer(scale)
        for plate, verdict in plates:
            self._draw_label(scene, plate, verdict, labels, watched.get(plate.track_id))
        if hud is not None and self.config.hud:
            draw_hud(scene, hud, scale)
        return scene

    def hide(self, image: np.ndarray, quads: list[np.ndarray]) -> np.ndarray:
        """A copy of `image` with every plate quad (4, 2) pixelated past reading (overlay.anonymize):
        the quad's box grown by `anonymize_margin` plate widths on every side, in blocks a
        quarter of the plate's width: with blocks an eighth as wide, the reader still read the
        numbers of some large plates (benchmarks/bench_anonymize.py)."""
        scene = image.copy()
        h, w = scene.shape[:2]
        for quad in quads:
            width = max(float(np.linalg.norm(quad[1] - quad[0])), float(np.ptp(quad[:, 0])), 1.0)
            grow = self.config.anonymize_margin * width
            x0, y0 = np.maximum(np.floor(quad.min(axis=0) - grow), 0).astype(int)
            x1, y1 = np.ceil(quad.max(axis=0) + grow).astype(int)
            x1, y1 = min(x1, w), min(y1, h)
            if x1 <= x0 or y1 <= y0:
                continue
            region = scene[y0:y1, x0:x1]
            block = max(width / _HIDE_BLOCKS, 2.0)
            small = cv2.resize(region, (max(round((x1 - x0) / block), 1), max(round((y1 - y0) / block), 1)),
                               interpolation=cv2.INTER_AREA)
            region[:] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
        return scene

    def _draw_label(self, scene: np.ndarray, plate: TrackedPlate, verdict: Verdict | None,
                    labels: LabelRenderer, note: str | None) -> None:
        stable = verdict is not None and verdict.stable
        plate_type = verdict.plate_type if verdict is not None else "unknown"
        bg, fg = PLATE_COLOURS.get(plate_type, PLATE_COLOURS["unknown"]) if stable else _TENTATIVE
        text = f"#{plate.track_id}"
        if verdict is not None and verdict.reads:
            text += " " + verdict.display("?")
        if note is not None:
            bg, fg = _WATCHED
            text += f"  ! {note}"
        label = labels.render(text, fg, bg)
        x = int(plate.corners[:, 0].min())
        y = int(plate.corners[:, 1].min()) - label.shape[0] - 2
        if y < 0:  # no room above the plate: put the label below it
            y = int(plate.corners[:, 1].max()) + 2
        paste(scene, label, x, y)


def _style(plate: TrackedPlate, verdict: Verdict | None, watched: dict[int, str]) -> str:
    if plate.track_id in watched:
        return "watched"
    return "stable" if verdict is not None and verdict.stable else "tentative"


@functools.lru_cache(maxsize=16)
def _quad_annotator(style: str, weight: int) -> sv.OrientedBoxAnnotator:
    """supervision's oriented-box annotator for a style of quad (tentative, stable, watched),
    lines `weight` times the style's thickness."""
    colour, thickness = _QUAD_STYLE[style]
    return sv.OrientedBoxAnnotator(color=colour, thickness=thickness * weight, color_lookup=sv.ColorLookup.INDEX)


def _quads(corners: np.ndarray) -> sv.Detections:
    """Plate quads (N, 4, 2) as the supervision detections its oriented-box annotator draws."""
    boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    return sv.Detections(xyxy=boxes, data={ORIENTED_BOX_COORDINATES: np.round(corners).astype(np.int32)})


def draw_hud(scene: np.ndarray, hud: HudStats, scale: float = 1.0) -> None:
    """A corner box with throughput numbers (ASCII only, so cv2.putText is enough and cheap),
    `scale` times its size on a frame of up to 720 lines."""
    lines = [f"fps {hud.fps:5.1f}", f"dropped frames {hud.dropped_frames}",
             f"queues frame {hud.frame_queue} read {hud.read_queue}", f"dropped reads {hud.dropped_reads}",
             f"sightings {hud.sightings}"]
    if hud.alerts is not None:
        lines.append(f"watchlist {hud.alerts}" + (f" + {hud.possible_alerts} possible" if hud.possible_alerts else ""))
    if hud.latency_ms is not None:
        lines.append(f"latency {hud.latency_ms:4.0f} ms")
    step = round(18 * scale)
    region = scene[0 : round(8 * scale) + step * len(lines), 0 : round(250 * scale)]
    region[:] = (region * 0.4).astype(np.uint8)  # darken for contrast on any background
    for i, line in enumerate(lines):
        cv2.putText(scene, line, (round(8 * scale), round(20 * scale) + step * i), cv2.FONT_HERSHEY_SIMPLEX,
                    0.5 * scale, (255, 255, 255), round(scale), cv2.LINE_AA)
