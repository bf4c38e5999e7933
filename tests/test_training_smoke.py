"""A tiny run of each training entry point: the real code path, seconds of data, no real training."""

import numpy as np
import torch

from stream_lpr.recognition import PlateReader
from stream_lpr.train.__main__ import main as train_main


def test_reader_training_runs_checkpoints_and_resumes(tmp_path):
    run, weights = tmp_path / "run", tmp_path / "weights"
    args = ["reader", "--run", str(run), "--weights", str(weights), "--batch", "4", "--workers", "0", "--val-size", "8"]
    assert train_main(args + ["--steps", "2"]) == 0
    assert torch.load(run / "checkpoint.pt", weights_only=False)["step"] == 2
    assert train_main(args + ["--steps", "3"]) == 0  # resumes at step 2 and does one more
    assert torch.load(run / "checkpoint.pt", weights_only=False)["step"] == 3
    reads = PlateReader(weights / "reader.pt").read([np.zeros((64, 128, 3), np.uint8)])
    assert len(reads) == 1 and 0.0 <= reads[0].reading.confidence <= 1.0


def test_detector_training_builds_tiles_trains_and_exports(tmp_path):
    data, run, weights = tmp_path / "data", tmp_path / "run", tmp_path / "weights"
    code = train_main(["detector", "--data", str(data), "--run", str(run), "--weights", str(weights),
                       "--train-tiles", "4", "--val-tiles", "2", "--epochs", "1", "--batch", "2", "--workers", "0"])
    assert code == 0
    labels = list((data / "labels" / "train").glob("*.txt"))
    assert len(labels) == 4
    for line in (l for f in labels for l in f.read_text().splitlines()):
        assert len(line.split()) == 5 + 4 * 3
    assert (weights / "detector.pt").stat().st_size > 100_000
    assert (weights / "detector.onnx").stat().st_size > 100_000
