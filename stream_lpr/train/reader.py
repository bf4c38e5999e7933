"""Reader training on rendered plates.

Rendering a plate costs about 15 ms of CPU, a training step on 64 plates about 270 ms, so fresh
plates alone would keep the trainer waiting. Generator processes write rendered plates to shard
files (data/reader by default); the trainer keeps the newest shards in memory, reads every new
plate once as soon as it arrives and fills the rest of each batch with older plates, lightly
re-warped so a plate seen twice is not the same image twice. Shards survive a restart.

Checkpoints to run_dir/checkpoint.pt every few hundred steps and writes weights/reader.pt at
the same time, so a stopped run resumes where it was and always leaves usable weights.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from stream_lpr import plate_format as pf
from stream_lpr.errors import StreamLprError
from stream_lpr.recognition import HEADS, ReaderNet, network_shape, to_tensor
from stream_lpr.rectify import PLATE_SIZE
from stream_lpr.synth.compose import load_scenes
from stream_lpr.synth.crops import SampleDraw, reader_sample
from stream_lpr.train.averaging import mean_weights

CHECKPOINT_EVERY = 250
SHARD_SIZE = 512  # plates per shard file: about 12 MB


def targets(plates: list[pf.PlateText]) -> dict[str, np.ndarray]:
    encoded = [pf.encode(p) for p in plates]
    return {name: np.array([e[name] for e in encoded]) for name in HEADS}


def render_batch(seed: list[int], size: int, split: str = "train",
                 draw: SampleDraw = SampleDraw()) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    scenes = load_scenes(split=split)
    samples = [reader_sample(rng, scenes, draw=draw) for _ in range(size)]
    return np.stack([s.crop for s in samples]), targets([s.text for s in samples])


def write_shard(directory: Path, index: int, seed: int, size: int, draw: SampleDraw = SampleDraw()) -> Path:
    crops, target = render_batch([seed, index], size, draw=draw)
    path = directory / f"shard_{index:06d}.npz"
    tmp = directory / f".shard_{index:06d}.tmp.npz"
    np.savez(tmp, crops=crops, **target)
    tmp.replace(path)  # the trainer never sees a half-written shard
    return path


def _generate(directory: Path, seed: int, first: int, stride: int, size: int, draw: SampleDraw) -> None:
    torch.set_num_threads(1)
    index, trainer = first, os.getppid()
    while os.getppid() == trainer:  # a killed trainer cannot stop us: stop with it
        if not (directory / f"shard_{index:06d}.npz").exists():
            write_shard(directory, index, seed, size, draw)
        index += stride


def check_renderers(processes: list) -> None:
    """Stops a run whose render processes have all died (a driver script without a `__main__`
    guard kills each at start: spawn imports it again). Without them the run would wait forever
    for its first plates, or train on the plates in memory over and over (session 23 lost its GPU
    minutes that way)."""
    if processes and not any(process.is_alive() for process in processes):
        codes = sorted({process.exitcode for process in processes}, key=str)
        raise StreamLprError(f"every plate-rendering process stopped (exit codes {codes}; their error is above)")


def prune_shards(directory: Path, keep: int) -> None:
    """Deletes all but the newest `keep` shards: older ones would never be loaded again, and
    a long run renders several GB an hour."""
    for path in sorted(directory.glob("shard_*.npz"))[:-keep]:
        path.unlink(missing_ok=True)


class SampleBank:
    """The newest `capacity` plates in memory, in a ring; plates not yet trained on go first."""

    def __init__(self, capacity: int, seed: int):
        self.capacity, self.size, self.head = capacity, 0, 0
        self.rng = np.random.default_rng(seed)
        self.crops = np.empty((capacity, PLATE_SIZE[1], PLATE_SIZE[0], 3), np.uint8)  # pages fill as written
        self.target: dict[str, np.ndarray] = {}
        self.unseen: list[int] = []
        self.loaded: set[str] = set()

    def __len__(self) -> int:
        return self.size

    def load_new(self, directory: Path, newest: int | None = None) -> int:
        names = sorted(p.name for p in directory.glob("shard_*.npz") if p.name not in self.loaded)
        if newest is not None:
            self.loaded.update(names[:-newest])
            names = names[-newest:]
        for name in names:
            with np.load(directory / name) as shard:
                self._add(shard["crops"], {k: shard[k] for k in HEADS})
            self.loaded.add(name)
        return len(names)

    def _add(self, crops: np.ndarray, target: dict[str, np.ndarray]) -> None:
        if not self.target:
            self.target = {k: np.empty((self.capacity,) + v.shape[1:], v.dtype) for k, v in target.items()}
        rows = (self.head + np.arange(len(crops))) % self.capacity
        self.crops[rows] = crops
        for k, v in target.items():
            self.target[k][rows] = v
        self.head = int(rows[-1] + 1) % self.capacity
        self.size = min(self.capacity, self.size + len(crops))
        written = set(rows.tolist())
        self.unseen = [i for i in self.unseen if i not in written] + rows.tolist()

    def batch(self, size: int) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
        """A batch: unseen plates first, the rest drawn at random. Also returns how many were new."""
        fresh, self.unseen = self.unseen[:size], self.unseen[size:]
        rest = self.rng.integers(0, self.size, size - len(fresh))
        index = np.concatenate([np.array(fresh, dtype=np.int64), rest])
        return self.crops[index], {k: v[index] for k, v in self.target.items()}, len(fresh)


def rewarp(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Small random affine warp and brightness/contrast change, the size of detector corner
    error, so a reused plate is not the same image twice. x may sit on any device; the random
    numbers come from the CPU generator so a run is seeded the same everywhere."""
    n = x.shape[0]
    u = lambda lo, hi: (torch.rand(n, generator=generator) * (hi - lo) + lo).to(x.device)  # noqa: E731
    scale, angle = u(0.96, 1.04), u(-0.02, 0.02)
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0], theta[:, 0, 1] = scale * torch.cos(angle), -scale * torch.sin(angle) * 0.5
    theta[:, 1, 0], theta[:, 1, 1] = scale * torch.sin(angle) * 2.0, scale * torch.cos(angle)
    theta[:, 0, 2], theta[:, 1, 2] = u(-0.04, 0.04), u(-0.05, 0.05)
    grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    x = nn.functional.grid_sample(x, grid, padding_mode="border", align_corners=False)
    return (x * u(0.75, 1.25).view(n, 1, 1, 1) + u(-0.2, 0.2).view(n, 1, 1, 1)).clamp_(-1, 1)


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


