#!/usr/bin/env python3
"""How well `--anonymize` hides plates, and what it costs.

    python benchmarks/bench_anonymize.py [--clips 20] [--set overlay.anonymize_hold_s=0]

Composed dashcam clips (synth.clips, held-out scenes: parked cars' plates and one driving
through, 60 frames at 30 fps) are run through the pipeline as `run_stream.py --source clip.mp4
--output out.mp4 --anonymize` runs them; and each clip again as a panning camera sees it, a
window 0.6 of its width sliding across it, so that plates come into view at its edge. In every
frame, each plate is then read by the reader from its true box, in the clip as it was and in the
anonymized frame: the plate-frames whose whole plate still reads right are the ones the
anonymizing missed (a number alone is also counted, though a short one, `・・・9`, is right by
chance one time in nine). A plate partly in view cannot be read whole but can show some of its
characters, so each plate-frame also counts as shown when less than half of the plate's part in
view was changed by the mosaic. By the plate's width in the frame, since the detector does not
find plates much under 40 px (nor can a person read them). Then the mean milliseconds of drawing
a frame, with and without anonymizing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stream_lpr.capture import open_source  # noqa: E402
from stream_lpr.cli import load_models, set_overrides  # noqa: E402
from stream_lpr.config import load_config  # noqa: E402
from stream_lpr.evaluate import TEST_SEED  # noqa: E402
from stream_lpr.overlay import Overlay  # noqa: E402
from stream_lpr.pipeline import Outputs, run_pipeline  # noqa: E402
from stream_lpr.rectify import rectify  # noqa: E402
from stream_lpr.sinks import VideoSink  # noqa: E402
from stream_lpr.synth.clips import Clip, ClipPlate, make_clip  # noqa: E402
from stream_lpr.synth.compose import load_scenes  # noqa: E402

BUCKETS = ((0, 40), (40, 60), (60, 100), (100, 10_000))
PAN_WINDOW = 0.6  # the panning camera's share of the clip's width


class FramesKept:
    """A video sink that keeps the drawn frames."""

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []

    def write(self, frame: np.ndarray) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        pass


def _box_corners(box: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def panned(clip: Clip, rng: np.random.Generator) -> Clip:
    """The clip as a camera panning across it sees it: a window PAN_WINDOW of its width sliding
    from one side to the other over the clip, so the parked plates come into view at an edge."""
    h, w = clip.frames[0].shape[:2]
    span, width = w - round(PAN_WINDOW * w), round(PAN_WINDOW * w)
    starts = np.linspace(span, 0, len(clip.frames)).round().astype(int)
    if rng.random() < 0.5:
        starts = starts[::-1]
    frames = [np.ascontiguousarray(frame[:, x : x + width]) for frame, x in zip(clip.frames, starts)]
    shift = np.stack([starts, np.zeros_like(starts)] * 2, axis=1).astype(np.float32)
    return Clip(frames, [ClipPlate(plate.text, plate.boxes - shift, plate.moving) for plate in clip.plates])


def _shown(before: np.ndarray, after: np.ndarray, box: np.ndarray) -> bool | None:
    """Whether the plate's part in view was left mostly as it was; None: too little in view."""
    h, w = before.shape[:2]
    x0, y0 = np.maximum(np.floor(box[:2]), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(box[2:]), [w, h]).astype(int)
    if x1 - x0 < 8 or y1 - y0 < 4:
        return None
    changed = np.any(before[y0:y1, x0:x1] != after[y0:y1, x0:x1], axis=2)
    return float(changed.mean()) < 0.5


def _score(clip: Clip, scenes: list[np.ndarray], reader, counts: dict) -> None:
    """Adds each plate-frame of `clip` to `counts` (per width bucket: plate-frames in view,
    shown, read right as it was and anonymized, number right as it was and anonymized)."""
    for f, scene in enumerate(scenes):
        for plate in clip.plates:
            box = plate.boxes[f]
            shown = _shown(clip.frames[f], scene, box)
            if shown is None:
                continue
            width = box[2] - box[0]
            row = counts[next(b for b in BUCKETS if b[0] <= width < b[1])]
            crops = [rectify(image, _box_corners(box)) for image in (clip.frames[f], scene)]
            before, after = (read.reading.text for read in reader.read(crops, 1))
            for k, hit in enumerate((True, shown, before.key == plate.text.key, after.key == plate.text.key,
                                     before.number == plate.text.number, after.number == plate.text.number)):
                row[k] += hit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config key for the anonymized runs, e.g. --set overlay.anonymize_hold_s=0 (repeatable)")
    args = parser.parse_args()

    scenes = load_scenes(split="test")
    runs = {}
    for anonymize in (False, True):
        overrides = {"overlay.anonymize": anonymize, "overlay.hud": False, **(set_overrides(args.set) if anonymize else {})}
        config = load_config(ROOT / "config.yaml", overrides)
        detector, readers = load_models(config, None)
        runs[anonymize] = config, detector, readers, Overlay(config.overlay)
    reader = runs[True][2][0]
    counts = {camera: {b: [0] * 6 for b in BUCKETS} for camera in ("still", "panning")}
    draw_ms = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="lpr_anon_") as tmp:
        for i in range(args.clips):
            clip = make_clip(np.random.default_rng([TEST_SEED, 7, i]), scenes)
            for camera, seen in (("still", clip), ("panning", panned(clip, np.random.default_rng([TEST_SEED, 8, i])))):
                path = Path(tmp) / f"{i:03d}_{camera}.mp4"
                with VideoSink(path, 30.0) as video:
                    for frame in seen.frames:
                        video.write(frame)
                for anonymize, (config, detector, readers, overlay) in runs.items():
                    kept = FramesKept()
                    stats = run_pipeline(config, open_source(str(path), config.capture), detector, readers,
                                         Outputs(video=kept), overlay)
                    draw_ms[anonymize].append(stats.mean_ms("draw"))
                _score(seen, kept.frames, reader, counts[camera])
            print(f"clip {i + 1}/{args.clips}", end="\r", file=sys.stderr)
    for camera, table in counts.items():
        print(f"{args.clips} clips, {camera} camera; plate-frames in view, shown (less than half of the part in view "
              "pixelated), and whose plate (number) the reader reads from the plate's true box:")
        print(f"{'width px':>10} {'plate-frames':>13} {'shown':>6} {'as it was':>16} {'anonymized':>16}")
        for (low, high), (n, shown, before, after, number_before, number_after) in table.items():
            print(f"{low:>4}-{high:<5} {n:>13} {shown:>6} {before:>8} ({number_before:>5}) {after:>8} ({number_after:>5})")
    print(f"drawing a frame: {np.mean(draw_ms[False]):.2f} ms with labels, {np.mean(draw_ms[True]):.2f} ms anonymized")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
