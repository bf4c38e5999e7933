"""python -m stream_lpr.evaluate: measures the shipped models on test sets never trained on.

Reader: per-field accuracy and full-plate exact match on rendered plates (seeded, at least
2000), by plate width in the source frame, each read at read_policy.views shifts as the
pipeline reads a video's plates (and once more at one, the network alone), and on 1000 more all
blurred past what a camera usually does (--blurred-plates: defocus or motion), and on 500 with
a side covered (--occluded-plates: how often a hidden number is guessed with the confidence the
pipeline logs), on 500 with the number hidden by a privacy mask (--masked-plates: the same
question), on 500 cut by the frame's edge and cropped along it as the detector does (--cut-plates:
the same question), and on 1000 whose kana breaks the rules for the plate's colour (--any-kana-plates:
a commercial letter on a private plate, as on 3 of the 4 real photos). Detector: precision,
recall (also by plate type), AP50 and mean corner error for plates at least 40 px wide on (a)
synthetic scenes with procedural backgrounds, (b) held-out drives and photo sets of
../shared/data/scenes with pasted plates, (c) the same held-out scenes with a car maker's
badge by every plate and (d) the same scenes blurred past the camera's usual. Photos:
the whole product on held-out scenes saved as JPEG files, as `run_stream.py --source DIR --csv` runs them (detector, still views,
vote, CSV): exact match and fields of plates at least 60 px wide, plates with no row, rows on
no plate and rows with a wrong number; and the exact match of the readable ones among them
(whole in the frame, no occluder over the text). Videos: the same for 2 s clips of held-out
scenes with parked cars' plates and one plate driving through (synth.clips), each an MP4 file
run as `run_stream.py --source clip.mp4 --csv` runs it (tracking, reads across frames, vote):
one row a sighting. Real: the same on labelled photos of real Japanese plates
(../shared/data/reference_jp), with the probability the reader gives each true field, as they
are, shrunk (--real-scales: the same plates farther away) and as close-ups (--real-close-ups:
each plate cropped to fill most of a photo's width) and pasted into larger photos
(--real-large: a 12 MP phone photo's plates are as small) and blurred (--real-blurred: out of
focus and moving) and grey (--real-grey: as an infrared camera at night sees them), and each
of these again with the real plates replaced by synthetic twins of the same text
(--real-twins): the gap between the two is how unlike real plates the renderer draws each
field.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from stream_lpr import plate_format as pf
from stream_lpr.detection import box_iou
from stream_lpr.errors import StreamLprError

TEST_SEED = 20261125  # never used by training (training seeds are small integers)
MIN_WIDTH = 40.0
WIDTH_BUCKETS = ((60, 80), (80, 130), (130, 330))


# ---------------------------------------------------------------- reader


def evaluate_reader(weights: Path, count: int, seed: int, batch: int = 64, draw=None,
                    views: tuple[int, ...] = (1,)) -> dict[int, dict]:
    """The reader on `count` test plates 60-330 px wide in the source frame, drawn as the
    synth.crops.SampleDraw `draw` says (default: as a camera usually sees them), each read at
    every view count in `views` (read_policy.views: the pipeline's default for video is 3): the
    plates are rendered once, the costly part. Per view count: besides the accuracy, the share
    of plates whose designation number is wrong at a confidence the pipeline would log
    (`voting.number_min_confidence`), the mistakes that reach a CSV."""
    from stream_lpr.config import VotingConfig
    from stream_lpr.recognition import PlateReader
    from stream_lpr.synth.compose import load_scenes
    from stream_lpr.synth.crops import SampleDraw, reader_sample

    reader = PlateReader(weights)
    rng = np.random.default_rng(seed)
    scenes = load_scenes(split="test")
    draw = draw or SampleDraw()
    trusted = VotingConfig().number_min_confidence
    fields = ("region", "class_number", "kana", "number", "plate_type")
    right = {v: {f: 0 for f in fields} for v in views}
    exact, confidently_wrong = {v: 0 for v in views}, {v: 0 for v in views}
    type_unknown = {v: 0 for v in views}  # grey crops (an infrared camera's): no colour, no type
    by_width = {v: {b: [0, 0] for b in WIDTH_BUCKETS} for v in views}
    for start in tqdm(range(0, count, batch), desc="reader test set", unit="batch"):
        samples = [reader_sample(rng, scenes, smallest=60.0, draw=draw) for _ in range(min(batch, count - start))]
        for v in views:
            for sample, read in zip(samples, reader.read([s.crop for s in samples], v)):
                got, truth = read.reading.text, sample.text
                for f in fields:
                    right[v][f] += getattr(got, f) == getattr(truth, f)
                confidently_wrong[v] += got.number != truth.number and read.reading.number_conf >= trusted
                type_unknown[v] += got.plate_type == pf.UNKNOWN_TYPE
                ok = got.key == truth.key
                exact[v] += ok
                bucket = next(b for b in WIDTH_BUCKETS if b[0] <= sample.width < b[1] or b == WIDTH_BUCKETS[-1])
                by_width[v][bucket][0] += ok
                by_width[v][bucket][1] += 1
    results = {}
    for v in views:
        result = {f"{f}_accuracy": right[v][f] / count for f in fields}
        result["exact_match"] = exact[v] / count
        result["exact_match_by_width_px"] = {f"{a}-{b}": ok / max(n, 1) for (a, b), (ok, n) in by_width[v].items()}
        result["plates_by_width_px"] = {f"{a}-{b}": n for (a, b), (_, n) in by_width[v].items()}
        result["number_wrong_but_trusted"] = confidently_wrong[v] / count
        result["plate_type_unknown"] = type_unknown[v] / count
        result["plate_type_wrong"] = 1 - result["plate_type_accuracy"] - result["plate_type_unknown"]
        result["plates"] = count
        result["views"] = v
        results[v] = result
    return results


# ---------------------------------------------------------------- detector


@dataclass
class _Counts:
    scores: list = field(default_factory=list)  # (confidence, is_true_positive) per prediction
    positives: int = 0
    corner_errors: list = field(default_factory=list)
    by_type: list = field(default_factory=list)  # (plate type, its match's confidence or 0) per counted plate


def _boxes(quads) -> np.ndarray:
    """(N, 4) xyxy around each (4, 2) quad; (0, 4) for none."""
    from stream_lpr.synth.compose import quad_box

    return np.array([quad_box(q) for q in quads], np.float32).reshape(-1, 4)


def _inside(box: np.ndarray, shape: tuple[int, int]) -> bool:
    h, w = shape
    return bool(box[0] >= 0 and box[1] >= 0 and box[2] <= w and box[3] <= h)


def _score_frame(counts: _Counts, truths: list[np.ndarray], types: list[str], shape: tuple[int, int],
                 detections) -> None:
    """Greedy IoU >= 0.5 matching; plates under 40 px or cut by the frame edge are neither
    counted as misses nor allowed to make a detection of them a false positive."""
    boxes = _boxes(truths)
    counted = [bool(b[2] - b[0] >= MIN_WIDTH) and _inside(b, shape) for b in boxes]
    counts.positives += sum(counted)
    iou = box_iou(detections.xyxy, boxes)  # (detections, truths)
    taken = np.zeros(len(truths), bool)
    matched = np.zeros(len(truths), np.float32)
    for i in np.argsort(-detections.confidence):
        ious = iou[i] * ~taken
        j = int(np.argmax(ious)) if len(ious) else -1
        if j >= 0 and ious[j] >= 0.5:
            taken[j] = True
            matched[j] = detections.confidence[i]
            if counted[j]:
                counts.scores.append((float(detections.confidence[i]), True))
                width = float(np.linalg.norm(truths[j][1] - truths[j][0]))
                error = np.linalg.norm(detections.corners[i] - truths[j], axis=1).mean() / width
                counts.corner_errors.append(float(error))
        else:
            counts.scores.append((float(detections.confidence[i]), False))
    counts.by_type += [(t, float(c)) for t, c, k in zip(types, matched, counted) if k]


def _summary(counts: _Counts, threshold: float) -> dict:
    scores = sorted(counts.scores, key=lambda s: -s[0])
    hits = np.array([tp for _, tp in scores], bool)
    conf = np.array([c for c, _ in scores])
    tp_cum, fp_cum = np.cumsum(hits), np.cumsum(~hits)
    recall_curve = tp_cum / max(counts.positives, 1)
    precision_curve = tp_cum / np.maximum(tp_cum + fp_cum, 1)
    # AP50 as the area under the interpolated precision-recall curve (COCO-style 101 points).
    ap = 0.0
    for r in np.linspace(0, 1, 101):
        above = precision_curve[recall_curve >= r]
        ap += (above.max() if len(above) else 0.0) / 101
    def operating_point(t: float) -> tuple[float, float]:
        keep = conf >= t
        tp, fp = int(hits[keep].sum()), int((~hits[keep]).sum())
        return tp / max(tp + fp, 1), tp / max(counts.positives, 1)

    precision, recall = operating_point(threshold)
    # A plate type the detector knows less well would hide in the total.
    by_type: dict[str, list[float]] = {}
    for plate_type, confidence in sorted(counts.by_type):
        by_type.setdefault(plate_type, []).append(confidence)
    return {
        "precision": precision,
        "recall": recall,
        "precision_recall_by_threshold": {f"{t:.3f}": [round(v, 4) for v in operating_point(t)]
                                          for t in (0.25, 0.4, 0.5, 0.6, 0.65, 0.7, 0.725, 0.75, 0.775, 0.8, 0.85, 0.9)},
        "ap50": float(ap),
        "mean_corner_error_of_width": float(np.mean(counts.corner_errors)) if counts.corner_errors else float("nan"),
        "plates": counts.positives,
        "recall_by_plate_type": {t: _found_share(c, {threshold, 0.5, 0.725}) for t, c in by_type.items()},
    }


def _found_share(confidences: list[float], thresholds: set[float]) -> dict:
    """How many plates, and the share of them whose match is at least each threshold."""
    found = np.array(confidences)
    return {"plates": len(found), **{f"{t:.3f}": round(float(np.mean(found >= t)), 4) for t in sorted(thresholds)}}


def evaluate_detector(weights: Path, count: int, seed: int, threshold: float, refiner: Path | None = None) -> dict:
    """Precision, recall (also by plate type), AP50 and the mean corner error on each test set;
    with a corner `refiner`, the corner error is the refined corners' (what the pipeline reads
    from), and the detector's own is given beside it."""
    from stream_lpr.detection import PlateDetector
    from stream_lpr.refine import CornerRefiner
    from stream_lpr.synth.compose import compose, load_scenes

    detector = PlateDetector(weights, conf=0.05)  # low, so AP sees the whole curve
    refine = CornerRefiner(refiner) if refiner else None
    results = {}
    held_out = load_scenes(split="test")
    # The third set: the held-out scenes with a car maker's badge by every plate, where a
    # detector that takes badges for plates loses precision; the fourth: the same scenes each
    # blurred past the camera's usual (a passing car, a lens out of focus).
    for name, scenes, emblems, blur in (("synthetic", None, 0.0, 0.0), ("held_out_scenes", held_out, 0.0, 0.0),
                                        ("held_out_with_badges", held_out, 1.0, 0.0),
                                        ("held_out_blurred", held_out, 0.0, 1.0)):
        rng = np.random.default_rng([seed, len(results)])
        counts, own = _Counts(), _Counts()
        for _ in tqdm(range(count), desc=f"detector on {name}", unit="frame"):
            scene = compose(rng, scenes, emblems=emblems, blur=blur)
            detections = detector.detect(scene.image)
            truths, shape = [p.corners for p in scene.plates], scene.image.shape[:2]
            types = [p.text.plate_type for p in scene.plates]
            if refine is not None:
                _score_frame(own, truths, types, shape, detections)
                detections = detections.with_corners(refine.refine(scene.image, detections.corners))
            _score_frame(counts, truths, types, shape, detections)
        results[name] = _summary(counts, threshold)
        if refine is not None:
            results[name]["detector_corner_error_of_width"] = _summary(own, threshold)["mean_corner_error_of_width"]
    return results


