#!/usr/bin/env python3
"""How watchlist.possible_min trades caught plates against false reports, and what a long
watchlist costs.

    python benchmarks/bench_watchlist.py [--plates 1000] [--reader weights/reader.int8.onnx]

The reader reads synthetic test plates (60-330 px wide, as evaluate's reader test set draws
them) at read_policy.views shifts, as a video's crops are read. For each least probability:
- caught: of the plates it misreads (an exact match would miss them), the share whose true
  plate it gives at least that probability: a watched car reported as a possible match;
- false: the share of plates read right on which a plate that differs from the one read in a single
  field, by the value the reader found likeliest after it (its runner-up region or kana, or one
  number digit the other way), would be reported: a car that is not the watched one. A random
  other region or kana instead of the runner-up is the ordinary case; the runner-up the worst.
One read stands in for a track's vote, which averages several (so a track is surer than this).
Then the time Watchlist.likely takes over a 10 000-line list.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stream_lpr import plate_format as pf  # noqa: E402
from stream_lpr.config import ReadPolicyConfig  # noqa: E402
from stream_lpr.evaluate import TEST_SEED  # noqa: E402
from stream_lpr.recognition import PlateReader  # noqa: E402
from stream_lpr.synth.compose import load_scenes  # noqa: E402
from stream_lpr.synth.crops import SampleDraw, reader_sample  # noqa: E402
from stream_lpr.watchlist import Watchlist, WatchEntry  # noqa: E402

THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5)


def _entry(region, class_number, kana, number) -> WatchEntry:
    return WatchEntry(region, class_number, kana, number, "")


def _probability(scores: pf.FieldScores, entry: WatchEntry) -> float:
    return Watchlist([entry]).likely(scores, 0.0)[1]


def _other_digit(rng, number: str) -> str:
    """`number` with one of its digits changed (never to a leading 0)."""
    slots = list(pf.number_slots(number))
    i = int(rng.choice([i for i, c in enumerate(slots) if c.isdigit()]))
    leading = i == 0 or slots[i - 1] == pf.DOT
    slots[i] = str(rng.choice([d for d in "0123456789" if d != slots[i] and not (d == "0" and leading)]))
    text = "".join(slots)
    return text if pf.DOT in text else f"{text[:2]}-{text[2:]}"


def _runner_up(dist: np.ndarray, vocabulary: tuple[str, ...], read: str) -> str:
    order = np.argsort(dist)[::-1]
    return next(vocabulary[i] for i in order if vocabulary[i] != read)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plates", type=int, default=1000)
    parser.add_argument("--reader", default=str(ROOT / "weights" / "reader.int8.onnx"))
    args = parser.parse_args()

    reader = PlateReader(args.reader)
    views = ReadPolicyConfig().views
    rng = np.random.default_rng(TEST_SEED)
    scenes = load_scenes(split="test")
    misread, caught = 0, {t: 0 for t in THRESHOLDS}
    near_names = ("runner-up region", "runner-up kana", "random other region", "random other kana", "one digit off")
    near = {name: [] for name in near_names}
    for start in range(0, args.plates, 64):
        samples = [reader_sample(rng, scenes, smallest=60.0, draw=SampleDraw())
                   for _ in range(min(64, args.plates - start))]
        for sample, read in zip(samples, reader.read([s.crop for s in samples], views)):
            truth, got, scores = sample.text, read.reading.text, read.scores
            if got.key != truth.key:
                misread += 1
                p = _probability(scores, _entry(truth.region, truth.class_number, truth.kana, truth.number))
                for t in THRESHOLDS:
                    caught[t] += p >= t
                continue  # a plate near the one read may be the true one: not a false report
            others = {
                "runner-up region": _entry(_runner_up(scores.region, pf.REGIONS, got.region),
                                           got.class_number, got.kana, got.number),
                "runner-up kana": _entry(got.region, got.class_number, _runner_up(scores.kana, pf.KANA, got.kana),
                                         got.number),
                "random other region": _entry(str(rng.choice([r for r in pf.REGIONS if r != got.region])),
                                              got.class_number, got.kana, got.number),
                "random other kana": _entry(got.region, got.class_number,
                                            str(rng.choice([k for k in pf.KANA if k != got.kana])), got.number),
                "one digit off": _entry(got.region, got.class_number, got.kana, _other_digit(rng, got.number)),
            }
            for name, entry in others.items():
                near[name].append(_probability(scores, entry))

    print(f"{args.plates} synthetic test plates, read at {views} views; {misread} misread")
    print("share of misread plates caught, and of plates read right falsely reported by a listed plate that is:")
    print(f"{'least probability':>18} {'misread caught':>15} " + " ".join(f"{n:>20}" for n in near_names))
    for t in THRESHOLDS:
        shares = " ".join(f"{np.mean(np.array(near[n]) >= t):>20.4f}" for n in near_names)
        print(f"{t:>18} {caught[t] / max(misread, 1):>15.3f} {shares}")

    entries = [_entry(str(rng.choice(pf.REGIONS)), str(rng.integers(100, 999)), str(rng.choice(pf.KANA)),
                      pf.number_display(int(rng.integers(1, 10000)))) for _ in range(10_000)]
    watchlist = Watchlist(entries)
    start = time.perf_counter()
    for _ in range(100):
        watchlist.likely(scores, 0.1)
    print(f"Watchlist.likely over {len(entries)} lines: {(time.perf_counter() - start) * 10:.2f} ms a track")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
