"""A sightings CSV as an HTML page (report.py): the rows of a real run, their pictures embedded."""

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import PLATE_A, PLATE_B
from scenes import SMALL, two_plates, write_scene

ROOT = Path(__file__).resolve().parents[1]


def run(args, cwd, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A real run on a video of plates A and B: its CSV and crops, written from the folder `run/`
    so the CSV names its pictures relative to it."""
    folder = tmp_path_factory.mktemp("report") / "run"
    folder.mkdir()
    write_scene(folder / "20261201_080000.mp4", two_plates(60), 60, size=SMALL)
    result = run([str(ROOT / "run_stream.py"), "--source", "20261201_080000.mp4", "--csv", "s.csv",
                  "--save-crops", "crops", "--no-progress", "--set", "tracking.lost_track_s=0.3"], cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder / "s.csv"


def pictures(page: str) -> list[np.ndarray]:
    return [cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
            for data in re.findall(r'src="data:image/jpeg;base64,([^"]+)"', page)]


def test_a_report_shows_every_sighting_with_its_plate_and_car_pictures(logged, tmp_path):
    # Made from elsewhere: the pictures are found beside the CSV.
    result = run(["-m", "stream_lpr.report", str(logged), "--out", str(tmp_path / "r.html")], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert str(PLATE_A) in page and str(PLATE_B) in page and "2 sightings of 2 plates" in page
    images = pictures(page)
    assert len(images) == 4 and all(image is not None for image in images)  # a crop and a car for each
    crops = [image for image in images if image.shape[0] * 2 == image.shape[1]]
    assert len(crops) == 2  # the crops as saved, 2:1; the cars larger
    assert "20261201_080000.mp4" in page


def test_find_and_a_watchlist_keep_the_rows_of_the_plates_they_name(logged, tmp_path):
    watch = tmp_path / "watch.txt"
    watch.write_text(f"{PLATE_B.kana} {PLATE_B.number}  # the kei car\n", encoding="utf-8")
    for args, kept, left in ((["--find", f"{PLATE_A.kana} {PLATE_A.number}"], PLATE_A, PLATE_B),
                             (["--watchlist", str(watch)], PLATE_B, PLATE_A)):
        result = run(["-m", "stream_lpr.report", str(logged), "--out", str(tmp_path / "r.html"), *args], cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        page = (tmp_path / "r.html").read_text(encoding="utf-8")
        assert str(kept) in page and str(left) not in page and "1 sightings of 1 plates" in page


def test_bad_input_is_one_line_and_an_exit_code(logged, tmp_path):
    (tmp_path / "other.csv").write_text("name,value\na,1\n", encoding="utf-8")
    for args, code, message in (([str(tmp_path / "none.csv")], 1, "CSV not found"),
                                ([str(tmp_path / "other.csv")], 1, "is not a stream_lpr sightings CSV"),
                                ([str(logged), "--find", "xx"], 2, "is not a designation number"),
                                ([str(logged), "--watchlist", str(tmp_path / "none.txt")], 2, "watchlist file not found")):
        result = run(["-m", "stream_lpr.report", *args, "--out", str(tmp_path / "r.html")], cwd=tmp_path)
        assert result.returncode == code and "Traceback" not in result.stderr
        assert message in result.stderr.strip().splitlines()[-1]


def test_a_photos_row_names_the_photo_without_a_time_into_it(tmp_path):
    from scenes import render_scene

    cv2.imwrite(str(tmp_path / "IMG_0001.jpg"), render_scene(two_plates(20), 20, SMALL)[15])
    result = run([str(ROOT / "run_stream.py"), "--source", "IMG_0001.jpg", "--csv", "p.csv", "--no-progress"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert run(["-m", "stream_lpr.report", "p.csv"], cwd=tmp_path).returncode == 0
    page = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert str(PLATE_A) in page and str(PLATE_B) in page
    assert "<td>IMG_0001.jpg</td>" in page and " s in" not in page
    assert page.count("no picture (--save-crops)") == 2  # crops were not saved: the page says how


def test_a_row_cut_short_by_a_killed_run_does_not_stop_the_report(logged, tmp_path):
    cut = tmp_path / "cut.csv"
    cut.write_text(logged.read_text(encoding="utf-8") + "clip.mp4,9,1.000,2.", encoding="utf-8")
    result = run(["-m", "stream_lpr.report", str(cut)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "3 sightings of 2 plates" in (tmp_path / "cut.html").read_text(encoding="utf-8")
