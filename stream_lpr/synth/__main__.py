"""python -m stream_lpr.synth preview --out DIR -n 64: contact sheets of rendered plates,
reader crops and composed scenes, for a person to judge realism."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from stream_lpr.synth.compose import compose, load_scenes
from stream_lpr.synth.crops import reader_sample
from stream_lpr.synth.render import render
from stream_lpr.synth.sample import sample_plate


def _sheet(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    h, w = tiles[0].shape[:2]
    rows = []
    for i in range(0, len(tiles), columns):
        row = tiles[i : i + columns]
        row += [np.zeros_like(tiles[0])] * (columns - len(row))
        rows.append(np.hstack(row))
    return np.vstack(rows)


def _on_grey(plate) -> np.ndarray:
    alpha = plate.alpha[..., None]
    image = plate.image * alpha + 110 * (1 - alpha)
    return cv2.resize(image.astype(np.uint8), (330, 165), interpolation=cv2.INTER_AREA)


def preview(out: Path, count: int, seed: int) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    scenes = load_scenes(split="train")
    plates = [_on_grey(render(sample_plate(rng), rng, 1.0)) for _ in range(count)]
    crops = [cv2.resize(reader_sample(rng, scenes).crop, (256, 128), interpolation=cv2.INTER_NEAREST) for _ in range(count)]
    views = []
    for _ in range(max(4, count // 8)):
        scene = compose(rng, scenes)
        for plate in scene.plates:
            cv2.polylines(scene.image, [plate.corners.astype(np.int32)], True, (0, 0, 255), 2)
        views.append(cv2.resize(scene.image, (640, 360), interpolation=cv2.INTER_AREA))
    paths = [out / "plates.png", out / "reader_crops.png", out / "scenes.png"]
    for path, tiles, columns in zip(paths, (plates, crops, views), (8, 8, 3)):
        cv2.imwrite(str(path), _sheet(tiles, columns))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stream_lpr.synth", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    pre = sub.add_parser("preview", help="write contact sheets (PNG) of plates, crops and scenes")
    pre.add_argument("--out", required=True, type=Path)
    pre.add_argument("-n", type=int, default=64, help="plates and crops per sheet")
    pre.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for path in preview(args.out, args.n, args.seed):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
