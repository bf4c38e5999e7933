"""The Python API: the real models and pipeline on a program's own images and videos."""

import csv

import cv2
import numpy as np
import pytest
from PIL import Image

from helpers import PLATE_A, PLATE_B
from scenes import SMALL, render_scene, two_plates, write_scene
from stream_lpr.api import Recognizer
from stream_lpr.errors import ConfigError, SourceError, StreamLprError
from stream_lpr.recorded_at import open_heif


@pytest.fixture(scope="module")
def lpr():
    return Recognizer(overrides={"tracking.lost_track_s": 0.3})


def plates(sightings):
    return sorted(s.verdict.display() for s in sightings)


def test_an_image_array_or_file_gives_a_sighting_per_plate(lpr, tmp_path):
    frame = render_scene(two_plates(60), 20, SMALL)[15]  # A and B in view
    found = lpr.read_image(frame)
    assert plates(found) == sorted([str(PLATE_A), str(PLATE_B)])
    assert all(s.verdict.confidence > 0.5 and s.xyxy is not None and s.best_crop is not None for s in found)
    a = next(s for s in found if s.verdict.display() == str(PLATE_A))
    assert a.xyxy[0] < SMALL[0] / 2 and a.verdict.plate_type == "private"  # A stands on the left

    cv2.imwrite(str(tmp_path / "two.png"), frame)
    assert plates(lpr.read_image(tmp_path / "two.png")) == plates(found)
    open_heif()  # an iPhone's HEIC photo, written through pillow-heif
    Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).save(tmp_path / "two.heic", quality=90)
    assert plates(lpr.read_image(tmp_path / "two.heic")) == plates(found)
    assert plates(lpr.read_image(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))) == plates(found)  # grey works too
    assert lpr.read_image(np.zeros((360, 640, 3), np.uint8)) == []


def test_a_video_gives_each_vehicle_once_as_it_is_written(lpr, tmp_path):
    video = tmp_path / "two.mp4"
    write_scene(video, two_plates(60), 60, size=SMALL)
    heard = []
    found = lpr.run(video, on_sighting=heard.append)
    # B left mid-video, A was in view to the end: B comes first
    assert [s.verdict.display() for s in found] == [str(PLATE_B), str(PLATE_A)]
    assert heard == found
    assert found[1].first_frame <= 3 and found[1].last_frame >= 57


def test_a_folder_of_videos_is_read_video_by_video_and_a_broken_one_raised_after_the_rest(lpr, tmp_path):
    card = tmp_path / "Movie"
    card.mkdir()
    write_scene(card / "20261201_0800.mp4", two_plates(60), 60, size=SMALL)
    (card / "20261201_0801.mp4").write_bytes((card / "20261201_0800.mp4").read_bytes())
    (card / "20261201_0802.mp4").write_bytes(b"\0" * 4096)
    got = []
    with pytest.raises(StreamLprError, match="1 of 3 videos .* 20261201_0802.mp4"):
        lpr.run(card, on_sighting=got.append)
    assert sorted((s.source.rsplit("/", 1)[-1], s.verdict.display()) for s in got) == sorted(
        (name, str(plate)) for name in ("20261201_0800.mp4", "20261201_0801.mp4") for plate in (PLATE_A, PLATE_B))
    (card / "20261201_0802.mp4").unlink()
    assert plates(lpr.run(card)) == plates(got)


def test_outputs_named_in_the_settings_are_written_too(tmp_path):
    video = tmp_path / "two.mp4"
    write_scene(video, two_plates(60), 60, size=SMALL)
    lpr = Recognizer(overrides={"output.csv": str(tmp_path / "s.csv"), "output.video": str(tmp_path / "o.mp4")})
    found = lpr.run(video)
    rows = list(csv.DictReader(open(tmp_path / "s.csv", encoding="utf-8")))
    assert [r["plate"] for r in rows] == [s.verdict.display() for s in found] and len(rows) == 2
    assert cv2.VideoCapture(str(tmp_path / "o.mp4")).get(cv2.CAP_PROP_FRAME_COUNT) == 60


def test_mistakes_are_the_command_line_s_one_line_errors(lpr, tmp_path):
    with pytest.raises(SourceError, match="source not found"):
        lpr.run(tmp_path / "missing.mp4")
    with pytest.raises(SourceError, match="an image array must be uint8"):
        lpr.read_image(np.zeros((10, 10, 3), np.float32))
    video = tmp_path / "two.mp4"
    write_scene(video, two_plates(10), 10, size=SMALL)
    with pytest.raises(SourceError, match="not an image"):
        lpr.read_image(video)
    with pytest.raises(ConfigError, match="detection.every_n_frame"):
        Recognizer(overrides={"detection.every_n_frame": 2})
