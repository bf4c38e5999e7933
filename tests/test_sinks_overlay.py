import csv
import json
import os
import threading
import time
import urllib.request
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest

from helpers import PLATE_A
from stream_lpr.config import OverlayConfig
from stream_lpr.errors import DisplayError
from stream_lpr.overlay import HudStats, LabelRenderer, Overlay, find_cjk_font, paste
from stream_lpr.records import Sighting, TrackedPlate, Verdict
from stream_lpr.preview import WebPreview
from stream_lpr.sinks import CSV_HEADER, CropSaver, CsvSink, VideoSink, check_display, sighting_record

HEADER = ("source,track_id,first_seen_s,last_seen_s,first_frame,last_frame,plate,region,class_number,"
          "kana,number,plate_type,confidence,reads,x1,y1,x2,y2,crop_path,seen_at_utc,seen_at_local,direction,watchlist,"
          "vehicle_path,"
          "watchlist_match,region_confidence,class_number_confidence,kana_confidence,number_confidence,"
          "plate_type_confidence")


def verdict(text=PLATE_A, stable=True):
    fields = (text.region, text.class_number, text.kana, text.number) if text else (None,) * 4
    confidence = dict(zip(("region", "class_number", "kana", "number", "plate_type"), (0.97, 0.91, 0.99, 1.0, 0.95)))
    return Verdict(text, *fields, text.plate_type if text else "unknown", 0.91 if text else 0.0,
                   5 if text else 0, stable, confidence if text else {})


def sighting(v=None, crop=None, vehicle=None):
    return Sighting("drive.mp4", 3, 1.5, 4.25, 45, 127, v or verdict(), np.array([10.4, 20, 110, 70.6]),
                    crop, datetime(2025, 5, 1, 12, 0, tzinfo=timezone.utc), best_vehicle=vehicle)


def test_csv_header_is_exact():
    assert ",".join(CSV_HEADER) == HEADER


def test_csv_rows_are_flushed_one_by_one(tmp_path):
    path = tmp_path / "out" / "s.csv"
    sink = CsvSink(path, zone=timezone(timedelta(hours=9)))  # the local column in Japan's time
    sink.write(sighting())
    # Readable before close: a killed run keeps every row written so far.
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert rows == [{
        "source": "drive.mp4", "track_id": "3", "first_seen_s": "1.500", "last_seen_s": "4.250",
        "first_frame": "45", "last_frame": "127", "plate": "品川 300 あ 12-34", "region": "品川",
        "class_number": "300", "kana": "あ", "number": "12-34", "plate_type": "private",
        "confidence": "0.910", "reads": "5", "x1": "10", "y1": "20", "x2": "110", "y2": "71",
        "crop_path": "", "seen_at_utc": "2025-05-01T12:00:00.000+00:00",
        "seen_at_local": "2025-05-01 21:00:00.000+09:00", "direction": "",
        "watchlist": "", "vehicle_path": "", "watchlist_match": "", "region_confidence": "0.970",
        "class_number_confidence": "0.910", "kana_confidence": "0.990", "number_confidence": "1.000",
        "plate_type_confidence": "0.950",
    }]
    sink.close()


def test_csv_unread_row_has_empty_plate(tmp_path):
    with CsvSink(tmp_path / "s.csv") as sink:
        sink.write(sighting(verdict(None, False)))
    row = next(csv.DictReader((tmp_path / "s.csv").open(encoding="utf-8")))
    assert row["plate"] == "" and row["region"] == "" and row["plate_type"] == "unknown" and row["reads"] == "0"
    assert row["region_confidence"] == row["number_confidence"] == ""  # never read: no probability at all


def test_video_sink_writes_a_playable_file(tmp_path):
    path = tmp_path / "v.mp4"
    with VideoSink(path, fps=12) as sink:
        for i in range(10):
            sink.write(np.full((48, 64, 3), i * 20, np.uint8))
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12)
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == 10


def test_crop_saver(tmp_path):
    saver = CropSaver(tmp_path / "crops")
    crop, vehicle = saver.save(sighting(crop=np.zeros((64, 128, 3), np.uint8), vehicle=np.zeros((400, 600, 3), np.uint8)))
    # The time first seen in the name: a restarted run's track 3 is another file.
    assert crop.endswith("drive_20250501T120000_t3.jpg") and cv2.imread(crop).shape == (64, 128, 3)
    assert vehicle.endswith("drive_20250501T120000_t3_vehicle.jpg") and cv2.imread(vehicle).shape == (400, 600, 3)
    assert saver.save(sighting()) == ("", "")