def learning_rate(step: int, steps: int, peak: float, progress: float | None = None) -> float:
    """Short warm-up, then cosine decay to 2% of peak: a pure function of the step, so a run
    resumed with a larger --steps simply stretches the decay. A run with a time budget passes
    the fraction of its time spent as `progress` instead."""
    warmup = max(1, min(300, steps // 20))
    if step < warmup:
        return peak * (step + 1) / warmup
    if progress is None:
        progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * min(1.0, progress))))


def widen(weights: dict[str, torch.Tensor], new_width: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A trained reader's weights for a network of `new_width` that computes the same function
    (Net2Net's widening): every new channel copies a random old one, and the layer after it
    splits that channel's outgoing weights between the copies. The split is uneven and random,
    so the copies get different gradients and can grow apart in training."""
    if any(k.startswith("extra.") for k in weights):
        raise StreamLprError("widen a reader before deepening it, not after")
    rng = np.random.default_rng(seed)
    weights = {k: v.detach().cpu() for k, v in weights.items()}  # the run may have loaded them onto a GPU
    wide = ReaderNet(width=new_width, hidden=weights["neck.2.weight"].shape[0])
    shapes = {k: v.shape for k, v in wide.state_dict().items()}
    out = {k: v.clone() for k, v in weights.items()}
    source, share = np.arange(3), np.ones(3)  # the image's channels: not widened
    convs = [k[: -len(".0.weight")] for k in weights if k.startswith("features.") and k.endswith(".0.weight")]
    for prefix in convs:  # in network order: features.0, features.1, features.3, ...
        old = weights[prefix + ".0.weight"]
        grown = shapes[prefix + ".0.weight"][0]
        copy = np.concatenate([np.arange(old.shape[0]), rng.integers(0, old.shape[0], grown - old.shape[0])])
        kernel = old[copy][:, source] * torch.from_numpy(share).float()[None, :, None, None]
        out[prefix + ".0.weight"] = kernel
        for name in ("weight", "bias", "running_mean", "running_var"):
            out[f"{prefix}.1.{name}"] = weights[f"{prefix}.1.{name}"][copy].clone()
        source, share = copy, _split_shares(copy, rng)
    # The neck sees the last block's channels flattened with their 4 x 8 positions.
    linear = weights["neck.2.weight"]
    cells = linear.shape[1] // weights[convs[-1] + ".0.weight"].shape[0]
    columns = (source[:, None] * cells + np.arange(cells)[None, :]).reshape(-1)
    out["neck.2.weight"] = linear[:, columns] * torch.from_numpy(np.repeat(share, cells)).float()[None, :]
    return out


def deepen(weights: dict[str, torch.Tensor], config: dict, depth: int) -> dict[str, torch.Tensor]:
    """A trained reader's weights for the same network with `depth` residual blocks, computing
    the same function: the new blocks start as the identity (recognition._Residual)."""
    deep = ReaderNet(**{**config, "depth": depth}).state_dict()
    deep.update({k: v.detach().cpu() for k, v in weights.items()})
    return deep


def _split_shares(copy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each new channel, its share of its old channel's outgoing weights (shares sum to 1)."""
    share = rng.uniform(0.3, 1.0, len(copy))
    totals = np.bincount(copy, weights=share)
    return share / totals[copy]


def save_weights(model: ReaderNet, path: Path, config: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # CPU tensors: weights trained on a GPU must load on a machine without one
    torch.save({"model": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "config": config}, tmp)
    tmp.replace(path)  # never leave a half-written weights file behind


def average_weights(sources: list[Path], out: Path) -> Path:
    """Writes the mean of several readers' weights (train.averaging)."""
    states = [torch.load(path, map_location="cpu", weights_only=True) for path in sources]
    shapes = [network_shape(state.get("config")) for state in states]
    config = shapes[0]
    if any(shape != config for shape in shapes):
        raise StreamLprError("cannot average readers of different shapes: " + ", ".join(
            f"{path} {shape}" for path, shape in zip(sources, shapes)))
    model = ReaderNet(**config)
    model.load_state_dict(mean_weights([state["model"] for state in states], [str(p) for p in sources]))
    save_weights(model, out, config)
    return out


def use_bfloat16(precision: str, device: str) -> bool:
    """Whether to train under bfloat16 autocast. "auto" does on a CPU that computes bfloat16 natively
    (AVX512-BF16 or AMX: steps take about half the time, session 25) and nowhere else: a GPU's
    float32 runs are what the lent-GPU kit was measured with."""
    if precision not in ("auto", "bf16", "fp32"):
        raise StreamLprError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    if precision == "auto":
        return torch.device(device).type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return precision == "bf16"


def train(run_dir: Path, weights_dir: Path, steps: int, batch: int, seed: int, workers: int = 1,
          lr: float = 2e-3, device: str = "cpu", val_size: int = 512, data_dir: Path | None = None,
          init: Path | None = None, bank_size: int = 160_000, minutes: float | None = None, width: int = 16,
          depth: int = 0, block_lr_scale: float = 1.0, draw: SampleDraw = SampleDraw(),
          precision: str = "auto") -> Path:
    """Trains for `steps` steps, or until `minutes` have passed when given (the learning rate
    then decays over the time instead of the steps). `draw`: how training plates differ from the
    test set's (the validation plates are drawn as the test set's). `precision`: see
    `use_bfloat16`."""
    torch.manual_seed(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir or run_dir / "shards"
    data_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path, start = run_dir / "checkpoint.pt", 0
    resume = checkpoint_path.exists()
    source = checkpoint_path if resume else init
    state = torch.load(source, map_location=device, weights_only=not resume) if source else None
    # Weights carry their network's shape; a run from them keeps it, unless --width or --depth
    # asks a new run for a wider or deeper network: that starts as the same function (widen(),
    # deepen()).
    config = network_shape(state.get("config") if state else {"width": width, "depth": depth})
    if state is not None and not resume and width > config["width"]:
        state = {"model": widen(state["model"], width, seed), "config": {**config, "width": width}}
        print(f"widened the weights in {init} from {config['width']} to {width} channels")
        config = state["config"]
    if state is not None and not resume and depth > config["depth"]:
        state = {"model": deepen(state["model"], config, depth), "config": {**config, "depth": depth}}
        print(f"deepened the weights in {init} to {depth} residual blocks")
        config = state["config"]
    model = ReaderNet(**config).to(device)
    # Residual blocks just added start at zero and have everything to learn, while the trained
    # layers around them should move little: the blocks may get a larger learning rate.
    blocks = [p for name, p in model.named_parameters() if name.startswith("extra.")]
    rest = [p for name, p in model.named_parameters() if not name.startswith("extra.")]
    groups = [{"params": rest, "scale": 1.0}] + ([{"params": blocks, "scale": block_lr_scale}] if blocks else [])
    optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=1e-4)
    if state is not None:
        model.load_state_dict(state["model"])
    if resume:
        optimizer.load_state_dict(state["optimizer"])
        start = state["step"]
        print(f"resuming {checkpoint_path} at step {start}")
    elif state is not None:
        print(f"starting from the weights in {init}")
    weights = weights_dir / "reader.pt"
    if start >= steps:  # nothing to train (--steps 0): write the start, e.g. widened weights for several runs to share
        save_weights(model, weights, config)
        return weights
    if workers and device == "cpu":
        torch.set_num_threads(max(1, (mp.cpu_count() or 2) - workers))
    bf16 = use_bfloat16(precision, device)
    print(f"training in {'bfloat16 (autocast)' if bf16 else 'float32'} on {device}")
    val_crops, val_target = render_batch([seed + 10_000], val_size, split="test")
    val_x, val_t = to_tensor(val_crops).to(device), {k: torch.from_numpy(v).to(device) for k, v in val_target.items()}

    bank = SampleBank(bank_size, seed * 1000 + start)
    bank.load_new(data_dir, newest=bank_size // SHARD_SIZE)
    # After the newest shard, not after the count on disk: pruning leaves gaps at the start.
    first = max((int(p.stem.split("_")[1]) + 1 for p in data_dir.glob("shard_*.npz")), default=0)
    context = mp.get_context("spawn")  # no forked copy of the trainer's torch threads
    generators = [context.Process(target=_generate, daemon=True,
                                  args=(data_dir, seed, first + k, workers, SHARD_SIZE, draw))
                  for k in range(workers)]
    for process in generators:
        process.start()
    min_bank = min(4 * SHARD_SIZE, 4 * batch)  # plates in memory before the first step
    if len(bank) < min_bank and not workers:  # no render process: render them here
        write_shard(data_dir, first, seed, min_bank, draw)
    while len(bank) < min_bank:
        if workers:
            time.sleep(1.0)
            check_renderers(generators)
        bank.load_new(data_dir)
    bar = tqdm(total=steps, initial=start, desc="reader", unit="step")
    running, began, fresh_total = None, time.time(), 0
    generator = torch.Generator().manual_seed(seed * 1000 + start)
    try:
        for step in range(start, steps):
            if step % 10 == 0:
                bank.load_new(data_dir)
                check_renderers(generators)
            crops, target, fresh = bank.batch(batch)
            fresh_total += fresh
            # uint8 to the device first: a quarter of the bytes, and the warp runs there
            x = rewarp(to_tensor(torch.from_numpy(crops).to(device, non_blocking=True)), generator)
            with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(x)
            loss = loss_fn({k: v.float() for k, v in logits.items()},
                           {k: torch.from_numpy(v).to(device) for k, v in target.items()})
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            progress = None if minutes is None else (time.time() - began) / (60 * minutes)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, steps, lr, progress) * group["scale"]
            optimizer.step()
            value = loss.item()
            running = value if running is None else 0.98 * running + 0.02 * value
            bar.update(1)
            bar.set_postfix(loss=f"{running:.3f}", bank=len(bank))
            out_of_time = progress is not None and progress >= 1.0
            if (step + 1) % CHECKPOINT_EVERY == 0 or step + 1 == steps or out_of_time:
                acc = quick_accuracy(model, val_x, val_t)
                bar.write(f"step {step + 1}: loss {running:.3f} " + " ".join(f"{k} {v:.3f}" for k, v in acc.items())
                          + f" bank {len(bank)} fresh {fresh_total} ({time.time() - began:.0f} s)")
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "step": step + 1, "config": config}, checkpoint_path)
                save_weights(model, weights, config)
                prune_shards(data_dir, keep=bank_size // SHARD_SIZE + 1)
            if out_of_time:
                break
    finally:
        for process in generators:
            process.terminate()
        bar.close()
    return weights
