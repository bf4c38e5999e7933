"""One reader run on the lent GPU, from weights/reader.pt; its weights come back in half precision
as $OUT/NAME.pt (`python -m stream_lpr.train average` makes them float here).

The `__main__` guard matters: the render processes are spawned and import this file again.
Without it (session 23's first call) every one of them died at start, and the trainers trained
for 7 minutes on the 1024 plates they rendered themselves: validation exact 0.80 -> 0.49.
"""

import argparse
import os
import signal
import time
from pathlib import Path

import torch

from stream_lpr.synth.crops import SampleDraw
from stream_lpr.train import reader


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--minutes", type=float, required=True)
    p.add_argument("--workers", type=int, default=0, help="render processes; 0: read the first run's shards")
    p.add_argument("--width", type=int, default=28)
    p.add_argument("--depth", type=int, default=0)
    p.add_argument("--block-lr-scale", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--device", default="cuda")
    a = p.parse_args()
    # a script's background job starts with SIGINT ignored: take it back, so `timeout -s INT` stops the run
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    run = Path(os.environ["RUNS"]) / a.name
    # session 19's shares (docs/measurements.md): without them the reader guesses hidden digits again
    draw = SampleDraw(largest=200, occlude=0.15, mask=0.1, any_kana=0.25, cut=0.12)
    began = time.time()
    try:
        reader.train(run, run / "w", steps=10**7, batch=a.batch, seed=a.seed, workers=a.workers, lr=a.lr,
                     device=a.device, data_dir=Path(os.environ["SHARDS"]), init=Path("weights/reader.pt"),
                     minutes=a.minutes, width=a.width, depth=a.depth, block_lr_scale=a.block_lr_scale, draw=draw)
    except KeyboardInterrupt:
        print(f"{a.name}: stopped at {time.time() - began:.0f} s", flush=True)
    state = torch.load(run / "w" / "reader.pt", map_location="cpu", weights_only=True)
    state["model"] = {k: v.half() if v.is_floating_point() else v for k, v in state["model"].items()}
    torch.save(state, Path(os.environ["OUT"]) / f"{a.name}.pt")  # a float width-28 reader is 14.5 MB
    print(f"{a.name}: saved after {time.time() - began:.0f} s", flush=True)


if __name__ == "__main__":
    main()