def test_a_resumed_csv_keeps_the_last_runs_rows(tmp_path):
    path = tmp_path / "s.csv"
    with CsvSink(path) as sink:
        sink.write(sighting())
    with open(path, "a", encoding="utf-8") as f:
        f.write("cam,4,9.0")  # a run killed in the middle of a row
    with CsvSink(path, append=True) as sink:
        sink.write(sighting())
    rows = list(csv.reader(path.open(encoding="utf-8")))
    assert rows[0] == CSV_HEADER and len(rows) == 4 and rows[1] == rows[3] and rows[2] == ["cam", "4", "9.0"]
    with CsvSink(path) as sink:  # not appending: a fresh file
        pass
    assert list(csv.reader(path.open(encoding="utf-8"))) == [CSV_HEADER]


def test_a_dated_csv_name_gives_a_file_a_day_by_each_sighting_s_local_time(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "JST-9")  # Japan's time (POSIX form: no tz database needed); days are local
    time.tzset()
    try:
        template = tmp_path / "log" / "sightings-%Y-%m-%d.csv"
        late = replace(sighting(), seen_at=datetime(2026, 12, 6, 14, 59, tzinfo=timezone.utc))  # 23:59 in Japan
        early = replace(sighting(), seen_at=datetime(2026, 12, 6, 15, 1, tzinfo=timezone.utc))  # 00:01
        with CsvSink(template) as sink:
            assert list((tmp_path / "log").iterdir()) == []  # a dated file is begun at its first row
            for s in (late, early, early):
                sink.write(s)
        days = {p.name: list(csv.reader(p.open(encoding="utf-8"))) for p in (tmp_path / "log").iterdir()}
        assert sorted(days) == ["sightings-2026-12-06.csv", "sightings-2026-12-07.csv"]
        assert [len(rows) for _, rows in sorted(days.items())] == [2, 3]  # each with its header
        assert all(rows[0] == CSV_HEADER for rows in days.values())

        started = set()  # a folder of videos: the second video's sink appends to what the first began
        with CsvSink(template, started=started) as sink:
            sink.write(late)
        with CsvSink(template, started=started) as sink:
            sink.write(late)
            sink.write(early)
        assert len(list(csv.reader((tmp_path / "log" / "sightings-2026-12-06.csv").open(encoding="utf-8")))) == 3
        assert len(list(csv.reader((tmp_path / "log" / "sightings-2026-12-07.csv").open(encoding="utf-8")))) == 2
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_card_read_abroad_is_dated_and_stamped_in_the_zone_it_was_recorded_in(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC0")  # this machine: UTC; the card's zone: Japan's (capture.file_timezone)
    time.tzset()
    try:
        early = replace(sighting(), seen_at=datetime(2026, 12, 6, 15, 1, tzinfo=timezone.utc))  # 00:01 in Japan
        with CsvSink(tmp_path / "%Y-%m-%d.csv", zone=timezone(timedelta(hours=9))) as sink:
            sink.write(early)
        [row] = csv.DictReader((tmp_path / "2026-12-07.csv").open(encoding="utf-8"))
        assert (row["seen_at_utc"], row["seen_at_local"]) == ("2026-12-06T15:01:00.000+00:00",
                                                              "2026-12-07 00:01:00.000+09:00")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_csv_of_other_columns_is_moved_aside_not_appended_to(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("source,track_id,plate\ncam,1,品川 300 あ 12-34\n", encoding="utf-8")
    with CsvSink(path, append=True) as sink:
        sink.write(sighting())
    assert list(csv.reader(path.open(encoding="utf-8")))[0] == CSV_HEADER
    (aside,) = [p for p in tmp_path.iterdir() if p != path]
    assert aside.name.startswith("s.") and aside.suffix == ".csv"
    assert "品川 300 あ 12-34" in aside.read_text(encoding="utf-8")


def test_no_display_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(DisplayError, match="--output"):
        check_display()


def test_unreachable_display_is_a_clear_error_not_an_abort(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":97")  # no X server there: Qt would abort the process
    with pytest.raises(DisplayError, match="--output"):
        check_display()


def test_font_is_found_and_renders_japanese():
    font = find_cjk_font()
    assert font.is_file()
    label = LabelRenderer(font, 22).render("品川 300 あ 12-34", (0, 0, 0), (255, 255, 255))
    assert label.shape[0] >= 22 and label.shape[1] > 100
    assert (label < 128).any()  # glyphs were drawn, not tofu-free blanks only


def test_labels_are_cached():
    renderer = LabelRenderer(find_cjk_font(), 20, cache_size=2)
    first = renderer.render("品川", (0, 0, 0), (255, 255, 255))
    assert renderer.render("品川", (0, 0, 0), (255, 255, 255)) is first
    renderer.render("a", (0, 0, 0), (255, 255, 255))
    renderer.render("b", (0, 0, 0), (255, 255, 255))
    assert renderer.render("品川", (0, 0, 0), (255, 255, 255)) is not first  # evicted


def test_missing_explicit_font():
    with pytest.raises(Exception, match="font_path"):
        find_cjk_font("/nonexistent/font.ttf")


@pytest.mark.parametrize("x, y", [(-5, -5), (90, 40), (200, 200)])
def test_paste_clips_at_borders(x, y):
    scene = np.zeros((50, 100, 3), np.uint8)
    paste(scene, np.full((20, 30, 3), 255, np.uint8), x, y)
    inside = max(0, min(x + 30, 100) - max(x, 0)) * max(0, min(y + 20, 50) - max(y, 0))
    assert (scene[..., 0] == 255).sum() == inside


def test_overlay_draws_on_a_copy():
    image = np.zeros((240, 320, 3), np.uint8)
    corners = np.array([[100, 100], [200, 100], [200, 150], [100, 150]], np.float32)
    plate = TrackedPlate(7, np.array([100, 100, 200, 150], np.float32), corners, 0.9, 0)
    overlay = Overlay(OverlayConfig())
    scene = overlay.draw(image, [(plate, verdict()), (plate, verdict(stable=False)), (plate, None)],
                         HudStats(29.5, 3, 1, 2, 0, 40.0))
    assert not image.any() and scene.any()
    assert scene[60:100, 100:200].any()  # the label above the plate


def test_the_hud_counts_the_sightings_written():
    image = np.full((720, 1280, 3), 120, np.uint8)
    scenes = [Overlay(OverlayConfig()).draw(image, [], HudStats(29.5, 3, 1, 2, 0, 40.0, n)) for n in (0, 0, 17)]
    changed = np.argwhere((scenes[2] != scenes[0]).any(axis=2))
    assert (scenes[0] == scenes[1]).all() and len(changed)
    assert changed[:, 0].min() > 4 * 18 and changed[:, 0].max() < 6 * 18 + 8  # the fifth of six lines
    assert changed[:, 1].max() < 250


def test_quads_show_the_vote_state():
    image = np.zeros((240, 400, 3), np.uint8)
    stable_quad = np.array([[40, 150], [140, 150], [140, 200], [40, 200]], np.float32)
    tentative_quad = stable_quad + [200, 0]
    plates = [(TrackedPlate(1, np.array([40, 150, 140, 200], np.float32), stable_quad, 0.9, 0), verdict()),
              (TrackedPlate(2, np.array([240, 150, 340, 200], np.float32), tentative_quad, 0.9, 1), None)]
    scene = Overlay(OverlayConfig(hud=False)).draw(image, plates)
    assert scene[200, 90].tolist() == [0, 255, 0]  # stable: green on the quad's bottom edge
    assert scene[200, 290].tolist() == [0, 165, 255]  # tentative: orange (BGR)
    assert not scene[175, 90].any() and not scene[175, 290].any()  # outlines, not filled


def _label_height(lines: int) -> int:
    """Rows of a stable plate's label above its quad, drawn on a black frame of `lines` lines."""
    s = lines / 720
    corners = np.array([[300, 300], [500, 300], [500, 400], [300, 400]], np.float32) * s
    plate = TrackedPlate(1, np.concatenate([corners.min(0), corners.max(0)]), corners, 0.9, 0)
    scene = Overlay(OverlayConfig(hud=False)).draw(np.zeros((lines, lines * 16 // 9, 3), np.uint8), [(plate, verdict())])
    rows = np.flatnonzero(scene[: int(corners[0, 1]) - 1].any(axis=(1, 2)))
    return int(rows.max() - rows.min() + 1)


def test_labels_grow_with_the_frame_so_a_4k_window_shrunk_to_a_screen_still_reads():
    base = _label_height(720)
    assert _label_height(360) == base  # never smaller than font_size
    assert _label_height(2160) == pytest.approx(3 * base, rel=0.1)


def test_watched_plates_are_drawn_in_red_with_their_note():
    image = np.zeros((240, 400, 3), np.uint8)
    quad = np.array([[40, 150], [140, 150], [140, 200], [40, 200]], np.float32)
    plates = [(TrackedPlate(1, np.array([40, 150, 140, 200], np.float32), quad, 0.9, 0), verdict()),
              (TrackedPlate(2, np.array([240, 150, 340, 200], np.float32), quad + [200, 0], 0.9, 1), verdict())]
    overlay = Overlay(OverlayConfig(hud=False))
    scene = overlay.draw(image, plates, watched={1: "stolen"})
    assert scene[200, 90].tolist() == [0, 0, 255]  # watched: red on the quad's bottom edge
    assert scene[200, 290].tolist() == [0, 255, 0]  # the other stable plate stays green
    label = scene[100:148, 40:400]
    assert ((label == (0, 0, 210)).all(axis=2)).sum() > 500  # the red label
    plain = overlay.draw(image, plates)
    # The note makes the label longer than the same plate's unwatched label.
    assert (scene[100:148, 40:].any(axis=2).any(axis=0).sum()
            > plain[100:148, 40:240].any(axis=2).any(axis=0).sum())


def test_a_live_recording_moves_the_earlier_one_aside(tmp_path):
    path = tmp_path / "cam.mp4"
    for run in range(3):  # three restarts within a second: three files kept
        with VideoSink(path, fps=10, keep_earlier=True) as sink:
            sink.write(np.full((48, 64, 3), run * 50, np.uint8))
    assert len(list(tmp_path.glob("cam.*.mp4"))) == 2 and path.is_file()
    with VideoSink(path, fps=10) as sink:  # a file source's re-run replaces its result
        sink.write(np.zeros((48, 64, 3), np.uint8))
    assert len(list(tmp_path.glob("cam*.mp4"))) == 3


def test_a_live_recording_is_closed_and_set_aside_every_segment(tmp_path):
    path, now = tmp_path / "cam.mp4", [0.0]
    with VideoSink(path, fps=10, segment_s=3.0, clock=lambda: now[0]) as sink:
        for k in range(10):  # a frame a second: segments of frames 0-2, 3-5, 6-8, and 9 still open
            sink.write(np.full((48, 64, 3), 20 * k, np.uint8))
            now[0] += 1.0
        assert len(list(tmp_path.glob("cam.*.mp4"))) == 3
    counts = []
    # Each playable, set aside in order (within one second: cam.<time>.mp4, then -1, -2).
    for segment in sorted(tmp_path.glob("cam.*.mp4"), key=lambda p: p.stat().st_mtime_ns) + [path]:
        cap = cv2.VideoCapture(str(segment))
        frames = []
        while (read := cap.read())[0]:
            frames.append(int(read[1].mean() / 20 + 0.5))
        counts.append(frames)
    assert counts == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_rows_after_a_copy_and_truncate_start_at_the_files_start(tmp_path):
    # What logrotate's copytruncate does to a camera's CSV while the logger runs.
    path = tmp_path / "s.csv"
    with CsvSink(path) as sink:
        sink.write(sighting())
        os.truncate(path, 0)
        sink.write(sighting())
    rows = list(csv.reader(path.open(encoding="utf-8")))
    assert len(rows) == 1 and rows[0][0] == "drive.mp4"  # no run of NUL bytes before it


def test_hidden_plates_are_a_coarse_mosaic_over_their_grown_box_and_nothing_else_changes():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
    quad = np.float32([[200, 150], [300, 150], [300, 200], [200, 200]])  # 100 px wide
    scene = Overlay(OverlayConfig(anonymize=True, anonymize_margin=0.25)).hide(image, [quad, quad + 1000])
    changed = np.any(scene != image, axis=2)
    ys, xs = np.nonzero(changed)
    # The box grown by a quarter of the plate's width on every side; a quad off the frame changes nothing.
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (175, 324, 125, 224)
    # Blocks a quarter of the plate's width: 25 x 25 px of one colour each.
    block = scene[125:150, 175:200].reshape(-1, 3)
    assert (block == block[0]).all() and not (scene[125:150, 200:225] == block[0]).all()


@pytest.mark.parametrize("listed", [True, False])
def test_the_browser_page_lists_sightings_with_their_crops_unless_anonymized(listed):
    preview = WebPreview("127.0.0.1:0", listed=listed)
    threading.Thread(target=preview.serve_forever, daemon=True).start()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    try:
        crop = np.full((64, 128, 3), 200, np.uint8)
        preview.add(sighting_record(sighting()), crop)
        records = json.loads(opener.open(preview.address + "sightings.json", timeout=10).read().decode("utf-8"))
        if not listed:  # --anonymize: no plate, not even as text
            assert records == []
            return
        [record] = records
        assert record["plate"] == str(PLATE_A) and record["crop"] == "/crops/1.jpg"
        jpeg = opener.open(preview.address + "crops/1.jpg", timeout=10).read()
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == crop.shape and abs(float(image.mean()) - 200) < 2
    finally:
        preview.close()
