"""A tiny run of each training entry point: the real code path, seconds of data, no real training."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from conftest import ROOT
from helpers import PLATE_A
from scenes import Appearance, render_scene
from stream_lpr.detection import PlateDetector
from stream_lpr.errors import StreamLprError
from stream_lpr.recognition import PlateReader, ReaderNet, to_tensor
from stream_lpr.synth.crops import reader_sample
from stream_lpr.train.__main__ import main as train_main
from stream_lpr.train.detector import TileDraw, _train_on_every_core, build_dataset, train
from stream_lpr.train.reader import SampleBank, prune_shards, use_bfloat16, write_shard


def test_reader_training_runs_checkpoints_and_resumes(tmp_path):
    run, weights = tmp_path / "run", tmp_path / "weights"
    args = ["reader", "--run", str(run), "--weights", str(weights), "--data", str(tmp_path / "shards"),
            "--batch", "4", "--workers", "0", "--val-size", "8", "--calibration-plates", "16"]
    assert train_main(args + ["--steps", "2", "--width", "24", "--depth", "1", "--block-lr-scale", "5", "--max-width", "100",
                                "--blur", "0.5", "--occlude", "0.5", "--mask", "0.5", "--any-kana", "0.5", "--cut", "0.5"]) == 0
    assert torch.load(run / "checkpoint.pt", weights_only=False)["step"] == 2
    assert train_main(args + ["--steps", "3"]) == 0  # resumes at step 2 and does one more
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=False)
    assert checkpoint["step"] == 3
    assert checkpoint["config"]["width"] == 24 and checkpoint["config"]["depth"] == 1  # the resumed run kept its network's shape
    rest, blocks = checkpoint["optimizer"]["param_groups"]
    assert blocks["lr"] == pytest.approx(5 * rest["lr"])  # the residual block's own learning rate survived the resume
    assert torch.load(weights / "reader.pt", weights_only=True)["config"]["width"] == 24
    assert len(list((tmp_path / "shards").glob("shard_*.npz"))) == 1  # the resumed run reused the rendered plates
    for name in ("reader.pt", "reader.onnx", "reader.int8.onnx"):  # the exports are written with the weights
        reads = PlateReader(weights / name).read([np.zeros((64, 128, 3), np.uint8)])
        assert len(reads) == 1 and 0.0 <= reads[0].reading.confidence <= 1.0


def test_averaging_readers_writes_their_mean_and_refuses_different_shapes(tmp_path, capsys):
    shipped = torch.load(ROOT / "weights" / "reader.pt", weights_only=True)
    tripled = {k: v * 3 if v.is_floating_point() else v + 5 for k, v in shipped["model"].items()}
    # A config that spells out depth 0 is the same shape as one from before --depth existed.
    torch.save({"model": tripled, "config": {"depth": 0, **shipped["config"]}}, tmp_path / "tripled.pt")
    out = tmp_path / "mean" / "reader.pt"
    assert train_main(["average", str(ROOT / "weights" / "reader.pt"), str(tmp_path / "tripled.pt"), "--out", str(out),
                       "--calibration-plates", "16"]) == 0
    mean = torch.load(out, weights_only=True)["model"]
    for name, value in shipped["model"].items():
        expected = value * 2 if value.is_floating_point() else value  # counts are kept, not averaged
        assert torch.allclose(mean[name], expected, rtol=1e-5, atol=1e-6), name
    reads = PlateReader(out.with_suffix(".onnx")).read([np.zeros((64, 128, 3), np.uint8)])
    assert len(reads) == 1

    narrow = tmp_path / "narrow"
    assert train_main(["reader", "--run", str(tmp_path / "run"), "--weights", str(narrow), "--data", str(tmp_path / "shards"),
                       "--batch", "4", "--workers", "0", "--val-size", "8", "--steps", "1", "--width", "8",
                       "--calibration-plates", "16"]) == 0
    capsys.readouterr()
    assert train_main(["average", str(ROOT / "weights" / "reader.pt"), str(narrow / "reader.pt"), "--out", str(out)]) == 1
    assert "different shapes" in capsys.readouterr().err


@pytest.mark.parametrize("grow", ["width", "depth"])
def test_a_wider_or_deeper_run_from_trained_weights_starts_as_the_same_reader(tmp_path, capsys, grow):
    shipped = torch.load(ROOT / "weights" / "reader.pt", weights_only=True)
    # The shipped convolutions without any residual blocks: a trained reader that can grow both ways.
    config = {**shipped["config"], "depth": 0}
    start = {k: v for k, v in shipped["model"].items() if not k.startswith("extra.")}
    torch.save({"model": start, "config": config}, tmp_path / "start.pt")
    grown = {**config, "width": config["width"] + 8} if grow == "width" else {**config, "depth": 2}
    # --steps 0 writes the grown start, for several runs to share (a widening's split is random)
    weights = tmp_path / "weights"
    args = ["reader", "--run", str(tmp_path / "run"), "--weights", str(weights), "--data", str(tmp_path / "shards"),
            "--workers", "0", "--steps", "0", "--calibration-plates", "16"]
    assert train_main(args + ["--init", str(tmp_path / "start.pt"), f"--{grow}", str(grown[grow])]) == 0
    written = torch.load(weights / "reader.pt", weights_only=True)
    assert written["config"] == grown

    before, after = ReaderNet(**config).eval(), ReaderNet(**grown).eval()
    before.load_state_dict(start)
    after.load_state_dict(written["model"])
    rng = np.random.default_rng(4)
    crops = to_tensor(np.stack([reader_sample(rng, None).crop for _ in range(6)]))
    with torch.no_grad():
        expected, got = before(crops), after(crops)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=2e-4, rtol=1e-4)

    if grow == "depth":  # widening splits the convolutions a residual block adds to: refused
        capsys.readouterr()
        assert train_main(args + ["--init", str(weights / "reader.pt"), "--width", str(config["width"] + 8),
                                  "--run", str(tmp_path / "run2")]) == 1
        assert "widen a reader before deepening it" in capsys.readouterr().err


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_reader_trains_in_either_precision(tmp_path, capsys, precision):
    """bfloat16 autocast halves a CPU step where the CPU has native bfloat16 (and is emulated,
    slowly but correctly, where it has not): both precisions must move the weights, and the
    weights written stay float32 for the exports."""
    init = ROOT / "weights" / "reader.pt"
    args = ["reader", "--run", str(tmp_path / "run"), "--weights", str(tmp_path / "weights"), "--data",
            str(tmp_path / "shards"), "--batch", "4", "--workers", "0", "--val-size", "8", "--steps", "2",
            "--lr", "1e-3", "--calibration-plates", "16", "--init", str(init), "--precision", precision]
    assert train_main(args) == 0
    assert ("bfloat16 (autocast)" if precision == "bf16" else "float32") in capsys.readouterr().out
    before = torch.load(init, weights_only=True)["model"]
    after = torch.load(tmp_path / "weights" / "reader.pt", weights_only=True)["model"]
    assert all(v.dtype == before[k].dtype for k, v in after.items())
    moved = [k for k, v in after.items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert len(moved) > len(after) // 2


def test_bfloat16_is_chosen_only_where_it_is_native_or_asked_for():
    assert use_bfloat16("bf16", "cuda") and not use_bfloat16("fp32", "cpu")
    assert not use_bfloat16("auto", "cuda")  # the lent-GPU kit's runs stay as they were measured
    assert use_bfloat16("auto", "cpu") == torch.ops.mkldnn._is_mkldnn_bf16_supported()
    with pytest.raises(StreamLprError, match="precision"):
        use_bfloat16("half", "cpu")


def test_reader_training_stops_at_its_time_budget(tmp_path):
    run = tmp_path / "run"
    args = ["reader", "--run", str(run), "--weights", str(tmp_path / "weights"), "--data", str(tmp_path / "shards"),
            "--batch", "4", "--workers", "0", "--val-size", "8", "--steps", "100000", "--minutes", "0.02",
            "--init", str(ROOT / "weights" / "reader.pt")]
    assert train_main(args) == 0
    assert 0 < torch.load(run / "checkpoint.pt", weights_only=False)["step"] < 100000


def test_refiner_training_renders_trains_resumes_and_exports(tmp_path):
    from stream_lpr.refine import CornerRefiner

    data, run, weights = tmp_path / "data", tmp_path / "run", tmp_path / "weights"
    args = ["refiner", "--data", str(data), "--run", str(run), "--weights", str(weights), "--shards", "2",
            "--shard-size", "6", "--val-size", "8", "--batch", "4", "--jobs", "2", "--minutes", "0.01"]
    assert train_main(args) == 0
    assert len(list(data.glob("shard_*.npz"))) == 2 and len(list((data / "val").glob("shard_*.npz"))) == 2
    with np.load(data / "shard_000000.npz") as shard:
        assert shard["canvases"].shape == (6, 128, 192, 3) and shard["guesses"].shape == (6, 8, 4, 2)
    steps = torch.load(run / "checkpoint.pt", weights_only=False)["step"]
    assert steps > 0
    assert train_main(args) == 0  # out of time already: resumes, takes one step, stops
    assert torch.load(run / "checkpoint.pt", weights_only=False)["step"] == steps + 1
    quad = np.float32([[[40, 40], [140, 40], [140, 90], [40, 90]]])
    refined = CornerRefiner(weights / "refiner.onnx").refine(np.zeros((200, 200, 3), np.uint8), quad)
    assert refined.shape == (1, 4, 2) and np.isfinite(refined).all()


def test_detector_training_builds_tiles_trains_and_exports(tmp_path):
    data, run, weights = tmp_path / "data", tmp_path / "run", tmp_path / "weights"
    code = train_main(["detector", "--data", str(data), "--run", str(run), "--weights", str(weights),
                       "--train-tiles", "4", "--val-tiles", "2", "--epochs", "1", "--batch", "2", "--workers", "0",
                       "--calibration-frames", "2", "--degrees", "20"])
    assert code == 0
    assert yaml.safe_load((run / "args.yaml").read_text())["degrees"] == 20  # tiles turned up to 20 each way
    labels = list((data / "labels" / "train").glob("*.txt"))
    assert len(labels) == 4
    for line in (l for f in labels for l in f.read_text().splitlines()):
        assert len(line.split()) == 5 + 4 * 3
    assert (weights / "detector.pt").stat().st_size > 100_000
    assert (weights / "detector.onnx").stat().st_size > 100_000
    int8 = weights / "detector.int8.onnx"
    assert 100_000 < int8.stat().st_size < (weights / "detector.onnx").stat().st_size / 2
    found = PlateDetector(int8, conf=0.0).detect(np.zeros((720, 1280, 3), np.uint8))  # conf 0: some boxes come out
    assert len(found) > 0 and found.corners.shape == (len(found), 4, 2)


def test_sample_bank_serves_new_plates_first_and_keeps_the_newest(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    for index in range(3):
        write_shard(shards, index, seed=0, size=4)
    bank = SampleBank(capacity=8, seed=0)
    assert bank.load_new(shards) == 3 and len(bank) == 8  # the oldest shard was pushed out
    newest = np.load(shards / "shard_000002.npz")
    crops, target, fresh = bank.batch(8)
    assert fresh == 8  # nothing trained on yet: the whole batch is unseen plates
    assert any((crops == crop).all((1, 2, 3)).any() for crop in newest["crops"])
    assert bank.batch(8)[2] == 0 and bank.load_new(shards) == 0
    assert set(target) == {"region", "class_number", "kana", "number", "plate_type"}
    prune_shards(shards, keep=2)
    assert sorted(p.name for p in shards.iterdir()) == ["shard_000001.npz", "shard_000002.npz"]


def test_tiles_depend_on_the_seed_not_on_the_number_of_jobs(tmp_path):
    for jobs in (1, 2):
        build_dataset(tmp_path / f"jobs{jobs}", train=3, val=0, seed=5, jobs=jobs)
    for name in ("000000.txt", "000002.txt"):
        one, two = (tmp_path / f"jobs{j}" / "labels" / "train" / name for j in (1, 2))
        assert one.read_text() == two.read_text()


def test_the_badge_share_reaches_the_tiles(tmp_path):
    for badges in (0.0, 1.0):
        build_dataset(tmp_path / f"badges{badges}", train=2, val=0, seed=5, draw=TileDraw(badges=badges))
    plain, badged = (cv2.imread(str(tmp_path / f"badges{b}" / "images" / "train" / "000000.jpg")) for b in (0.0, 1.0))
    assert plain.shape == badged.shape and np.abs(plain.astype(int) - badged).max() > 50


def test_detector_fine_tuning_starts_from_the_given_weights(tmp_path):
    data = build_dataset(tmp_path / "data", train=4, val=2, seed=3)
    best = train(data, tmp_path / "run", epochs=1, hours=None, batch=2, seed=0, workers=0,
                 init=ROOT / "weights" / "detector.pt")
    image = render_scene([Appearance(PLATE_A, 0, 1, (640, 360), (640, 360), 200, 200)], 1)[0]
    found = PlateDetector(best, conf=0.5).detect(image)  # a from-scratch epoch finds nothing at 0.5
    assert len(found) == 1


def test_averaging_detectors_writes_their_mean_as_a_loadable_checkpoint(tmp_path):
    import stream_lpr.offline  # noqa: F401 - before ultralytics' classes are unpickled
    from stream_lpr.train.detector import average_weights

    shipped = torch.load(ROOT / "weights" / "detector.pt", map_location="cpu", weights_only=False)
    weights = {k: v.clone() for k, v in shipped["model"].state_dict().items()}
    shipped["model"].load_state_dict({k: v * 3 if v.is_floating_point() else v for k, v in weights.items()})
    torch.save(shipped, tmp_path / "tripled.pt")
    out = average_weights([ROOT / "weights" / "detector.pt", tmp_path / "tripled.pt"], tmp_path / "mean" / "detector.pt")
    mean = torch.load(out, map_location="cpu", weights_only=False)["model"].state_dict()
    for name, value in weights.items():
        expected = value.float() * 2 if value.is_floating_point() else value
        assert torch.allclose(mean[name].float(), expected.float(), rtol=1e-3, atol=1e-4), name
    assert PlateDetector(out, conf=0.0).detect(np.zeros((360, 640, 3), np.uint8)).corners.shape[1:] == (4, 2)
    with pytest.raises(StreamLprError, match="not an ultralytics detector"):
        average_weights([ROOT / "weights" / "detector.pt", ROOT / "weights" / "reader.pt"], tmp_path / "x.pt")


def test_detector_training_on_a_cpu_uses_every_core():
    from ultralytics import YOLO

    model = YOLO(str(ROOT / "weights" / "detector.pt"))
    _train_on_every_core(model, "cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what ultralytics' device set-up leaves a 2-core machine
    try:
        for callback in model.callbacks["on_train_epoch_start"]:
            callback(None)
        assert torch.get_num_threads() == os.cpu_count()
    finally:
        torch.set_num_threads(threads)


def _state(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a process from /proc, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def _running(pid: int) -> bool:
    state = _state(pid)
    return state is not None and state[0] != "Z"  # a zombie has ended; only its entry is left


def _running_children(pid: int) -> list[int]:
    return [int(p.name) for p in Path("/proc").glob("[0-9]*") if (_state(int(p.name)) or ("", 0))[1] == pid
            and _running(int(p.name))]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_a_terminated_reader_run_stops_its_render_processes(tmp_path):
    """SIGTERM (a shell's kill, a scheduler's stop) must not leave render processes behind,
    writing shards into the next run's folder."""
    command = [sys.executable, "-m", "stream_lpr.train", "reader", "--run", str(tmp_path / "run"),
               "--weights", str(tmp_path / "weights"), "--data", str(tmp_path / "shards"),
               "--batch", "4", "--workers", "1", "--val-size", "8", "--steps", "100000"]
    trainer = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (renderers := _running_children(trainer.pid)) and time.time() < deadline and trainer.poll() is None:
            time.sleep(0.2)
        assert renderers, "the run started no render process"
        trainer.send_signal(signal.SIGTERM)
        assert trainer.wait(timeout=60) == 130
        assert "resumes from the last checkpoint" in trainer.stderr.read()
        deadline = time.time() + 20
        while any(map(_running, renderers)) and time.time() < deadline:
            time.sleep(0.2)
        assert not any(map(_running, renderers)), "render processes outlived their run"
    finally:
        if trainer.poll() is None:
            trainer.kill()


def test_a_reader_run_whose_render_processes_die_stops_with_one_error(tmp_path):
    """A driver script without a `__main__` guard: each spawned render process imports it again,
    starts a run of its own and dies. The run must say so, not wait or train on stale plates."""
    script = tmp_path / "driver.py"
    script.write_text(
        "from pathlib import Path\n"
        "from stream_lpr.train import reader\n"
        f"reader.train(Path({str(tmp_path / 'run')!r}), Path({str(tmp_path / 'weights')!r}), steps=100000, batch=4,\n"
        f"             seed=0, workers=1, val_size=8, data_dir=Path({str(tmp_path / 'shards')!r}))\n")
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "every plate-rendering process stopped" in done.stderr
    assert not (tmp_path / "run" / "checkpoint.pt").exists()  # it never trained
