"""Detector training: composed scenes -> YOLO pose tiles on disk -> ultralytics training -> ONNX.

Scenes are composed at the detector's inference scale (long side 640, as a 1280 x 720 frame is
run) and cut into 320 x 320 tiles: plates keep the pixel size they will have at inference while
each training step costs a quarter of a 640 x 640 one.
"""

from __future__ import annotations

import multiprocessing as mp
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from stream_lpr.errors import StreamLprError
from stream_lpr.synth.compose import Scene, compose, load_scenes
from stream_lpr.train.averaging import mean_weights
from stream_lpr.train.quantize import quantize_detector

INFER_LONG_SIDE = 640
TILE = 320
FLIP_IDX = [1, 0, 3, 2]  # a mirrored plate swaps TL<->TR and BR<->BL
# Share of plates given a car maker's badge nearby (compose's `emblems`): the detector took the
# badge above a real plate for a plate (0.62 and 0.65 on the real photos).
EMBLEMS = 0.3


@dataclass(frozen=True)
class TileDraw:
    """What training tiles hold that the test scenes do not: `badges`, the share of plates
    given a car maker's badge nearby; `blur`, the share of scenes blurred past the camera's
    usual, as a passing car or a lens out of focus blurs them (compose()'s `emblems`, `blur`)."""
    badges: float = EMBLEMS
    blur: float = 0.0


def _tile_origin(scene: Scene, rng: np.random.Generator) -> tuple[int, int]:
    h, w = scene.image.shape[:2]
    if scene.plates and rng.random() < 0.85:
        cx, cy = scene.plates[rng.integers(len(scene.plates))].corners.mean(0)
        x, y = cx - TILE / 2 + rng.uniform(-100, 100), cy - TILE / 2 + rng.uniform(-100, 100)
    else:
        x, y = rng.uniform(0, w), rng.uniform(0, h)
    return int(np.clip(x, 0, max(0, w - TILE))), int(np.clip(y, 0, max(0, h - TILE)))


def _label_lines(scene: Scene, origin: tuple[int, int], size: tuple[int, int]) -> list[str]:
    """YOLO pose rows: class, box, then 4 keypoints (x, y, visible), all normalised."""
    w, h = size
    lines = []
    for plate in scene.plates:
        pts = plate.corners - np.array(origin, np.float32)
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        full = (x1 - x0) * (y1 - y0)
        if cx1 - cx0 < 4 or cy1 - cy0 < 3 or (cx1 - cx0) * (cy1 - cy0) < 0.4 * full:
            continue  # mostly outside the tile: neither a positive nor a fair negative
        row = [0, (cx0 + cx1) / 2 / w, (cy0 + cy1) / 2 / h, (cx1 - cx0) / w, (cy1 - cy0) / h]
        for x, y in pts:
            inside = 0 <= x < w and 0 <= y < h
            row += [min(max(x / w, 0.0), 1.0), min(max(y / h, 0.0), 1.0), 2 if inside else 0]
        lines.append(" ".join(f"{v:.6f}" if isinstance(v, float) else str(v) for v in row))
    return lines


CHUNK = 200  # tiles per seeded chunk: the tiles depend on the seed alone, not on --jobs


