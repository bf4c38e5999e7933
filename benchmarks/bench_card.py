#!/usr/bin/env python3
"""A dashcam's card whose files cut through its cars: rows per vehicle read drive by drive
(capture.drive_gap_s, the default) and file by file (drive_gap_s 0, as before drive.py).

    python benchmarks/bench_card.py [--clips 20]

Each clip is a held-out composed clip (synth.clips, as `evaluate --videos` makes them: parked
cars' plates and one driving through, 2 s at 30 fps) cut in the middle into two 1 s files named
as a dashcam names back-to-back segments (20261201_080000.MP4, 20261201_080001.MP4; the next
clip a minute later). The card is read twice through the API as `run_stream.py --source CARD`
reads it. For each plate at least 60 px wide at its largest: rows (a row goes to the plate its
box overlaps most in the frames it spans), vehicles with more than one row, vehicles with none,
and the exact match of the row with most reads.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from stream_lpr.api import Recognizer  # noqa: E402
from stream_lpr.evaluate import TEST_SEED, _assign_rows  # noqa: E402
from stream_lpr.sinks import VideoSink  # noqa: E402
from stream_lpr.synth.clips import make_clip  # noqa: E402
from stream_lpr.synth.compose import load_scenes  # noqa: E402

FIELDS = ("region", "class_number", "kana", "number")


def write_card(folder: Path, count: int, frames: int) -> list:
    """The card's files, two for each clip; the clips' plates."""
    scenes = load_scenes(split="test")
    clips = []
    for i in range(count):
        clip = make_clip(np.random.default_rng([TEST_SEED, 3, i]), scenes, frames)
        start = datetime(2026, 12, 1, 8, 0) + timedelta(minutes=i)
        half = frames // 2
        for k, part in enumerate((clip.frames[:half], clip.frames[half:])):
            name = (start + timedelta(seconds=k * half / 30.0)).strftime("%Y%m%d_%H%M%S") + ".MP4"
            with VideoSink(folder / name, 30.0) as video:
                for frame in part:
                    video.write(frame)
        clips.append(clip.plates)
    return clips


def score(clips: list, sightings: list, frames: int) -> dict:
    """Each sighting as a CSV row on its clip's timeline (a second file's frames go on from the first's)."""
    rows: list[list[dict]] = [[] for _ in clips]
    for s in sightings:
        stamp = datetime.strptime(Path(s.source).stem, "%Y%m%d_%H%M%S")
        clip = (stamp - datetime(2026, 12, 1, 8, 0)).seconds // 60
        offset = frames // 2 if stamp.second else 0
        rows[clip].append({"x1": s.xyxy[0], "y1": s.xyxy[1], "x2": s.xyxy[2], "y2": s.xyxy[3],
                           "first_frame": s.first_frame + offset, "last_frame": s.last_frame + offset,
                           "reads": s.verdict.reads, **{f: getattr(s.verdict, f) for f in FIELDS}})
    tally = dict.fromkeys(("vehicles", "rows", "more_than_one_row", "no_row", "exact", "rows_on_no_plate"), 0)
    for plates, got in zip(clips, rows):
        assigned, on_nothing = _assign_rows(plates, got)
        tally["rows_on_no_plate"] += on_nothing
        for plate, its in zip(plates, assigned):
            if (plate.boxes[:, 2] - plate.boxes[:, 0]).max() < 60:
                continue
            tally["vehicles"] += 1
            tally["rows"] += len(its)
            tally["more_than_one_row"] += len(its) > 1
            tally["no_row"] += not its
            if its:
                best = max(its, key=lambda r: r["reads"])
                tally["exact"] += all(best[f] == getattr(plate.text, f) for f in FIELDS)
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--frames", type=int, default=60, help="frames per clip (30 fps), cut in the middle")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lpr_card_") as tmp:
        card = Path(tmp)
        clips = write_card(card, args.clips, args.frames)
        print(f"card: {args.clips} clips of {args.frames} frames, each cut into two files ({2 * args.clips} files)")
        print(f"{'read':<28} {'vehicles':>8} {'rows':>5} {'>1 row':>7} {'no row':>7} {'exact':>6} "
              f"{'on no plate':>12} {'s':>6}")
        for label, gap in (("drive by drive (3 s)", 3.0), ("file by file (0)", 0.0)):
            lpr = Recognizer(overrides={"capture.drive_gap_s": gap, "capture.file_timezone": "UTC"})
            start = time.perf_counter()
            sightings = lpr.run(card)
            seconds = time.perf_counter() - start
            t = score(clips, sightings, args.frames)
            print(f"{label:<28} {t['vehicles']:>8} {t['rows']:>5} {t['more_than_one_row']:>7} {t['no_row']:>7} "
                  f"{t['exact'] / max(t['vehicles'], 1):>6.3f} {t['rows_on_no_plate']:>12} {seconds:>6.1f}")


if __name__ == "__main__":
    main()
