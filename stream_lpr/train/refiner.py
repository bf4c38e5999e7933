"""Corner refiner training on rendered plates.

A plate costs about 15 ms to render and the refiner's step on 64 contexts a tenth of that, so
plates are rendered once, to shard files (data/refiner by default), each with several sets of
detector-like corners (crops.refiner_sample()); every step cuts its contexts from them afresh,
with a little more corner noise, so the network rarely sees one context twice. Shards survive a
restart; checkpoints go to run_dir/checkpoint.pt and resume.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from stream_lpr.refine import RefinerNet, context, export_onnx, to_offsets
from stream_lpr.synth.compose import load_scenes
from stream_lpr.synth.crops import PLATE_IN_CANVAS, refiner_sample

SHARD_SIZE = 500
# Offsets are in plate widths; a plate is half as tall as wide, and a crop a few percent of its
# height off cuts the small upper row: y errors count twice.
_AXES = torch.tensor([1.0, 2.0] * 4)
CHECKPOINT_EVERY = 250


def write_shard(directory: Path, index: int, seed: int, size: int = SHARD_SIZE, split: str = "train") -> Path:
    torch.set_num_threads(1)
    rng = np.random.default_rng([seed, index])
    scenes = load_scenes(split=split)
    samples = [refiner_sample(rng, scenes) for _ in range(size)]
    path = directory / f"shard_{index:06d}.npz"
    tmp = directory / f".shard_{index:06d}.tmp.npz"
    np.savez(tmp, canvases=np.stack([s.canvas for s in samples]), guesses=np.stack([s.guesses for s in samples]))
    tmp.replace(path)  # a stopped run never leaves half a shard
    return path


def make_shards(directory: Path, count: int, seed: int, jobs: int, size: int = SHARD_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Renders the shards `directory` lacks; returns all `count` shards' canvases and guesses."""
    directory.mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(count) if not (directory / f"shard_{i:06d}.npz").exists()]
    if missing:
        with mp.get_context("spawn").Pool(min(jobs, len(missing))) as pool:
            done = pool.imap_unordered(_write, [(directory, i, seed, size) for i in missing])
            for _ in tqdm(done, total=len(missing), desc=f"rendering plates to {directory}", unit="shard"):
                pass
    loaded = [np.load(directory / f"shard_{i:06d}.npz") for i in range(count)]
    return np.concatenate([s["canvases"] for s in loaded]), np.concatenate([s["guesses"] for s in loaded])


def _write(args: tuple) -> Path:
    return write_shard(*args)


def batch(canvases: np.ndarray, guesses: np.ndarray, index: np.ndarray, rng: np.random.Generator,
          jitter: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Contexts cut from plates `index`, each from one of its guesses moved by `jitter` px more
    (canvas pixels: a hundredth of the plate's width), and their target offsets."""
    crops, targets = [], []
    for i in index:
        guess = guesses[i, rng.integers(guesses.shape[1])] + rng.normal(0, jitter, (4, 2)).astype(np.float32)
        crop, matrix = context(canvases[i], guess)
        crops.append(crop)
        targets.append(to_offsets(cv2.perspectiveTransform(PLATE_IN_CANVAS.reshape(-1, 1, 2), matrix).reshape(4, 2)))
    return np.stack(crops), np.stack(targets)


def corner_error(offsets: np.ndarray, targets: np.ndarray) -> float:
    """Mean distance of a corner from the truth, in plate widths."""
    return float(np.linalg.norm((offsets - targets).reshape(-1, 4, 2), axis=2).mean())


def train(data_dir: Path, run_dir: Path, weights_dir: Path, shards: int, seed: int, minutes: float,
          batch_size: int = 64, lr: float = 2e-3, jobs: int = 2, val_size: int = 1000,
          shard_size: int = SHARD_SIZE) -> Path:
    """Trains for `minutes` (the learning rate decays over them) on `shards` shards of plates,
    scoring `val_size` plates of another seed at each checkpoint."""
    canvases, guesses = make_shards(data_dir, shards, seed, jobs, shard_size)
    val_canvases, val_guesses = make_shards(data_dir / "val", -(-val_size // shard_size), seed + 10_000, jobs, shard_size)
    val_x, val_t = batch(val_canvases, val_guesses, np.arange(val_size), np.random.default_rng(seed + 1))

    torch.manual_seed(seed)
    torch.set_num_threads(max(1, mp.cpu_count() or 1))
    run_dir.mkdir(parents=True, exist_ok=True)
    weights_dir.mkdir(parents=True, exist_ok=True)
    model, config = RefinerNet(), {}
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    checkpoint, step, spent = run_dir / "checkpoint.pt", 0, 0.0
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, spent = state["step"], state["seconds"]
        print(f"resuming {checkpoint} at step {step}")
    rng = np.random.default_rng([seed, step])
    weights = weights_dir / "refiner.pt"
    began = time.time() - spent
    bar = tqdm(total=int(minutes * 60), initial=int(spent), desc="refiner", unit="s")
    running = None
    while True:
        progress = (time.time() - began) / (60 * minutes)
        x, t = batch(canvases, guesses, rng.integers(0, len(canvases), batch_size), rng)
        model.train()
        loss = torch.nn.functional.smooth_l1_loss(model(torch.from_numpy(x)) * _AXES, torch.from_numpy(t) * _AXES, beta=0.02)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for group in optimizer.param_groups:  # warm up for 200 steps, then a cosine over the time
            group["lr"] = lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + float(np.cos(np.pi * min(progress, 1.0))))
        optimizer.step()
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        bar.update(int(time.time() - began) - bar.n)
        bar.set_postfix(step=step, loss=f"{running:.4f}")
        if step % CHECKPOINT_EVERY == 0 or progress >= 1.0:
            model.eval()
            with torch.inference_mode():
                found = model(torch.from_numpy(val_x)).numpy()
            bar.write(f"step {step}: corner error {corner_error(found, val_t):.4f} plate widths "
                      f"(the guesses' {corner_error(np.zeros_like(val_t), val_t):.4f})")
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                        "seconds": time.time() - began, "config": config}, checkpoint)
            torch.save({"model": model.state_dict(), "config": config}, weights)
        if progress >= 1.0:
            break
    bar.close()
    export_onnx(weights, weights.with_suffix(".onnx"))
    return weights
