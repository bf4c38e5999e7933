"""Reader training on rendered plates generated on the fly (never the same plate twice).

Checkpoints to run_dir/checkpoint.pt every few hundred steps and writes weights/reader.pt at
the same time, so a stopped run resumes where it was and always leaves usable weights.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from tqdm import tqdm

from stream_lpr import plate_format as pf
from stream_lpr.recognition import HEADS, ReaderNet, to_tensor
from stream_lpr.synth.compose import load_scenes
from stream_lpr.synth.crops import reader_sample

CHECKPOINT_EVERY = 250


def targets(plates: list[pf.PlateText]) -> dict[str, torch.Tensor]:
    encoded = [pf.encode(p) for p in plates]
    return {name: torch.tensor([e[name] for e in encoded]) for name in HEADS}


class PlateStream(IterableDataset):
    """Endless batches of (crops, targets); each worker and each resume gets its own seed."""

    def __init__(self, seed: int, batch: int, split: str = "train"):
        self.seed, self.batch, self.split = seed, batch, split

    def __iter__(self):
        info = get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0])
        scenes = load_scenes(split=self.split)
        while True:
            samples = [reader_sample(rng, scenes) for _ in range(self.batch)]
            yield to_tensor([s.crop for s in samples]), targets([s.text for s in samples])


def loss_fn(logits: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> torch.Tensor:
    ce = nn.functional.cross_entropy
    n = target["region"].shape[0]
    loss = ce(logits["region"], target["region"], label_smoothing=0.05)
    loss = loss + ce(logits["kana"], target["kana"], label_smoothing=0.05)
    loss = loss + 0.5 * ce(logits["plate_type"], target["plate_type"])
    loss = loss + pf.CLASS_SLOTS * ce(logits["class_number"].view(n * pf.CLASS_SLOTS, -1), target["class_number"].view(-1))
    loss = loss + pf.NUMBER_SLOTS * ce(logits["number"].view(n * pf.NUMBER_SLOTS, -1), target["number"].view(-1))
    return loss


@torch.no_grad()
def quick_accuracy(model: nn.Module, crops: torch.Tensor, target: dict[str, torch.Tensor]) -> dict[str, float]:
    """Per-head argmax accuracy and all-heads-right rate (without the grammar) on a fixed set."""
    model.eval()
    logits = model(crops)
    model.train()
    n = crops.shape[0]
    right = {
        "region": logits["region"].argmax(-1) == target["region"],
        "class": (logits["class_number"].view(n, pf.CLASS_SLOTS, -1).argmax(-1) == target["class_number"]).all(-1),
        "kana": logits["kana"].argmax(-1) == target["kana"],
        "number": (logits["number"].view(n, pf.NUMBER_SLOTS, -1).argmax(-1) == target["number"]).all(-1),
        "type": logits["plate_type"].argmax(-1) == target["plate_type"],
    }
    out = {k: float(v.float().mean()) for k, v in right.items()}
    out["exact"] = float(torch.stack([right[k] for k in ("region", "class", "kana", "number")]).all(0).float().mean())
    return out


def learning_rate(step: int, steps: int, peak: float) -> float:
    """Short warm-up, then cosine decay to 2% of peak: a pure function of the step, so a run
    resumed with a larger --steps simply stretches the decay."""
    warmup = max(1, min(300, steps // 20))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return peak * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * progress)))


def save_weights(model: ReaderNet, path: Path, config: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "config": config}, tmp)
    tmp.replace(path)  # never leave a half-written weights file behind


def train(run_dir: Path, weights_dir: Path, steps: int, batch: int, seed: int, workers: int = 1,
          lr: float = 2e-3, device: str = "cpu", val_size: int = 512) -> Path:
    torch.manual_seed(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {"width": 16, "hidden": 384}
    model = ReaderNet(**config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    checkpoint_path, start = run_dir / "checkpoint.pt", 0
    if checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["step"]
        print(f"resuming {checkpoint_path} at step {start}")
    val_crops, val_target = next(iter(PlateStream(seed + 10_000, val_size, split="test")))
    stream = PlateStream(seed * 1000 + start, batch)
    loader = DataLoader(stream, batch_size=None, num_workers=workers, prefetch_factor=4 if workers else None,
                        persistent_workers=bool(workers))
    weights = weights_dir / "reader.pt"
    bar = tqdm(total=steps, initial=start, desc="reader", unit="step")
    running, began = None, time.time()
    for step, (crops, target) in zip(range(start, steps), loader):
        loss = loss_fn(model(crops.to(device)), {k: v.to(device) for k, v in target.items()})
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps, lr)
        optimizer.step()
        value = loss.item()
        running = value if running is None else 0.98 * running + 0.02 * value
        bar.update(1)
        bar.set_postfix(loss=f"{running:.3f}")
        if (step + 1) % CHECKPOINT_EVERY == 0 or step + 1 == steps:
            acc = quick_accuracy(model, val_crops.to(device), {k: v.to(device) for k, v in val_target.items()})
            bar.write(f"step {step + 1}: loss {running:.3f} " + " ".join(f"{k} {v:.3f}" for k, v in acc.items())
                      + f" ({time.time() - began:.0f} s)")
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "step": step + 1}, checkpoint_path)
            save_weights(model, weights, config)
    bar.close()
    return weights
