#!/usr/bin/env python3
"""Throughput and latency of the stream pipeline against the naive one-thread baseline.

    python benchmarks/bench_pipeline.py [--video drive.mp4] [--frames 300]

Without --video it renders a 1280x720 30 fps clip with plates in view (tests/scenes.py) and, when
the system ffmpeg has libx264, re-encodes it to H.264. Runs, one after the other in this process:
  pipeline, CSV only          - the >= 30 fps target
  pipeline, CSV + video       - the >= 25 fps target
  pipeline, live (paced)      - the file played as a camera: latency p95 <= 150 ms target
  pipeline, every frame       - CSV only with detection.every_n_frames 1 (when the config skips frames)
  naive baseline              - ultralytics model.track on every frame in one thread + every crop read
Prints per-stage milliseconds, queue depths, drops, peak memory and the pipeline/naive ratio.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import cv2  # noqa: E402

from stream_lpr.capture import open_source  # noqa: E402
from stream_lpr.cli import load_models, resolve_config_path, resolve_weights  # noqa: E402
from stream_lpr.config import load_config  # noqa: E402
from stream_lpr.overlay import Overlay  # noqa: E402
from stream_lpr.pipeline import Outputs, run_pipeline  # noqa: E402
from stream_lpr.rectify import rectify  # noqa: E402
from stream_lpr.sinks import CsvSink, VideoSink  # noqa: E402

# decode: grabber thread (files); grab: live wait + decode; read: per crop, worker threads;
# output: main thread handing frames to the writer / window; encode: video writer thread.
STAGES = ("decode", "grab", "detect", "track", "read", "draw", "output", "encode")


def make_clip(folder: Path, frames: int) -> Path:
    """A 1280x720 30 fps clip with 2-3 plates in view most of the time; H.264 when possible."""
    from scenes import P_COMMERCIAL, P_KEI, P_LONG, P_PRIVATE, Appearance, write_scene

    n = frames
    appearances = [
        Appearance(P_PRIVATE, 0, n, (200, 450), (1000, 430), 180, 220),
        Appearance(P_KEI, 0, n // 2, (900, 480), (700, 470), 150, 260, seed=1),
        Appearance(P_COMMERCIAL, n // 3, n, (1100, 400), (400, 420), 200, 170, seed=2),
        Appearance(P_LONG, n // 2, n, (500, 500), (600, 520), 160, 240, seed=3),
    ]
    raw = folder / "clip_mp4v.mp4"
    write_scene(raw, appearances, frames)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return raw
    h264 = folder / "clip_h264.mp4"
    result = subprocess.run([ffmpeg, "-y", "-loglevel", "error", "-i", str(raw), "-c:v", "libx264",
                             "-preset", "medium", "-crf", "20", "-pix_fmt", "yuv420p", str(h264)])
    return h264 if result.returncode == 0 else raw


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def run_pipeline_mode(config, video: Path, detector, readers, out_dir: Path, write_video: bool, live: bool) -> dict:
    source = open_source(str(video), config.capture, realtime=live)
    outputs = Outputs(csv=CsvSink(out_dir / "bench.csv"))
    if write_video:
        outputs.video = VideoSink(out_dir / "bench.mp4", source.info.fps, config.output.video_codec)
    overlay = Overlay(config.overlay) if write_video else None
    start = time.perf_counter()
    stats = run_pipeline(config, source, detector, readers, outputs, overlay)
    wall = time.perf_counter() - start
    return {
        "fps": stats.frames / wall, "frames": stats.frames, "wall_s": wall,
        "stages": {s: stats.mean_ms(s) for s in STAGES}, "reads": stats.reads,
        "dropped_frames": stats.dropped_frames, "dropped_reads": stats.dropped_reads,
        "max_frame_queue": stats.max_frame_queue, "max_read_queue": stats.max_read_queue,
        "sightings": stats.sightings, "latency_p95": stats.latency_p95(), "peak_mb": peak_rss_mb(),
    }


def run_naive(config, video: Path, weights: Path, reader) -> dict:
    """ultralytics model.track on every frame, then every crop read, all in one thread."""
    import stream_lpr.offline  # noqa: F401 - no downloads or telemetry; must precede ultralytics
    from ultralytics import YOLO

    model = YOLO(str(weights), task="pose" if str(weights).endswith(".onnx") else None)
    cap = cv2.VideoCapture(str(video))
    frames = reads = 0
    start = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        result = model.track(frame, persist=True, imgsz=config.models.imgsz, conf=config.detection.confidence,
                             device=config.models.device, verbose=False)[0]
        boxes = result.boxes.xyxy.cpu().numpy()
        if result.keypoints is not None and len(result.keypoints):
            corners = result.keypoints.xy.cpu().numpy()[:, :4]
        else:
            corners = [[[x1, y1], [x2, y1], [x2, y2], [x1, y2]] for x1, y1, x2, y2 in boxes]
        crops = [rectify(frame, c) for c in corners]
        if crops:
            reader.read(crops)
            reads += len(crops)
        frames += 1
    wall = time.perf_counter() - start
    cap.release()
    return {"fps": frames / wall, "frames": frames, "wall_s": wall, "reads": reads, "peak_mb": peak_rss_mb()}


def print_row(name: str, r: dict) -> None:
    stages = "  ".join(f"{s} {r['stages'][s]:5.1f}" for s in STAGES) if "stages" in r else ""
    extra = ""
    if "dropped_frames" in r:
        extra = (f"  drops frames {r['dropped_frames']} reads {r['dropped_reads']}  max queues frame "
                 f"{r['max_frame_queue']} read {r['max_read_queue']}  sightings {r['sightings']}")
    if r.get("latency_p95") is not None:
        extra += f"  latency p95 {r['latency_p95']:.0f} ms"
    print(f"{name:<26} {r['fps']:6.1f} fps  ({r['frames']} frames, {r['reads']} reads, peak RSS {r['peak_mb']:.0f} MB)")
    if stages:
        print(f"{'':<26} mean ms per call: {stages}")
    if extra:
        print(f"{'':<26}{extra}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, help="input video (default: a generated 1280x720 clip)")
    parser.add_argument("--frames", type=int, default=300, help="length of the generated clip")
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--naive-weights", type=Path,
                        help="detector file for the naive baseline (default: the pipeline's, so only the design differs)")
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    config_path = resolve_config_path(args.config)
    config = load_config(config_path)
    work = Path(tempfile.mkdtemp(prefix="bench_lpr_"))
    video = args.video or make_clip(work, args.frames)
    cap = cv2.VideoCapture(str(video))
    print(f"input: {video}  {int(cap.get(3))}x{int(cap.get(4))} @ {cap.get(5):.0f} fps, "
          f"codec {int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, 'little').decode(errors='replace')}, "
          f"{int(cap.get(7))} frames; cores: {os.cpu_count()}; device: {config.models.device}")
    cap.release()
    detector, readers = load_models(config, config_path)
    results = {
        "pipeline, CSV only": run_pipeline_mode(config, video, detector, readers, work, False, False),
        "pipeline, CSV + video": run_pipeline_mode(config, video, detector, readers, work, True, False),
        "pipeline, live (paced)": run_pipeline_mode(config, video, detector, readers, work, True, True),
    }
    if config.detection.every_n_frames > 1:
        every = replace(config, detection=replace(config.detection, every_n_frames=1))
        results["pipeline, every frame detected, CSV only"] = run_pipeline_mode(every, video, detector, readers, work,
                                                                              False, False)
    if not args.skip_naive:
        weights = args.naive_weights or resolve_weights(config.models.detector, config_path)
        results["naive model.track"] = run_naive(config, video, weights, readers[0])
    for name, r in results.items():
        print_row(name, r)
    if "naive model.track" in results:
        ratio = results["pipeline, CSV only"]["fps"] / results["naive model.track"]["fps"]
        print(f"speed-up over naive (CSV only): {ratio:.2f}x")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