# ---------------------------------------------------------------- photos, end to end


def _product(detector_path: Path, reader_path: Path, overrides: dict | None = None):
    """The config (defaults, then `overrides`) and the models `run_stream.py` would load."""
    from stream_lpr.cli import load_models
    from stream_lpr.config import load_config

    config = load_config(None, {**(overrides or {}), "models.detector": str(detector_path),
                                "models.reader": str(reader_path)})
    return (config, *load_models(config, None))


def _rows(config, source: Path, detector, readers) -> dict[str, list[dict]]:
    """Runs the whole product on a folder of images or a video file, as `run_stream.py --source
    PATH --csv` does: the CSV rows by file name."""
    import csv
    import tempfile

    from stream_lpr.capture import open_source
    from stream_lpr.pipeline import Outputs, run_pipeline
    from stream_lpr.sinks import CsvSink

    with tempfile.TemporaryDirectory(prefix="lpr_rows_") as tmp:
        run_pipeline(config, open_source(str(source), config.capture), detector, readers,
                     Outputs(csv=CsvSink(Path(tmp) / "rows.csv")))
        rows: dict[str, list[dict]] = {}
        with open(Path(tmp) / "rows.csv", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                rows.setdefault(Path(row["source"]).name, []).append(row)
    return rows


def _match_rows(found: list[dict], label_boxes: np.ndarray) -> tuple[list[dict | None], int]:
    """Each label's CSV row (the one its box overlaps most, at IoU >= 0.3, or None) and the
    number of rows that lie on no label."""
    boxes = np.array([[float(r[k]) for k in ("x1", "y1", "x2", "y2")] for r in found], np.float32).reshape(-1, 4)
    iou = box_iou(label_boxes, boxes)  # (labels, rows); either may be empty
    matched = [found[int(row.argmax())] if row.max(initial=0.0) >= 0.3 else None for row in iou]
    return matched, int((iou.max(0, initial=0.0) < 0.3).sum())


def evaluate_photos(detector_path: Path, reader_path: Path, count: int, seed: int,
                    overrides: dict | None = None) -> dict:
    """`overrides`: config keys to try (e.g. {"voting.field_min_confidence": 0.5}); defaults otherwise."""
    import tempfile

    import cv2

    from stream_lpr.synth.compose import compose, load_scenes

    config, detector, readers = _product(detector_path, reader_path, overrides)
    rng = np.random.default_rng([seed, 2])
    scenes = load_scenes(split="test")
    fields = ("region", "class_number", "kana", "number")
    right, exact, plates, missed, false_rows, wrong_numbers = {f: 0 for f in fields}, 0, 0, 0, 0, 0
    # Readable: also whole in the frame and not occluded. A plate with hidden characters should
    # get no row rather than a guess, so the first counts charge it as a miss and these do not.
    readable = {"plates": 0, "exact": 0, "missed": 0}
    with tempfile.TemporaryDirectory(prefix="lpr_photos_") as tmp:
        folder, truth = Path(tmp) / "photos", {}
        folder.mkdir()
        for i in tqdm(range(count), desc="composing photos", unit="photo"):
            scene = compose(rng, scenes)
            cv2.imwrite(str(folder / f"{i:04d}.jpg"), scene.image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            truth[f"{i:04d}.jpg"] = scene.plates, scene.image.shape[:2]
        rows = _rows(config, folder, detector, readers)
    for name, (labels, shape) in truth.items():
        label_boxes = _boxes(p.corners for p in labels)
        matched, on_nothing = _match_rows(rows.get(name, []), label_boxes)
        false_rows += on_nothing
        for k, (label, row) in enumerate(zip(labels, matched)):
            if label_boxes[k, 2] - label_boxes[k, 0] < 60:
                continue
            counts_readable = _inside(label_boxes[k], shape) and not label.occluded
            plates += 1
            readable["plates"] += counts_readable
            if row is None:
                missed += 1
                readable["missed"] += counts_readable
                continue
            ok = [row[f] == getattr(label.text, f) for f in fields]
            for f, good in zip(fields, ok):
                right[f] += good
            wrong_numbers += row["number"] != label.text.number
            exact += all(ok)
            readable["exact"] += counts_readable and all(ok)
    result = {f"{f}_accuracy": right[f] / max(plates, 1) for f in fields}
    result.update({"exact_match": exact / max(plates, 1), "plates_at_least_60px": plates,
                   "plates_without_a_row": missed, "rows_on_no_plate": false_rows,
                   "rows_with_a_wrong_number": wrong_numbers,
                   "exact_match_readable": readable["exact"] / max(readable["plates"], 1),
                   "readable_plates": readable["plates"], "readable_without_a_row": readable["missed"],
                   "photos": count})
    return result


# ---------------------------------------------------------------- videos


def _assign_rows(plates, rows: list[dict]) -> tuple[list[list[dict]], int]:
    """Each clip plate's CSV rows (a row goes to the plate whose box, in the frames the row
    spans, overlaps the row's box most, at IoU >= 0.3) and the number of rows on no plate."""
    assigned: list[list[dict]] = [[] for _ in plates]
    on_nothing = 0
    for row in rows:
        box = np.array([[float(row[k]) for k in ("x1", "y1", "x2", "y2")]], np.float32)
        first, last = int(row["first_frame"]), int(row["last_frame"])
        overlap = [float(box_iou(box, p.boxes[first : last + 1]).max(initial=0.0)) for p in plates]
        if max(overlap, default=0.0) >= 0.3:
            assigned[int(np.argmax(overlap))].append(row)
        else:
            on_nothing += 1
    return assigned, on_nothing


def evaluate_videos(detector_path: Path, reader_path: Path, count: int, seed: int,
                    overrides: dict | None = None, frames: int = 60) -> dict:
    """The whole product on `count` composed clips (synth.clips: a held-out scene, its parked
    cars' plates and one plate driving through) saved as MP4 files, each run as `run_stream.py
    --source clip.mp4 --csv` runs it. A plate at least 60 px wide at its largest is a sighting
    that should get one row: exact match of its row (of the row with most reads when the track
    broke and it got several), sightings with no row, extra rows, rows on no plate and rows
    with a wrong number; and how often that row's `direction` is the plate's (parked: none;
    driving: approaching or receding)."""
    import tempfile

    from stream_lpr.sinks import VideoSink
    from stream_lpr.synth.clips import make_clip
    from stream_lpr.synth.compose import load_scenes

    config, detector, readers = _product(detector_path, reader_path, overrides)
    scenes = load_scenes(split="test")
    fields = ("region", "class_number", "kana", "number")
    tally = {"sightings": 0, "exact": 0, "moving": 0, "moving_exact": 0, "missed": 0, "extra_rows": 0,
             "rows_on_no_plate": 0, "rows_with_a_wrong_number": 0, "direction": 0, "moving_direction": 0,
             "moving_rows": 0}
    with tempfile.TemporaryDirectory(prefix="lpr_clips_") as tmp:
        for i in tqdm(range(count), desc="video clips", unit="clip"):
            clip = make_clip(np.random.default_rng([seed, 3, i]), scenes, frames)
            path = Path(tmp) / f"{i:03d}.mp4"
            with VideoSink(path, 30.0) as video:
                for frame in clip.frames:
                    video.write(frame)
            assigned, on_nothing = _assign_rows(clip.plates, _rows(config, path, detector, readers).get(path.name, []))
            tally["rows_on_no_plate"] += on_nothing
            for plate, got in zip(clip.plates, assigned):
                tally["rows_with_a_wrong_number"] += sum(row["number"] != plate.text.number for row in got)
                if (plate.boxes[:, 2] - plate.boxes[:, 0]).max() < 60:
                    continue  # never large enough to be asked for
                tally["sightings"] += 1
                tally["moving"] += plate.moving
                if not got:
                    tally["missed"] += 1
                    continue
                tally["extra_rows"] += len(got) - 1
                tally["moving_rows"] += plate.moving
                row = max(got, key=lambda r: int(r["reads"]))
                ok = all(row[f] == getattr(plate.text, f) for f in fields)
                tally["exact"] += ok
                tally["moving_exact"] += ok and plate.moving
                widths = plate.boxes[:, 2] - plate.boxes[:, 0]
                heading = ("approaching" if widths[-1] > widths[0] else "receding") if plate.moving else ""
                tally["direction"] += row["direction"] == heading
                tally["moving_direction"] += row["direction"] == heading and plate.moving
    return {"exact_match": tally["exact"] / max(tally["sightings"], 1), "sightings": tally["sightings"],
            "exact_match_driving": tally["moving_exact"] / max(tally["moving"], 1), "driving_sightings": tally["moving"],
            "sightings_without_a_row": tally["missed"], "extra_rows": tally["extra_rows"],
            "rows_on_no_plate": tally["rows_on_no_plate"], "rows_with_a_wrong_number": tally["rows_with_a_wrong_number"],
            "direction_right": tally["direction"] / max(tally["sightings"] - tally["missed"], 1),
            "direction_right_driving": tally["moving_direction"] / max(tally["moving_rows"], 1),
            "clips": count, "frames_per_clip": frames}


# ---------------------------------------------------------------- real photos


def _true_probability(scores, text) -> dict[str, float]:
    """The probability the reader gives each true field; multi-character fields multiply
    their slots' probabilities."""
    index = pf.FieldIndex.of([(text.region, text.class_number, text.kana, text.number)])
    return {name: float(p[0]) for name, p in index.probabilities(scores).items()}


def plate_tone(crop: np.ndarray) -> float:
    """How far a plate's darkest ink sits from black: the 5th over the 95th percentile of its
    grey levels, inside the rectified plate (its edges and holder left out). Near 0 for black
    strokes on a white face; a veil of scattered light, haze or dirt lifts it. Real Japanese
    photos measure 0.08-0.26, real dashcam footage of other plates about 0.55 (session 30)."""
    import cv2

    h, w = crop.shape[:2]
    inner = crop[int(0.15 * h) : int(0.85 * h), int(0.08 * w) : int(0.92 * w)]
    grey = cv2.cvtColor(inner, cv2.COLOR_BGR2GRAY) if inner.ndim == 3 else inner
    low, high = np.percentile(grey.astype(np.float32), [5, 95])
    return float(low / max(high, 1.0))


def _label_text(plate: dict):
    """A labels.jsonl plate's fields as a PlateText."""
    return pf.PlateText(plate["region"], plate["class_number"], plate["kana"], plate["number"], plate["plate_type"])


def read_labels(folder: Path) -> list[dict]:
    """A labelled photo folder's labels.jsonl: a dict per image (its file and its plates)."""
    text = (folder / "labels.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _labelled_copy(folder: Path, out: Path, make) -> Path:
    """A labelled folder in `out` made from `folder`'s: `make(image, entry)` yields the new
    photos as (file name, image, plates with their boxes moved)."""
    import cv2

    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for entry in read_labels(folder):
        image = cv2.imread(str(folder / entry["image"]))
        if image is None:
            raise StreamLprError(f"cannot read {folder / entry['image']}")
        for name, made, plates in make(image, entry):
            cv2.imwrite(str(out / name), made, [cv2.IMWRITE_JPEG_QUALITY, 90])
            lines.append(json.dumps({**entry, "image": name, "plates": plates}, ensure_ascii=False))
    (out / "labels.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def _moved(plate: dict, scale: float, left: float = 0, top: float = 0) -> dict:
    x0, y0, x1, y1 = plate["box"]
    return {**plate, "box": [round((x0 - left) * scale), round((y0 - top) * scale),
                             round((x1 - left) * scale), round((y1 - top) * scale)]}


def scaled_copy(folder: Path, scale: float, out: Path) -> Path:
    """The labelled photos of `folder` shrunk by `scale` (and their boxes with them) in `out`:
    the same real plates, as they look farther from the camera."""
    import cv2

    def make(image, entry):
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        yield entry["image"], small, [_moved(plate, scale) for plate in entry["plates"]]

    return _labelled_copy(folder, out, make)


def close_up_copy(folder: Path, fill: float, out: Path, width: int = 1280) -> Path:
    """Each labelled plate of `folder` as a close-up in `out`: the photo cropped around the plate
    so that it fills `fill` of the crop's width (4:3), enlarged to `width` pixels: the same real
    plate photographed up close, as a phone photo of a parked car's plate is."""
    import cv2

    def make(image, entry):
        for k, plate in enumerate(entry["plates"]):
            x0, y0, x1, y1 = plate["box"]
            crop_w = (x1 - x0) / fill
            left = int(max(0, (x0 + x1 - crop_w) / 2))
            top = int(max(0, (y0 + y1 - crop_w * 0.75) / 2))
            crop = image[top : int(top + crop_w * 0.75), left : int(left + crop_w)]
            scale = width / crop.shape[1]
            yield (f"{Path(entry['image']).stem}_{k}.jpg",
                   cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC),
                   [_moved(plate, scale, left, top)])

    return _labelled_copy(folder, out, make)


def large_copy(folder: Path, factor: float, out: Path) -> Path:
    """Each labelled photo of `folder` pasted into a held-out scene photo enlarged to `factor`
    times its size, in `out`: the same real plates, as small in a large photo as in a phone's
    12 MP one of a car a few metres away. The scenes' own plates are not Japanese: a row on one
    counts as a row on no plate."""
    import cv2

    from stream_lpr.synth.compose import load_scenes

    backgrounds = [record.path for record in load_scenes(split="test")]
    rng = np.random.default_rng(TEST_SEED)

    def make(image, entry):
        h, w = image.shape[:2]
        height, width = round(h * factor), round(w * factor)
        canvas = cv2.resize(cv2.imread(str(backgrounds[rng.integers(len(backgrounds))])), (width, height),
                            interpolation=cv2.INTER_CUBIC)
        left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        canvas[top : top + h, left : left + w] = image
        yield entry["image"], canvas, [_moved(plate, 1.0, -left, -top) for plate in entry["plates"]]

    return _labelled_copy(folder, out, make)


def blurred_copy(folder: Path, out: Path, sigma: float = 1.6, motion: int = 9) -> Path:
    """Each labelled photo of `folder` twice in `out`: out of focus (a Gaussian blur of `sigma`
    px) and moving (a horizontal motion blur `motion` px long): the same real plates as a
    dashcam sees them at dusk or when passing."""
    import cv2

    from stream_lpr.synth.degrade import motion_kernel

    def make(image, entry):
        stem = Path(entry["image"]).stem
        yield f"{stem}_defocus.jpg", cv2.GaussianBlur(image, (0, 0), sigma), entry["plates"]
        yield f"{stem}_motion.jpg", cv2.filter2D(image, -1, motion_kernel(motion, 0.0)), entry["plates"]

    return _labelled_copy(folder, out, make)


def grey_copy(folder: Path, out: Path) -> Path:
    """Each labelled photo of `folder` without its colours, as an infrared or black-and-white
    camera gives it (three equal channels, as a video decoder returns a grey picture)."""
    import cv2

    def make(image, entry):
        grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        yield f"{Path(entry['image']).stem}_grey.jpg", grey, entry["plates"]

    return _labelled_copy(folder, out, make)


def turned_copy(folder: Path, degrees: float, out: Path, distance: float = 4.0) -> Path:
    """Each labelled photo of `folder` twice in `out`, warped so that its first plate looks
    turned `degrees` about its upright axis, once each way: the plate's near side taller than
    its far side, as seen from a camera `distance` half plate widths away (the composer's
    closest steep views are 3): the same real plates photographed from the pavement."""
    import cv2

    from stream_lpr.synth.compose import quad_box

    def corners(box) -> np.ndarray:
        x0, y0, x1, y1 = box
        return np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])

    def make(image, entry):
        box = corners(entry["plates"][0]["box"])
        (cx, cy), (a, b) = box.mean(0), (box[2] - box[0]) / 2
        turn = np.radians(degrees)
        near, across = np.sin(turn) / distance, a * np.cos(turn)
        for side in (1, -1):
            left, right = b * (1 + side * near), b * (1 - side * near)
            seen = np.float32([[cx - across, cy - left], [cx + across, cy - right],
                               [cx + across, cy + right], [cx - across, cy + left]])
            matrix = cv2.getPerspectiveTransform(box, seen)
            warped = cv2.warpPerspective(image, matrix, image.shape[1::-1], flags=cv2.INTER_CUBIC,
                                         borderMode=cv2.BORDER_REFLECT)
            plates = [{**plate, "box": [round(float(v)) for v in quad_box(
                cv2.perspectiveTransform(corners(plate["box"]).reshape(-1, 1, 2), matrix).reshape(-1, 2))]}
                for plate in entry["plates"]]
            yield f"{Path(entry['image']).stem}_{'left' if side > 0 else 'right'}.jpg", warped, plates

    return _labelled_copy(folder, out, make)


def twin_copy(folder: Path, detector, count: int, out: Path, seed: int = TEST_SEED) -> Path:
    """Each labelled photo of `folder` `count` times in `out`, each real plate replaced by a
    synthetic twin: a plate of the same text and type, drawn as for training (its faces, wear,
    holder and bolts at random), pasted on the corners the detector finds for the real plate and
    seen through the training camera model around it. Read as the real photos are, the twins
    show what the renderer gets wrong: a field that the reader reads on the twins but not on
    the real plates is one the renderer draws unlike real plates (session 29: the class number)."""
    import dataclasses

    from stream_lpr.synth import degrade
    from stream_lpr.synth.compose import paste
    from stream_lpr.synth.crops import render_for_crop
    from stream_lpr.synth.sample import PlateSpec, sample_plate

    rng = np.random.default_rng([seed, 29])

    def make(image, entry):
        boxes = np.array([plate["box"] for plate in entry["plates"]], np.float32).reshape(-1, 4)
        found = detector.detect(image, still=True)
        overlap = box_iou(boxes, found.xyxy)
        for copy in range(count):
            twin = image.copy()
            for k, plate in enumerate(entry["plates"]):
                if overlap[k].max(initial=0.0) < 0.3:  # not found: no corners to paste on
                    continue
                quad = found.corners[int(overlap[k].argmax())]
                text = _label_text(plate)
                style = sample_plate(rng).style
                if text.plate_type != "graphic":
                    style = dataclasses.replace(style, graphic_frame="")
                width = float(np.linalg.norm(quad[1] - quad[0]))
                paste(twin, render_for_crop(PlateSpec(text, style), rng, width), quad)
                pad = 0.3 * width
                x0, y0 = np.maximum(np.floor(quad.min(0) - pad), 0).astype(int)
                x1, y1 = np.ceil(quad.max(0) + pad).astype(int)
                twin[y0:y1, x0:x1] = degrade.camera(degrade.light(twin[y0:y1, x0:x1], rng), rng)
            yield f"{Path(entry['image']).stem}_twin{copy}.jpg", twin, entry["plates"]

    return _labelled_copy(folder, out, make)


def evaluate_real(detector_path: Path, reader_path: Path, folder: Path, overrides: dict | None = None,
                  scales: tuple[float, ...] = (1.0,), close_ups: tuple[float, ...] = (),
                  large: tuple[float, ...] = (), blurred: bool = False, turned: tuple[float, ...] = (),
                  twins: int = 0, grey: bool = False) -> dict:
    """Real photos of Japanese plates labelled in folder/labels.jsonl (one line per image: its
    plates' boxes and fields), as they are ("real"), shrunk by each other scale
    ("real_at_0.5": the same plates farther away), as close-ups ("real_close_up_0.7": each
    plate filling 0.7 of a photo's width) and inside larger photos ("real_in_2.8x": a photo
    2.8 times as wide, the plates as many pixels wide as before), blurred ("real_blurred":
    each photo out of focus and with motion blur, blurred_copy()) and turned ("real_turned_45":
    each plate seen 45 degrees from either side, turned_copy()) and grey ("real_grey": no colour,
    as an infrared camera at night gives them, grey_copy()). What `run_stream.py` writes
    for them, and the probability the reader gives each true field (the mean over the still
    views of the detected plate): on a few photos that moves long before the exact match does,
    so it shows whether a renderer change brought the synthetic plates closer to real ones; and
    their mean plate_tone(), how far the ink sits from black; and `misses`, a line for each plate
    read wrong in any field (a type left unknown is not wrong) or not at all.
    With `twins`, every variant again with each real plate replaced by that many synthetic
    twins (twin_copy(); "twins", "twins_at_0.5", ...): where the twins' true fields get more
    probability than the real plates', the renderer draws that field unlike real plates."""
    import tempfile

    if not (folder / "labels.jsonl").is_file():
        raise StreamLprError(f"no labels.jsonl in {folder}")
    product = _product(detector_path, reader_path, overrides)
    report = {}
    with tempfile.TemporaryDirectory(prefix="lpr_real_") as tmp:
        sources = [("real", folder)]
        if twins:
            sources.append(("twins", twin_copy(folder, product[1], twins, Path(tmp) / "twins")))
        for name, source in sources:
            work = Path(tmp) / name
            for scale in scales:
                if scale == 1.0:
                    report[name] = _score_real(*product, source)
                else:
                    small = scaled_copy(source, scale, work / f"{scale:g}")
                    report[f"{name}_at_{scale:g}"] = _score_real(*product, small)
            for fill in close_ups:
                close = close_up_copy(source, fill, work / f"close_{fill:g}")
                report[f"{name}_close_up_{fill:g}"] = _score_real(*product, close)
            for factor in large:
                inside = large_copy(source, factor, work / f"large_{factor:g}")
                report[f"{name}_in_{factor:g}x"] = _score_real(*product, inside)
            if blurred:
                report[f"{name}_blurred"] = _score_real(*product, blurred_copy(source, work / "blurred"))
            for degrees in turned:
                turned_folder = turned_copy(source, degrees, work / f"turned_{degrees:g}")
                report[f"{name}_turned_{degrees:g}"] = _score_real(*product, turned_folder)
            if grey:
                report[f"{name}_grey"] = _score_real(*product, grey_copy(source, work / "grey"))
    return report


def _score_real(config, detector, readers, folder: Path) -> dict:
    import cv2

    from stream_lpr.readpolicy import still_views
    from stream_lpr.rectify import rectify

    labelled = read_labels(folder)
    rows = _rows(config, folder, detector, readers)
    fields = ("region", "class_number", "kana", "number")  # the exact match; the type is scored apart
    right, exact, plates, missed, false_rows = {f: 0 for f in fields + ("plate_type",)}, 0, 0, 0, 0
    untyped = 0  # rows with the type left unknown (always, on grey photos): not wrong, not right
    belief, tones, misses = {f: [] for f in fields}, [], []
    for entry in labelled:
        truths = entry["plates"]
        label_boxes = np.array([t["box"] for t in truths], np.float32).reshape(-1, 4)
        matched, on_nothing = _match_rows(rows.get(entry["image"], []), label_boxes)
        false_rows += on_nothing
        # The CSV holds no distributions: detect again to read the true fields' probabilities.
        image = cv2.imread(str(folder / entry["image"]))
        detections = detector.detect(image, still=True)
        seen = box_iou(label_boxes, detections.xyxy)
        for k, (truth, row) in enumerate(zip(truths, matched)):
            text = _label_text(truth)
            plates += 1
            if row is None:
                missed += 1
                misses.append(f"{entry['image']}: {text} ({text.plate_type}) got no row")
            else:
                for f in right:
                    right[f] += row[f] == getattr(text, f)
                exact += all(row[f] == getattr(text, f) for f in fields)
                untyped += row["plate_type"] == pf.UNKNOWN_TYPE
                typed_wrong = row["plate_type"] not in (text.plate_type, pf.UNKNOWN_TYPE)
                if typed_wrong or any(row[f] != getattr(text, f) for f in fields):
                    read_as = " ".join(row[f] or "?" for f in fields)
                    misses.append(f"{entry['image']}: {text} ({text.plate_type}) read {read_as} ({row['plate_type']})")
            if seen[k].max(initial=0.0) < 0.3:  # not detected: the reader never sees it
                for f in fields:
                    belief[f].append(0.0)
                continue
            views = still_views(detections.corners[int(seen[k].argmax())], config.read_policy.still_views)
            crops = [rectify(image, corners) for corners in views]
            tones.append(plate_tone(crops[0]))
            reads = readers[0].read(crops)
            per_view = [_true_probability(r.scores, text) for r in reads]
            for f in fields:
                belief[f].append(float(np.mean([v[f] for v in per_view])))
    result = {f"{f}_accuracy": right[f] / max(plates, 1) for f in right}
    result.update({"exact_match": exact / max(plates, 1), "plates": plates, "plates_without_a_row": missed,
                   "plate_type_unknown": untyped,
                   "rows_on_no_plate": false_rows,
                   "true_field_probability": {f: float(np.mean(v)) if v else 0.0 for f, v in belief.items()},
                   "plate_tone": float(np.mean(tones)) if tones else None,
                   "misses": misses})  # each plate read wrong in any field (a type left unknown is not), or not at all
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stream_lpr.evaluate", description=__doc__)
    parser.add_argument("--reader", type=Path, default=Path("weights/reader.int8.onnx"))
    parser.add_argument("--detector", type=Path, default=Path("weights/detector.int8.onnx"))
    parser.add_argument("--refiner", default="weights/refiner.onnx",
                        help='corner refiner applied after the detector ("": none, the detector\'s own corners)')
    parser.add_argument("--plates", type=int, default=2000, help="reader test plates")
    parser.add_argument("--frames", type=int, default=300, help="detector test frames per set")
    parser.add_argument("--conf", type=float, default=0.25, help="detector threshold for precision/recall")
    parser.add_argument("--seed", type=int, default=TEST_SEED)
    parser.add_argument("--photos", type=int, default=150, help="composed photos read end to end")
    parser.add_argument("--videos", type=int, default=40, help="composed 2 s video clips read end to end")
    parser.add_argument("--real", type=Path, default=Path("../shared/data/reference_jp"),
                        help="folder of real photos with a labels.jsonl")
    parser.add_argument("--real-scales", type=float, nargs="+", default=[1.0, 0.7, 0.5], metavar="S",
                        help="also read the real photos shrunk by these factors (1: as they are)")
    parser.add_argument("--real-close-ups", type=float, nargs="*", default=[0.7], metavar="F",
                        help="also read each real plate cropped to fill this share of a 1280 px photo's width")
    parser.add_argument("--real-large", type=float, nargs="*", default=[2.8], metavar="F",
                        help="also read each real photo pasted into a scene photo this many times as wide")
    parser.add_argument("--real-turned", type=float, nargs="*", default=[30.0, 45.0], metavar="DEG",
                        help="also read each real plate turned this many degrees about its upright axis, both ways")
    parser.add_argument("--blurred-plates", type=int, default=1000,
                        help="reader test plates all blurred more than a camera usually does (0: none)")
    parser.add_argument("--occluded-plates", type=int, default=500,
                        help="reader test plates with 10-35 %% of one side covered (0: none): how often the "
                             "hidden number is guessed at a confidence the pipeline would log")
    parser.add_argument("--masked-plates", type=int, default=500,
                        help="reader test plates whose number is hidden by a privacy mask (0: none): how often the "
                             "hidden number is guessed at a confidence the pipeline would log")
    parser.add_argument("--cut-plates", type=int, default=500,
                        help="reader test plates cut 4-40 %% by the frame's edge, cropped along it (0: none): how often "
                             "a number with digits beyond the edge is read at a confidence the pipeline would log")
    parser.add_argument("--any-kana-plates", type=int, default=1000,
                        help="reader test plates whose kana ignores the rules for the plate's colour (0: none): "
                             "whether the reader reads the letter or guesses it from the colour")
    parser.add_argument("--real-blurred", action=argparse.BooleanOptionalAction, default=True,
                        help="also read the real photos out of focus and with motion blur")
    parser.add_argument("--real-grey", action=argparse.BooleanOptionalAction, default=True,
                        help="also read the real photos without colour, as an infrared camera gives them")
    parser.add_argument("--real-twins", type=int, default=4, metavar="N",
                        help="also read every real-photo variant with each real plate replaced by N synthetic "
                             "plates of the same text (0: none): where the real plates' true fields get less "
                             "probability than their twins', the renderer draws them unlike real plates")
    parser.add_argument("--skip", choices=("reader", "detector", "photos", "videos", "real"), action="append", default=[])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config key for the photos and real runs, e.g. --set voting.field_min_confidence=0.5 (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    if (args.plates < 1 or args.frames < 1 or args.photos < 1 or args.videos < 1
            or min(args.blurred_plates, args.occluded_plates, args.masked_plates, args.cut_plates,
                   args.any_kana_plates, args.real_twins) < 0):
        parser.error("--plates, --frames, --photos and --videos take 1 or more, --blurred-plates, --occluded-plates, "
                     "--masked-plates, --cut-plates, --any-kana-plates and --real-twins 0 or more (--skip leaves a part out)")
    report = {}
    try:
        from stream_lpr.cli import set_overrides
        from stream_lpr.config import load_config
        from stream_lpr.synth import fonts
        from stream_lpr.synth.crops import SampleDraw

        fonts.warn_if_missing()

        overrides = {"models.refiner": args.refiner, **set_overrides(args.set)}
        views = load_config(None, overrides).read_policy.views
        if "reader" not in args.skip:
            # One view too: the network alone, for comparison with earlier readers.
            clean = evaluate_reader(args.reader, args.plates, args.seed, views=tuple({views, 1}))
            report["reader"] = clean[views]
            if views > 1:
                report["reader_one_view"] = clean[1]
            hard_sets = {"reader_blurred": (args.blurred_plates, SampleDraw(blur=1.0)),
                         "reader_occluded": (args.occluded_plates, SampleDraw(occlude=1.0)),
                         "reader_masked": (args.masked_plates, SampleDraw(mask=1.0)),
                         "reader_cut": (args.cut_plates, SampleDraw(cut=1.0)),
                         "reader_any_kana": (args.any_kana_plates, SampleDraw(any_kana=1.0))}
            for name, (count, draw) in hard_sets.items():
                if count:
                    report[name] = evaluate_reader(args.reader, count, args.seed, draw=draw, views=(views,))[views]
        if "detector" not in args.skip:
            report["detector"] = evaluate_detector(args.detector, args.frames, args.seed, args.conf,
                                                   Path(args.refiner) if args.refiner else None)
        if "photos" not in args.skip:
            report["photos"] = evaluate_photos(args.detector, args.reader, args.photos, args.seed, overrides)
        if "videos" not in args.skip:
            report["videos"] = evaluate_videos(args.detector, args.reader, args.videos, args.seed, overrides)
        if "real" not in args.skip:
            report.update(evaluate_real(args.detector, args.reader, args.real, overrides, tuple(args.real_scales),
                                        tuple(args.real_close_ups), tuple(args.real_large), args.real_blurred,
                                        tuple(args.real_turned), args.real_twins, args.real_grey))
    except StreamLprError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
