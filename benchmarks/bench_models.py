#!/usr/bin/env python3
"""Speed of the models on this machine's CPU.

    python benchmarks/bench_models.py [--repeats 50]

Reader: milliseconds per plate for a batch of 8 rectified plates (target <= 3 ms), for the ONNX
export through onnxruntime (what the pipeline runs on CPU) and the .pt file through torch, each
plate read once; and for the int8 export read at read_policy.views shifts (as the pipeline reads
a video's plates).
Detector: milliseconds per 1280 x 720 frame, end to end (letterbox, forward, NMS, corners), for
the int8 and float ONNX exports through onnxruntime (target <= 40 ms) and the PyTorch .pt file
through ultralytics; and for int8 still photos (1920 x 1080 and a 12 MP phone's 4032 x 3024),
which are also seen at detection.still_size (or half their size) and at close_up_size, without and
with the passes turned detection.still_turn degrees each way.
Corner refiner: milliseconds per plate for the plates of composed frames, context warps and
second looks included.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stream_lpr.config import DetectionConfig, ReadPolicyConfig  # noqa: E402
from stream_lpr.detection import PlateDetector  # noqa: E402
from stream_lpr.recognition import PlateReader  # noqa: E402
from stream_lpr.refine import CornerRefiner  # noqa: E402
from stream_lpr.synth.compose import compose  # noqa: E402
from stream_lpr.synth.crops import detector_like, reader_sample  # noqa: E402


def _time_ms(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up: first calls build kernels and sessions
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), float(np.percentile(times, 95))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--weights", type=Path, default=ROOT / "weights")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads available")

    crops = [reader_sample(rng, None).crop for _ in range(8)]
    views = ReadPolicyConfig().views
    runs = [(name, 1) for name in ("reader.onnx", "reader.int8.onnx", "reader.pt")]  # onnxruntime float and int8, torch
    for name, view_count in runs + [("reader.int8.onnx", views)]:
        for threads in (1, 2):
            reader = PlateReader(args.weights / name, threads=threads)
            median, p95 = _time_ms(lambda: reader.read(crops, view_count), args.repeats)
            print(f"{name}, batch 8, {view_count} view(s), {threads} thread(s): {median / 8:.2f} ms/plate "
                  f"(batch {median:.1f} ms, p95 {p95:.1f} ms)")
    torch.set_num_threads(2)

    frame = compose(rng, None, size=(1280, 720)).image
    if (args.weights / "refiner.onnx").is_file():
        refiner = CornerRefiner(args.weights / "refiner.onnx")
        # Plates in composed frames with corners as wrong as the detector's (detector_like, a
        # little worse than the detector: more of them get a second look than in the test scenes).
        scenes = [s for s in (compose(rng, None, size=(1280, 720)) for _ in range(8)) if s.plates]
        jobs = [(s.image, np.stack([detector_like(rng, p.corners, float(np.linalg.norm(p.corners[1] - p.corners[0])))
                                    for p in s.plates])) for s in scenes]
        plates = sum(len(quads) for _, quads in jobs)
        median, p95 = _time_ms(lambda: [refiner.refine(image, quads) for image, quads in jobs], args.repeats)
        print(f"refiner.onnx, {plates} plates in {len(jobs)} frames: {median / plates:.2f} ms/plate "
              f"(p95 {p95 / plates:.2f} ms)")
    photos = [compose(rng, None, size=size).image for size in ((1920, 1080), (4032, 3024))]
    for name in ("detector.int8.onnx", "detector.onnx", "detector.pt"):  # onnxruntime, onnxruntime, ultralytics
        if not (args.weights / name).is_file():
            continue
        detector = PlateDetector(args.weights / name)
        median, p95 = _time_ms(lambda: detector.detect(frame), args.repeats)
        print(f"{name}, 1280x720 frame: {median:.1f} ms median, {p95:.1f} ms p95")
        if name == "detector.int8.onnx":
            turned = copy.copy(detector)  # the same loaded model, with the turned passes on
            turned.still_turn = DetectionConfig().still_turn
            for photo in photos:
                h, w = photo.shape[:2]
                median, p95 = _time_ms(lambda: detector.detect(photo, still=True), max(args.repeats // 4, 5))
                print(f"{name}, {w}x{h} photo (passes at 640, {detector.still_pass_size(w)} and "
                      f"{detector.close_up_size}): {median:.1f} ms median, {p95:.1f} ms p95")
                median, p95 = _time_ms(lambda: turned.detect(photo, still=True), max(args.repeats // 4, 5))
                print(f"{name}, {w}x{h} photo, the same and turned +-{turned.still_turn:g} degrees at 640 "
                      f"(detection.still_turn): {median:.1f} ms median, {p95:.1f} ms p95")
    return 0


if __name__ == "__main__":
    sys.exit(main())
