"""The command line as a user runs it: exit codes, one-line errors, signals, no hangs."""

import base64
import csv
import json
import os
import re
import signal
import subprocess
import sys
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import PLATE_A, PLATE_B
from scenes import SMALL, render_scene, two_plates, write_scene

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, str(ROOT / "run_stream.py")]


def run(cmd, timeout=300, env_extra=None, **kw):  # a hang guard only: a busy CI machine can be slow
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=kw.pop("cwd", ROOT), env=env, **kw)


def one_line_error(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert lines and lines[-1].startswith("stream-lpr: error:"), result.stderr
    return lines[-1]


def sightings(path):
    return list(csv.DictReader(open(path, encoding="utf-8")))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """60 frames: plate A in view throughout, plate B for frames 10-39 only."""
    path = tmp_path_factory.mktemp("cli") / "two.mp4"
    write_scene(path, two_plates(60), 60, size=SMALL)
    return path


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """The same scene, 300 frames long: a real run takes tens of seconds, time to signal it."""
    path = tmp_path_factory.mktemp("cli") / "long.mp4"
    write_scene(path, two_plates(300), 300, size=SMALL)
    return path


def test_help_documents_every_flag():
    result = run(CLI + ["--help"])
    assert result.returncode == 0
    for flag in ("--source", "--config", "--output", "--csv", "--show", "--no-show", "--save-crops",
                 "--log-unread", "--device"):
        assert flag in result.stdout


def test_version_needs_no_source():
    result = run(CLI + ["--version"])
    assert result.returncode == 0 and re.fullmatch(r"stream-lpr \d+\.\d+\.\d+\n", result.stdout)


def test_source_is_required():
    result = run(CLI)
    assert result.returncode == 2 and "--source" in result.stderr


@pytest.mark.parametrize("args, code, fragment", [
    (["--source", "/nonexistent.mp4"], 1, "source not found"),
    (["--source", "97"], 1, "camera 97"),
    (["--source", "rtsp://me:hunter2@127.0.0.1:9/live"], 1, "rtsp://me:***@127.0.0.1:9/live"),
    (["--source", "{video}", "--set", "voting.min_margin=2"], 2, "voting.min_margin"),
    (["--source", "{video}", "--detector", "/nonexistent/detector.onnx"], 1, "weights not found"),
    (["--source", "{video}", "--reader", "/nonexistent/reader.pt"], 1, "weights not found"),
    (["--source", "{video}", "--set", "models.refiner=/nonexistent/refiner.onnx"], 1, "models.refiner"),
    (["--source", "{video}", "--show"], 1, "--output"),
    (["--source", "{folder}", "--output", "out.mp4"], 2, "is a folder"),
    (["--source", "{videos}", "--output", "out.mp4"], 2, "a folder for the annotated videos"),
    (["--source", "{video}", "--watchlist", "/nonexistent/watch.txt"], 2, "watchlist file not found"),
    (["--source", "{video}", "--csv", "s.csv", "--anonymize"], 2, "nothing is: give --output"),
    (["--source", "{video}", "--serve", "localhost:99999"], 2, "'output.serve' must be PORT or HOST:PORT"),
    (["--source", "{video}", "--webhook", "localhost:8080/plates"], 2, "'output.webhook' must be an http:// or https://"),
    (["--source", "{video}", "--webhook", "ftp://me:hunter2@127.0.0.1/x"], 2, "'ftp://me:***@127.0.0.1/x'"),
    (["--source", "{video}", "--watchlist", "{badlist}"], 2, "bad.txt line 2: '12-3' is not a designation number"),
    (["--source", "{video}", "--set", "watchlist.command=notify-send"], 2, "there is no watchlist"),
    (["--source", "{video}", "--watchlist", "{goodlist}", "--set", "watchlist.command=no-such-notifier --x"], 2,
     "program 'no-such-notifier' not found"),
])
def test_errors_are_one_line_with_an_exit_code(args, code, fragment, video):
    folder = video.parent / "images"
    folder.mkdir(exist_ok=True)
    cv2.imwrite(str(folder / "a.png"), render_scene(two_plates(1), 1, SMALL)[0])
    badlist = video.parent / "bad.txt"
    badlist.write_text("品川 300 あ 12-34\n品川 300 あ 12-3\n", encoding="utf-8")
    videos = video.parent / "videos"
    videos.mkdir(exist_ok=True)
    (videos / "a.mp4").write_bytes(video.read_bytes())
    goodlist = video.parent / "good.txt"
    goodlist.write_text("品川 300 あ 12-34\n", encoding="utf-8")
    args = [a.replace("{video}", str(video)).replace("{folder}", str(folder)).replace("{badlist}", str(badlist))
            .replace("{goodlist}", str(goodlist)).replace("{videos}", str(videos)) for a in args]
    result = run(CLI + args)
    line = one_line_error(result)
    assert result.returncode == code and fragment in line
    assert "hunter2" not in result.stderr + result.stdout


def test_corrupt_weights_are_one_line_errors(tmp_path, video):
    bad = tmp_path / "detector.onnx"
    bad.write_bytes(b"not a model")
    result = run(CLI + ["--source", str(video), "--detector", str(bad), "--reader", str(bad)])
    assert result.returncode == 1 and "stream-lpr: error:" in one_line_error(result)


def test_real_models_end_to_end_through_the_cli(tmp_path, video):
    result = run(CLI + ["--source", str(video), "--csv", str(tmp_path / "s.csv"), "--output", str(tmp_path / "o.mp4"),
                        "--set", "tracking.lost_track_s=0.3"], timeout=180)
    assert result.returncode == 0, result.stderr
    # B left mid-video, A was in view to the end: B's row comes first
    assert [r["plate"] for r in sightings(tmp_path / "s.csv")] == [str(PLATE_B), str(PLATE_A)]


def test_a_folder_of_videos_is_read_file_by_file_into_one_csv_and_an_output_folder(tmp_path, video):
    # A dashcam's card: segments named by time, a thumbnail beside them, and one broken file.
    card = tmp_path / "Movie"
    card.mkdir()
    for name in ("20261201_0800.MP4", "20261201_0801.mp4"):
        (card / name).write_bytes(video.read_bytes())
    (card / "20261201_0802.mp4").write_bytes(b"\0" * 4096)
    cv2.imwrite(str(card / "20261201_0800.jpg"), render_scene(two_plates(1), 1, SMALL)[0])
    result = run(CLI + ["--source", str(card), "--csv", str(tmp_path / "s.csv"), "--output", str(tmp_path / "out"),
                        "--set", "tracking.lost_track_s=0.3", "--set", "capture.file_timezone=+09:00"], timeout=300)
    assert result.returncode == 1
    assert "1 of 3 videos" in one_line_error(result) and "20261201_0802.mp4" in one_line_error(result)
    assert "its 1 image(s) are left out" in result.stderr
    rows = sightings(tmp_path / "s.csv")
    assert sorted((Path(r["source"]).name, r["plate"]) for r in rows) == sorted(
        (name, str(plate)) for name in ("20261201_0800.MP4", "20261201_0801.mp4") for plate in (PLATE_A, PLATE_B))
    # each row's wall clock is its file's start, 08:00 or 08:01 in Japan, and the seconds into it
    for row in rows:
        start = datetime(2026, 11, 30, 23, int(Path(row["source"]).stem[-1]), tzinfo=timezone.utc)
        late = datetime.fromisoformat(row["seen_at_utc"]) - (start + timedelta(seconds=float(row["first_seen_s"])))
        assert abs(late) < timedelta(milliseconds=2)  # both columns are written to the millisecond
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["20261201_0800.mp4", "20261201_0801.mp4"]
    assert all(playable_frames(p) == 60 for p in (tmp_path / "out").iterdir())


def test_a_drive_cut_into_files_is_read_as_one_video(tmp_path):
    # A dashcam cut one 4 s drive into two files: plate A is in view across the cut.
    card = tmp_path / "Movie"
    card.mkdir()
    frames = render_scene(two_plates(120), 120, SMALL)
    for name, part in (("20261201_080000.MP4", frames[:60]), ("20261201_080002.MP4", frames[60:])):
        writer = cv2.VideoWriter(str(card / name), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, SMALL)
        for frame in part:
            writer.write(frame)
        writer.release()
    rows = {}
    for gap in ("3", "0"):  # 0: each file read on its own, as before drives
        result = run(CLI + ["--source", str(card), "--csv", str(tmp_path / f"{gap}.csv"), "--no-progress",
                            "--output", str(tmp_path / f"out{gap}"), "--set", "tracking.lost_track_s=0.3",
                            "--set", f"capture.drive_gap_s={gap}"], timeout=300)
        assert result.returncode == 0, result.stderr
        rows[gap] = sightings(tmp_path / f"{gap}.csv")
    # One row for A, counted from the start of the file it was first seen in, and one video.
    assert sorted((Path(r["source"]).name, r["plate"]) for r in rows["3"]) == [
        ("20261201_080000.MP4", str(PLATE_B)), ("20261201_080000.MP4", str(PLATE_A))]
    a = next(r for r in rows["3"] if r["plate"] == str(PLATE_A))
    assert float(a["first_seen_s"]) < 0.5 and float(a["last_seen_s"]) > 3.5 and int(a["last_frame"]) > 110
    assert [p.name for p in (tmp_path / "out3").iterdir()] == ["20261201_080000.mp4"]
    assert playable_frames(tmp_path / "out3" / "20261201_080000.mp4") == 120
    # Read file by file, A is two sightings, each file's own.
    assert sorted((Path(r["source"]).name, r["plate"]) for r in rows["0"] if r["plate"] == str(PLATE_A)) == [
        ("20261201_080000.MP4", str(PLATE_A)), ("20261201_080002.MP4", str(PLATE_A))]


def test_a_card_of_two_days_logs_a_csv_a_day_and_a_second_run_rewrites_them(tmp_path, video):
    card = tmp_path / "Movie"
    card.mkdir()
    for name in ("20261201_2359.MP4", "20261202_0001.MP4"):  # a drive past midnight, in Japan
        (card / name).write_bytes(video.read_bytes())
    for _ in range(2):  # the second run starts each day's file afresh, as a video file's CSV is
        result = run(CLI + ["--source", str(card), "--csv", str(tmp_path / "log" / "%Y-%m-%d.csv"), "--no-progress",
                            "--set", "tracking.lost_track_s=0.3"], env_extra={"TZ": "JST-9"}, timeout=300)
        assert result.returncode == 0, result.stderr
        days = {p.name: sightings(p) for p in (tmp_path / "log").iterdir()}
        assert sorted(days) == ["2026-12-01.csv", "2026-12-02.csv"]
        for day, name in (("2026-12-01.csv", "20261201_2359.MP4"), ("2026-12-02.csv", "20261202_0001.MP4")):
            assert sorted((Path(r["source"]).name, r["plate"]) for r in days[day]) == sorted(
                (name, str(plate)) for plate in (PLATE_A, PLATE_B))


def test_an_anonymized_video_keeps_its_rows_and_shows_no_plate(tmp_path, video):
    result = run(CLI + ["--source", str(video), "--csv", str(tmp_path / "s.csv"), "--output", str(tmp_path / "o.mp4"),
                        "--anonymize", "--set", "tracking.lost_track_s=0.3"], timeout=180)
    assert result.returncode == 0, result.stderr
    assert {r["plate"] for r in sightings(tmp_path / "s.csv")} == {str(PLATE_A), str(PLATE_B)}
    assert playable_frames(tmp_path / "o.mp4") == 60
    # The anonymized video, read again: every plate the detector still finds in it (a mosaic can
    # look like a plate) reads as neither A nor B, not even their numbers.
    again = run(CLI + ["--source", str(tmp_path / "o.mp4"), "--csv", str(tmp_path / "again.csv"), "--log-unread",
                       "--set", "voting.number_min_confidence=0", "--set", "voting.min_known_fields=1"], timeout=180)
    assert again.returncode == 0, again.stderr
    numbers = {r["number"] for r in sightings(tmp_path / "again.csv")}
    assert not numbers & {PLATE_A.number, PLATE_B.number}, numbers


def last_frame(path):
    cap, last = cv2.VideoCapture(str(path)), None
    while (frame := cap.read()[1]) is not None:
        last = frame
    return last


def red_pixels(image):
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return int(((r > 180) & (g < 70) & (b < 70)).sum())


def test_a_watched_plate_is_reported_marked_and_drawn_in_red(tmp_path, video):
    watch = tmp_path / "watch.txt"
    # A's number alone; B's plate but for its kana, which must not match (nor possibly match: the
    # reader is sure of B's kana).
    watch.write_text(f"# plates to watch\n{PLATE_A.number}  # stolen\n"
                     f"{PLATE_B.region} {PLATE_B.class_number} あ {PLATE_B.number}\n", encoding="utf-8")
    notifier, notes = tmp_path / "notify.py", tmp_path / "notes.txt"  # what a webhook script would be given
    notifier.write_text("import os, sys\nwith open(sys.argv[1], 'a', encoding='utf-8') as f:\n"
                        "    f.write('|'.join(os.environ['STREAM_LPR_' + k] for k in ('PLATE', 'NOTE', 'MATCH', 'LISTED')) + '\\n')\n")
    result = run(CLI + ["--source", str(video), "--csv", str(tmp_path / "s.csv"), "--output", str(tmp_path / "o.mp4"),
                        "--watchlist", str(watch), "--set", "tracking.lost_track_s=0.3",
                        "--set", f"watchlist.command={sys.executable} {notifier} {notes}"], timeout=180)
    assert result.returncode == 0, result.stderr
    assert {r["plate"]: r["watchlist"] for r in sightings(tmp_path / "s.csv")} == {str(PLATE_A): "stolen", str(PLATE_B): ""}
    alerts = [line for line in result.stderr.splitlines() if "watchlist:" in line]
    assert len(alerts) == 1 and f"{PLATE_A} (stolen)" in alerts[0], result.stderr
    assert "1 watchlist alert" in result.stderr
    assert notes.read_text(encoding="utf-8") == f"{PLATE_A}|stolen|exact|* * * {PLATE_A.number}\n"
    assert red_pixels(last_frame(tmp_path / "o.mp4")) > red_pixels(last_frame(video)) + 500  # A's quad and label


def playable_frames(path):
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    return count


def start_and_signal(tmp_path, video, sig, extra=()):
    """Starts a run on the long video, waits until it is mid-video, sends `sig`.

    Mid-video means B's row is in the CSV: B's track ended 0.3 s after it left at frame 39, so
    about 50 frames are done and A's track is open (and read) with 250 frames still to go.
    """
    csv_path, out = tmp_path / "s.csv", tmp_path / "o.mp4"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(CLI + ["--source", str(video), "--csv", str(csv_path), "--output", str(out),
                                   "--no-progress", "--set", "tracking.lost_track_s=0.3", *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if csv_path.exists() and sightings(csv_path):
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    assert sightings(csv_path), "no row within 120 s"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err, csv_path, out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_video_flushes_csv_and_closes_video(tmp_path, long_video, sig):
    code, err, csv_path, out = start_and_signal(tmp_path, long_video, sig)
    assert code == 0, err
    assert "Traceback" not in err
    plates = [r["plate"] for r in sightings(csv_path)]
    assert plates == [str(PLATE_B), str(PLATE_A)]  # A's open track flushed after B's row, once
    frames = playable_frames(out)
    assert 40 < frames < 300


def test_image_folder_through_the_cli(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), render_scene(two_plates(60), 20, SMALL)[15])  # A and B in view
    (folder / "b.png").write_bytes(b"broken")
    result = run(CLI + ["--source", str(folder), "--csv", str(tmp_path / "s.csv"),
                        "--output", str(tmp_path / "annotated")])
    assert result.returncode == 0, result.stderr
    assert "b.png" in result.stderr  # the warning
    rows = sightings(tmp_path / "s.csv")
    assert sorted(r["plate"] for r in rows) == sorted([str(PLATE_A), str(PLATE_B)])
    assert all(r["source"] == str(folder / "a.png") for r in rows)
    assert (tmp_path / "annotated" / "a.png").is_file()


def test_realtime_source_prints_a_live_stats_line(tmp_path, video):
    result = run(CLI + ["--source", str(video), "--realtime", "--csv", str(tmp_path / "s.csv")])
    assert result.returncode == 0, result.stderr
    assert "fps" in result.stderr and "dropped" in result.stderr and "latency p95" in result.stderr
    assert re.search(r"queues frame \d+ read \d+", result.stderr)
    # Live mode drops frames by design: on a busy machine a track can break and a plate be
    # logged twice, so this checks which plates were read, not how many rows.
    first = sightings(tmp_path / "s.csv")
    assert {r["plate"] for r in first} == {str(PLATE_A), str(PLATE_B)}
    # A live logger restarted on the same CSV appends to it, and keeps its earlier recording;
    # a file source starts the CSV afresh.
    (tmp_path / "o.mp4").write_bytes(b"the recording before the restart")
    assert run(CLI + ["--source", str(video), "--realtime", "--csv", str(tmp_path / "s.csv"),
                      "--output", str(tmp_path / "o.mp4")]).returncode == 0
    assert playable_frames(tmp_path / "o.mp4") > 0
    assert [p.read_bytes() for p in tmp_path.glob("o.*.mp4")] == [b"the recording before the restart"]
    both = sightings(tmp_path / "s.csv")
    assert both[:len(first)] == first and {r["plate"] for r in both[len(first):]} == {str(PLATE_A), str(PLATE_B)}
    assert run(CLI + ["--source", str(video), "--csv", str(tmp_path / "s.csv")]).returncode == 0
    assert sorted(r["plate"] for r in sightings(tmp_path / "s.csv")) == sorted([str(PLATE_A), str(PLATE_B)])
    # A camera's recording in segments (0.6 s here, of 2 s paced): each closed, set aside and playable.
    assert run(CLI + ["--source", str(video), "--realtime", "--output", str(tmp_path / "seg.mp4"),
                      "--set", "output.segment_minutes=0.01"]).returncode == 0
    segments = list(tmp_path.glob("seg.*.mp4")) + [tmp_path / "seg.mp4"]
    assert len(segments) >= 3 and all(playable_frames(p) > 0 for p in segments), segments


class Receiver(BaseHTTPRequestHandler):
    """A webhook server: keeps what is posted to /ok, refuses what is posted to /refuse."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/refuse":
            self.send_response(400)
        else:
            self.server.records.append((self.headers["Content-Type"], json.loads(body.decode("utf-8"))))
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.records = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def decoded(jpeg_base64: str) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(base64.b64decode(jpeg_base64), np.uint8), cv2.IMREAD_COLOR)


@pytest.mark.parametrize("images", [False, True])
def test_every_sighting_and_watchlist_report_is_posted_to_the_webhook(tmp_path, video, receiver, images):
    watch = tmp_path / "watch.txt"
    watch.write_text(f"{PLATE_B.number}  # B\n", encoding="utf-8")
    url = f"http://127.0.0.1:{receiver.server_port}/ok"
    result = run(CLI + ["--source", str(video), "--csv", str(tmp_path / "s.csv"), "--webhook", url,
                        "--watchlist", str(watch), "--set", "tracking.lost_track_s=0.3",
                        "--set", f"output.webhook_images={str(images).lower()}"], timeout=180,
                 env_extra={"no_proxy": "*"})
    assert result.returncode == 0, result.stderr
    rows = sightings(tmp_path / "s.csv")
    posted = [record for _, record in receiver.records if record["event"] == "sighting"]
    assert {t for t, _ in receiver.records} == {"application/json; charset=utf-8"}
    # The CSV's rows, in the order written, numbers as numbers.
    assert [(r["plate"], int(r["track_id"]), r["watchlist"]) for r in rows] == [
        (p["plate"], p["track_id"], p["watchlist"]) for p in posted]
    assert {p["plate"] for p in posted} == {str(PLATE_A), str(PLATE_B)}
    assert all(p["box"] == [int(r[k]) for k in ("x1", "y1", "x2", "y2")] for p, r in zip(posted, rows))
    [alert] = [record for _, record in receiver.records if record["event"] == "watchlist"]
    assert (alert["plate"], alert["note"], alert["match"], alert["probability"]) == (str(PLATE_B), "B", "exact", None)
    assert f"{len(receiver.records)} record(s) posted to the webhook" in result.stderr
    if not images:
        assert not any("crop_jpeg" in record for _, record in receiver.records)
        return
    # Each record carries the plate's best crop and the car around it, to show in a notification.
    for record in posted + [alert]:
        crop, vehicle = decoded(record["crop_jpeg"]), decoded(record["vehicle_jpeg"])
        assert crop.shape == (64, 128, 3) and vehicle.shape[1] <= 640 and vehicle.shape[0] > 64


@pytest.mark.parametrize("path, lost", [("/refuse", "the server refused a sighting record (HTTP 400"),
                                        (None, "the run ended before the server took them")])
def test_a_webhook_that_refuses_or_is_down_loses_no_csv_row_and_says_so(tmp_path, video, receiver, path, lost):
    port = receiver.server_port
    if path is None:  # nothing listens: every post fails, is retried, and is given up at the end
        receiver.shutdown()
        receiver.server_close()
    url = f"http://127.0.0.1:{port}{path or '/ok'}"
    result = run(CLI + ["--source", str(video), "--csv", str(tmp_path / "s.csv"), "--webhook", url,
                        "--set", "tracking.lost_track_s=0.3"], timeout=180, env_extra={"no_proxy": "*"})
    assert result.returncode == 0, result.stderr
    assert {r["plate"] for r in sightings(tmp_path / "s.csv")} == {str(PLATE_A), str(PLATE_B)}
    assert lost in result.stderr and "Traceback" not in result.stderr
    assert "0 record(s) posted to the webhook (2 not delivered)" in result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_browser_watches_the_annotated_frames_of_a_camera(tmp_path, long_video):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "no_proxy": "*"}
    proc = subprocess.Popen(CLI + ["--source", str(long_video), "--realtime", "--serve", f"127.0.0.1:{port}",
                                   "--csv", str(tmp_path / "s.csv"), "--no-progress",
                                   "--set", "tracking.lost_track_s=0.3"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url, page, deadline = f"http://127.0.0.1:{port}", None, time.monotonic() + 120
    while page is None and time.monotonic() < deadline and proc.poll() is None:
        try:
            page = urllib.request.urlopen(url + "/", timeout=5).read()
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)  # the models are still loading
    assert page is not None and b"/stream.mjpg" in page, proc.communicate()
    snapshot = urllib.request.urlopen(url + "/snapshot.jpg", timeout=30).read()
    with urllib.request.urlopen(url + "/stream.mjpg", timeout=30) as stream:
        assert stream.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=frame"
        assert stream.readline() == b"--frame\r\n" and stream.readline() == b"Content-Type: image/jpeg\r\n"
        length = int(stream.readline().split(b":")[1])
        stream.readline()
        streamed = stream.read(length)
    assert b"/sightings.json" in page
    posted = []  # B leaves the view at frame 39 and its track ends 0.3 s later: its row, on the page
    while not any(r["event"] == "sighting" and r["plate"] == str(PLATE_B) for r in posted) and proc.poll() is None:
        posted = json.loads(urllib.request.urlopen(url + "/sightings.json", timeout=30).read().decode("utf-8"))
        time.sleep(0.2)
    crops = [urllib.request.urlopen(url + r["crop"], timeout=30).read()  # B's best crop, as the page shows it
             for r in posted if r["plate"] == str(PLATE_B)][:1]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    for data in (snapshot, streamed):  # whole frames of the video
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (SMALL[1], SMALL[0], 3)
    assert f"preview: open http://127.0.0.1:{port}/ in a browser" in err
    rows = [r for r in posted if r["plate"] == str(PLATE_B)]  # a busy machine may break its track: 2 rows
    assert rows and all(r["event"] == "sighting" and r["number"] == PLATE_B.number and len(r["box"]) == 4
                        for r in rows)
    assert [cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape for data in crops] == [(64, 128, 3)]


def test_a_folder_of_videos_is_watched_on_one_browser_page(tmp_path, video, long_video):
    card = tmp_path / "Movie"
    card.mkdir()
    for name, clip in (("a.mp4", video), ("b.mp4", video), ("c.mp4", long_video)):
        (card / name).write_bytes(clip.read_bytes())
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "no_proxy": "*"}
    proc = subprocess.Popen(CLI + ["--source", str(card), "--realtime", "--serve", f"127.0.0.1:{port}",
                                   "--no-progress", "--set", "tracking.lost_track_s=0.3"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # While c.mp4 plays, the page still lists what a.mp4 and b.mp4 logged: one page, not one a video.
    sources, deadline = set(), time.monotonic() + 180
    while sources != {"a.mp4", "b.mp4", "c.mp4"} and time.monotonic() < deadline and proc.poll() is None:
        try:
            posted = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/sightings.json", timeout=30).read())
            sources = {Path(r["source"]).name for r in posted if r["event"] == "sighting"}
        except (urllib.error.URLError, ConnectionError):
            pass  # the models are still loading
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert sources == {"a.mp4", "b.mp4", "c.mp4"}, err
    assert proc.returncode == 0, err
    assert err.count("preview: open") == 1


def test_a_preview_address_already_taken_is_one_line_and_exit_code_1(video):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(CLI + ["--source", str(video), "--serve", f"127.0.0.1:{port}"])
    assert result.returncode == 1
    assert f"cannot serve the preview on 127.0.0.1:{port}" in one_line_error(result)