def _write_chunk(out: Path, split: str, first: int, count: int, seed: int, scene_split: str,
                 draw: TileDraw) -> int:
    images, labels = out / "images" / split, out / "labels" / split
    scenes = load_scenes(split=scene_split)
    rng = np.random.default_rng([seed, first // CHUNK])
    for i in range(first, first + count):
        scene = compose(rng, scenes, long_side=INFER_LONG_SIDE, emblems=draw.badges, blur=draw.blur)
        if min(scene.image.shape[:2]) < TILE:
            pad_y, pad_x = max(0, TILE - scene.image.shape[0]), max(0, TILE - scene.image.shape[1])
            scene.image = cv2.copyMakeBorder(scene.image, 0, pad_y, 0, pad_x, cv2.BORDER_REFLECT)
        x, y = _tile_origin(scene, rng)
        tile = scene.image[y : y + TILE, x : x + TILE]
        cv2.imwrite(str(images / f"{i:06d}.jpg"), tile, [cv2.IMWRITE_JPEG_QUALITY, 92])
        (labels / f"{i:06d}.txt").write_text("\n".join(_label_lines(scene, (x, y), (TILE, TILE))))
    return count


def _write_split(out: Path, split: str, count: int, seed: int, scene_split: str, jobs: int,
                 draw: TileDraw) -> None:
    (out / "images" / split).mkdir(parents=True, exist_ok=True)
    (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    chunks = [(out, split, first, min(CHUNK, count - first), seed, scene_split, draw)
              for first in range(0, count, CHUNK)]
    bar = tqdm(total=count, desc=f"composing {split} tiles", unit="tile")
    if jobs <= 1:
        for chunk in chunks:
            bar.update(_write_chunk(*chunk))
    else:
        with mp.get_context("spawn").Pool(jobs) as pool:
            for done in pool.imap_unordered(_star_write_chunk, chunks):
                bar.update(done)
    bar.close()


def _star_write_chunk(args: tuple) -> int:
    return _write_chunk(*args)


def build_dataset(out: Path, train: int, val: int, seed: int, jobs: int = 1, draw: TileDraw = TileDraw()) -> Path:
    """Writes tiles and data.yaml; val tiles come from held-out drives with another seed."""
    out = Path(out)
    _write_split(out, "train", train, seed, "train", jobs, draw)
    _write_split(out, "val", val, seed + 7919, "test", jobs, draw)
    data = out / "data.yaml"
    data.write_text(
        f"path: {out.resolve()}\ntrain: images/train\nval: images/val\n"
        f"kpt_shape: [4, 3]\nflip_idx: {FLIP_IDX}\nnames:\n  0: plate\n"
    )
    return data


def _train_on_every_core(model, device: str) -> None:
    """On a CPU ultralytics loads data in the training process, yet gives torch one thread
    fewer than the cores (room for loader processes it does not start there): on 2 cores,
    half the machine. Set again at every epoch, after ultralytics' device set-up."""
    if str(device) == "cpu":
        import torch

        model.add_callback("on_train_epoch_start", lambda trainer: torch.set_num_threads(mp.cpu_count() or 1))


def train(data: Path, run_dir: Path, epochs: int, hours: float | None, batch: int, seed: int,
          model_cfg: str = "yolov8n-pose.yaml", device: str = "cpu", workers: int = 1,
          init: Path | None = None, degrees: float = 3.0) -> Path:
    """Trains from scratch (or from the weights in `init`), or resumes run_dir's last
    checkpoint; returns the best weights."""
    import stream_lpr.offline  # noqa: F401 - before ultralytics
    from ultralytics import YOLO

    last = run_dir / "weights" / "last.pt"
    resume = last.exists()
    model = YOLO(str(last)) if resume else YOLO(str(init) if init else model_cfg, task="pose")
    _train_on_every_core(model, device)
    if resume:
        model.train(resume=True)
    else:
        # Fine-tuning trained weights: plain SGD at half the usual rate and no bias warm-up,
        # which keeps the first steps from undoing what the weights already know.
        tune = {"optimizer": "SGD", "lr0": 0.005, "warmup_bias_lr": 0.0} if init else {}
        model.train(
            **tune, data=str(data), epochs=epochs, time=hours, imgsz=TILE, batch=batch, seed=seed,
            device=device, workers=workers, project=str(run_dir.resolve().parent), name=run_dir.name,
            exist_ok=True, pretrained=init is not None, amp=False, plots=False, val=True, patience=0,
            verbose=True, mosaic=1.0, scale=0.3, degrees=degrees, translate=0.1, fliplr=0.5, hsv_h=0.02,
            close_mosaic=max(1, epochs // 10), cos_lr=True, warmup_epochs=1.0,
        )
    return run_dir / "weights" / "best.pt"


def average_weights(sources: list[Path], out: Path) -> Path:
    """Writes the mean of several detectors' weights (train.averaging) as one ultralytics
    checkpoint: the first one's, its weights replaced."""
    import torch

    import stream_lpr.offline  # noqa: F401 - before ultralytics' classes are unpickled

    checkpoints = [torch.load(path, map_location="cpu", weights_only=False) for path in sources]
    for path, checkpoint in zip(sources, checkpoints):
        model = checkpoint.get("model") if isinstance(checkpoint, dict) else None
        if not hasattr(model, "state_dict"):  # a reader's "model" is a plain dict of tensors
            raise StreamLprError(f"not an ultralytics detector checkpoint: {path}")
    checkpoint = checkpoints[0]
    checkpoint["model"].load_state_dict(mean_weights([c["model"].state_dict() for c in checkpoints],
                                                     [str(p) for p in sources]))
    checkpoint["ema"] = None  # ultralytics loads "ema" before "model": it would hide the mean
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, out)
    return out


def export(best: Path, weights_dir: Path, calibration_frames: int = 64) -> tuple[Path, Path, Path]:
    """Copies the .pt to weights/, exports ONNX for a 1280 x 720 frame letterboxed to 640 and
    quantizes that to int8. The export takes other sizes too (dynamic), for still images."""
    import stream_lpr.offline  # noqa: F401
    from ultralytics import YOLO
    from ultralytics.utils.torch_utils import strip_optimizer

    weights_dir.mkdir(parents=True, exist_ok=True)
    pt = weights_dir / "detector.pt"
    shutil.copy(best, pt)
    strip_optimizer(pt)  # a mid-run checkpoint carries optimizer state: 5x the size, no use here
    onnx = Path(YOLO(str(pt)).export(format="onnx", imgsz=(384, 640), opset=17, simplify=False, dynamic=True))
    target = weights_dir / "detector.onnx"
    shutil.move(str(onnx), target)
    return pt, target, quantize_detector(target, weights_dir / "detector.int8.onnx", calibration_frames)
