"""Real weights on generated videos: every plate logged exactly once, with the right text.

Needs weights/detector.int8.onnx and weights/reader.int8.onnx (the models issue) and the plate renderer.
Set STREAM_LPR_TEST_CONFIG=path.yaml to run them with other weights.
"""

import csv
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import write_video
from scenes import P_PRIVATE, SCENARIOS, Appearance, render_scene, write_scene
from stream_lpr.evaluate import read_labels
from stream_lpr.synth.compose import DEFAULT_SCENES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenes")
    paths = {}
    for name, (appearances, frames) in SCENARIOS.items():
        paths[name] = folder / f"{name}.mp4"
        write_scene(paths[name], appearances, frames)
    return paths


def run_cli(args, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "YOLO_OFFLINE": "1"}
    # STREAM_LPR_TEST_CONFIG: try candidate weights without touching weights/ (default: config.yaml)
    config = os.environ.get("STREAM_LPR_TEST_CONFIG")
    args = ["--config", config, *args] if config else list(args)
    return subprocess.run([sys.executable, str(ROOT / "run_stream.py"), "--no-progress", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def frame_count(path):
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    return count


# Which way each scenario's plates go: across 3 widths, from 110 to 300 px wide, out of the
# frame; the rest move under half a plate width.
DIRECTIONS = {"moving": ["right"], "scaling": ["approaching"], "leaving": ["right", ""], "two_at_once": ["", ""]}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_plate_logged_once_with_the_right_text(name, videos, tmp_path):
    appearances, frames = SCENARIOS[name]
    csv_path, out = tmp_path / "s.csv", tmp_path / "annotated.mp4"
    result = run_cli(["--source", str(videos[name]), "--csv", str(csv_path), "--output", str(out),
                      "--save-crops", str(tmp_path / "crops")])
    assert result.returncode == 0, result.stderr[-2000:]
    rows = list(csv.DictReader(open(csv_path, encoding="utf-8")))
    assert sorted(r["plate"] for r in rows) == sorted(str(a.plate) for a in appearances), rows
    for row in rows:
        expected = next(a for a in appearances if str(a.plate) == row["plate"])
        assert row["plate_type"] == expected.plate.plate_type
        assert row["number"] == expected.plate.number and row["region"] == expected.plate.region
        # the sighting spans most of the plate's time on screen (a leaving plate is lost at the edge)
        on_screen = min(expected.end, frames) - expected.start
        assert int(row["first_frame"]) <= expected.start + 5
        assert int(row["last_frame"]) >= expected.start + 0.6 * on_screen
        assert row["direction"] == DIRECTIONS[name][appearances.index(expected)]
        assert Path(row["crop_path"]).is_file()
        # The vehicle picture holds the plate's box, a few plate widths of the frame around it.
        vehicle, box = cv2.imread(row["vehicle_path"]), [int(row[k]) for k in ("x1", "y1", "x2", "y2")]
        assert vehicle.shape[1] >= 3 * (box[2] - box[0]) and vehicle.shape[0] > 2 * (box[3] - box[1])
    assert frame_count(out) == frames  # --output writes every frame


def test_a_grey_video_leaves_the_plate_type_unknown(tmp_path):
    # An infrared camera at night: no colour to tell the kei plate's yellow from white. MPEG-4
    # decodes the grey frames with a faint tint (blue a few levels above green), still grey.
    appearances, frames = SCENARIOS["scaling"]
    video = tmp_path / "grey.mp4"
    write_video(video, [cv2.cvtColor(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
                        for f in render_scene(appearances, frames)])
    csv_path = tmp_path / "s.csv"
    result = run_cli(["--source", str(video), "--csv", str(csv_path)])
    assert result.returncode == 0, result.stderr[-2000:]
    rows = list(csv.DictReader(open(csv_path, encoding="utf-8")))
    assert [(r["plate"], r["plate_type"]) for r in rows] == [(str(appearances[0].plate), "unknown")], rows


def test_still_image_source(videos, tmp_path):
    folder = tmp_path / "stills"
    folder.mkdir()
    cap = cv2.VideoCapture(str(videos["two_at_once"]))
    for i in range(3):
        ok, frame = cap.read()
        assert ok
        cv2.imwrite(str(folder / f"{i}.png"), frame)
    result = run_cli(["--source", str(folder), "--csv", str(tmp_path / "s.csv")])
    assert result.returncode == 0, result.stderr[-2000:]
    rows = list(csv.DictReader(open(tmp_path / "s.csv", encoding="utf-8")))
    appearances, _ = SCENARIOS["two_at_once"]
    for i in range(3):
        plates = sorted(r["plate"] for r in rows if r["source"] == str(folder / f"{i}.png"))
        assert plates == sorted(str(a.plate) for a in appearances)


@pytest.mark.parametrize("side", ["left", "right"])
def test_only_plates_inside_the_region_of_interest_are_logged(side, videos, tmp_path):
    # two_at_once: one plate on the left half of the frame, one on the right, the whole time
    left, right = sorted(SCENARIOS["two_at_once"][0], key=lambda a: a.centre_from[0])
    x0, x1 = (0, 0.5) if side == "left" else (0.5, 1)
    roi = f"[[{x0},0],[{x1},0],[{x1},1],[{x0},1]]"
    csv_path, out = tmp_path / "s.csv", tmp_path / "annotated.mp4"
    result = run_cli(["--source", str(videos["two_at_once"]), "--csv", str(csv_path), "--output", str(out),
                      "--set", f"detection.roi={roi}"])
    assert result.returncode == 0, result.stderr[-2000:]
    rows = list(csv.DictReader(open(csv_path, encoding="utf-8")))
    assert [r["plate"] for r in rows] == [str((left if side == "left" else right).plate)], rows
    # the region's outline is drawn: the column at its inner edge differs from the source frame's
    cap_in, cap_out = cv2.VideoCapture(str(videos["two_at_once"])), cv2.VideoCapture(str(out))
    (_, source), (_, drawn) = cap_in.read(), cap_out.read()
    column = round(0.5 * (source.shape[1] - 1))
    edge = np.abs(drawn[:, column].astype(int) - source[:, column]).sum(axis=1)
    assert (edge > 150).mean() > 0.8  # the cyan line, not just the codec's noise


def test_missing_weights_is_one_line(videos, tmp_path):
    result = run_cli(["--source", str(videos["moving"]), "--detector", str(tmp_path / "none.onnx")])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("stream-lpr: error: weights not found")


def test_a_plate_hidden_for_a_moment_gets_one_row(tmp_path):
    # Gone for half a second (behind a truck, say) and back 2 plate widths further on: the
    # tracker starts a new track; the two tracks share the number, so they make one row. With
    # merging off it makes two: checked, so that this test keeps testing the merge.
    gone = [Appearance(P_PRIVATE, 0, 20, (300, 450), (500, 450), 200, 200, seed=7),
            Appearance(P_PRIVATE, 35, 60, (900, 470), (1000, 470), 200, 200, seed=7)]
    video, csv_path = tmp_path / "gap.mp4", tmp_path / "s.csv"
    write_scene(video, gone, 60)
    for merge, rows_expected in (("0", 2), ("1.0", 1)):
        result = run_cli(["--source", str(video), "--csv", str(csv_path), "--set", f"voting.merge_within_s={merge}"])
        assert result.returncode == 0, result.stderr[-2000:]
        rows = list(csv.DictReader(open(csv_path, encoding="utf-8")))
        assert [r["plate"] for r in rows] == [str(P_PRIVATE)] * rows_expected, (merge, rows)
    assert int(rows[0]["first_frame"]) < 20 and int(rows[0]["last_frame"]) >= 50


SEED_IMAGES = ROOT.parent / "shared" / "seed" / "images"


@pytest.mark.parametrize("log_unread", [True, False])
def test_a_real_plate_with_a_masked_number_gives_its_upper_row_and_no_guessed_number(tmp_path, log_unread):
    # The seed project's real photos of one rental car's plate, 沖縄 505 れ with the designation
    # number blurred out: a phone photo of the car (the first panel of its pipeline figure) and
    # a close-up with numbered marks drawn around it. The other fields are there to read; the
    # number is not, and a guessed one would be a wrong row.
    folder = tmp_path / "real"
    folder.mkdir()
    figure = cv2.imread(str(SEED_IMAGES / "ZeluqoXjBnVr.png"))
    assert figure is not None, f"missing {SEED_IMAGES / 'ZeluqoXjBnVr.png'}"
    cv2.imwrite(str(folder / "car.png"), figure[:375, :500])
    cv2.imwrite(str(folder / "close_up.png"), cv2.imread(str(SEED_IMAGES / "XZjptNTxOZF.png")))
    csv_path = tmp_path / "s.csv"
    result = run_cli(["--source", str(folder), "--csv", str(csv_path), *(["--log-unread"] if log_unread else [])])
    assert result.returncode == 0, result.stderr[-2000:]
    rows = list(csv.DictReader(open(csv_path, encoding="utf-8")))
    if not log_unread:
        assert rows == []  # a row needs the number
        return
    assert sorted(Path(r["source"]).name for r in rows) == ["car.png", "close_up.png"], rows
    for row in rows:
        assert (row["region"], row["class_number"], row["kana"], row["number"]) == ("沖縄", "505", "れ", ""), row
        # The close-up is a grey picture: no colour to tell the plate type by.
        grey = Path(row["source"]).name == "close_up.png"
        assert row["plate_type"] == ("unknown" if grey else "private") and row["plate"] == ""


REFERENCE_JP = DEFAULT_SCENES.parent / "reference_jp"


def test_boxes_the_reader_dismisses_are_not_drawn(tmp_path):
    # Besides its plate, the detector boxes something else in each real reference photo (a
    # parking sign's price line, a drain grate, a badge). Read 9 times, each shows one field at
    # most: no CSV row, and by default no box either (and a still gets no HUD). As PNG files, so
    # that a pixel the overlay did not touch comes back unchanged.
    folder, plates = tmp_path / "in", {}
    folder.mkdir()
    for entry in read_labels(REFERENCE_JP):
        name = Path(entry["image"]).stem + ".png"
        cv2.imwrite(str(folder / name), cv2.imread(str(REFERENCE_JP / entry["image"])))
        plates[name] = entry["plates"][0]["box"]
    changed_away = {}
    for show in ("false", "true"):
        out = tmp_path / f"out_{show}"
        result = run_cli(["--source", str(folder), "--output", str(out), "--set", f"overlay.show_dismissed={show}"])
        assert result.returncode == 0, result.stderr[-2000:]
        changed_away[show] = 0
        for name, (x0, y0, x1, y1) in plates.items():
            changed = (cv2.imread(str(out / name)) != cv2.imread(str(folder / name))).any(axis=2)
            assert changed[y0:y1, x0:x1].any(), f"{name}: its plate is not drawn"
            changed[max(y0 - 60, 0) : y1 + 40, max(x0 - 40, 0) : x1 + 300] = False  # the quad and its label
            changed_away[show] += int(changed.sum())
    assert changed_away["false"] == 0
    assert changed_away["true"] > 0  # else the photos no longer test this
