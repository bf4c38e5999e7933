#!/usr/bin/env python3
"""What a fixed camera's still picture saves: the idle detector (detection.idle_every_s) and parked
plates read seldom once settled (read_policy.settled_reads_per_s), and what they cost.

    python benchmarks/bench_idle.py [--seconds 20]

Renders a 1280 x 720 30 fps clip of a fixed camera (tests/scenes.py): a car parked in view the
whole time, two cars driving in (at 5 s and at 13 s, 3 s each), and sensor noise on every
frame, as a real camera's still picture has. Runs it through the pipeline (CSV only) with both
(the defaults), without the idle detector, and with neither (as session 44 ran), each as a file
(as fast as it goes) and played as a live camera (paced at 30 fps: CPU seconds per second of
video is what a camera costs). Prints detector runs, frames idle, reads, fps, CPU share and the
sightings of each.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from stream_lpr.capture import open_source  # noqa: E402
from stream_lpr.cli import load_models, resolve_config_path  # noqa: E402
from stream_lpr.config import load_config  # noqa: E402
from stream_lpr.pipeline import Outputs, run_pipeline  # noqa: E402
from stream_lpr.sinks import CsvSink  # noqa: E402


def make_clip(path: Path, seconds: int) -> None:
    from scenes import P_COMMERCIAL, P_KEI, P_PRIVATE, Appearance, write_scene

    n = 30 * seconds
    # the moving cars keep to the left half, clear of the parked one
    write_scene(path, [Appearance(P_KEI, 0, n, (1050, 470), (1050, 470), 200, 200, seed=1),
                       Appearance(P_PRIVATE, 150, 240, (-100, 450), (420, 440), 190, 210),
                       Appearance(P_COMMERCIAL, 390, 480, (-100, 420), (380, 430), 180, 200, seed=2)], n,
                noise=3, seed=0)


def run(config, clip: Path, models, out: Path, live: bool) -> dict:
    source = open_source(str(clip), config.capture, realtime=live)
    outputs = Outputs(csv=CsvSink(out))
    wall, cpu = time.perf_counter(), time.process_time()
    stats = run_pipeline(config, source, models[0], models[1], outputs, None)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    return {"frames": stats.frames, "detections": stats.stage_n["detect"], "idle": stats.idle_frames,
            "fps": stats.frames / wall, "cpu_share": cpu / wall, "detect_ms": stats.mean_ms("detect"),
            "reads": stats.reads, "dropped": stats.dropped_frames,
            "plates": sorted((r["plate"], int(r["first_frame"]), int(r["last_frame"]), int(r["reads"])) for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    config_path = resolve_config_path("config.yaml")
    base = load_config(config_path)
    models = load_models(base, config_path)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "fixed_camera.mp4"
        print(f"rendering a {args.seconds} s fixed-camera clip ...", flush=True)
        make_clip(clip, args.seconds)
        variants = (("both (the defaults)", {}), ("no idle detector", {"detection.idle_every_s": 0}),
                    ("neither", {"detection.idle_every_s": 0,
                                 "read_policy.settled_reads_per_s": base.read_policy.stable_reads_per_s}))
        for live in (False, True):
            for name, overrides in variants:
                r = run(load_config(config_path, overrides), clip, models, Path(tmp) / "s.csv", live)
                print(f"{'live (paced)' if live else 'file        '}  {name:<20}: "
                      f"{r['detections']:4d} detector runs, {r['idle']:4d} frames idle, {r['reads']:4d} reads, "
                      f"{r['fps']:5.1f} fps, CPU {100 * r['cpu_share']:5.1f} % of a core, "
                      f"detect {r['detect_ms']:5.1f} ms, {r['dropped']} frames dropped", flush=True)
                print(f"    sightings (plate, first frame, last frame, reads): {r['plates']}", flush=True)


if __name__ == "__main__":
    main()
