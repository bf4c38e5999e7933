"""python -m stream_lpr.train detector|quantize|reader|refiner ...: seeded, resumable training runs."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path

from stream_lpr.errors import StreamLprError


def _detector(args: argparse.Namespace) -> None:
    from stream_lpr.train import detector

    data = Path(args.data) / "data.yaml"
    if not data.exists() or args.rebuild:
        draw = detector.TileDraw(detector.EMBLEMS if args.badges is None else args.badges, args.blur)
        data = detector.build_dataset(Path(args.data), args.train_tiles, args.val_tiles, args.seed, args.jobs, draw)
    best = detector.train(data, Path(args.run), args.epochs, args.hours, args.batch, args.seed,
                          args.model, args.device, args.workers, Path(args.init) if args.init else None,
                          args.degrees)
    written = detector.export(best, Path(args.weights), args.calibration_frames)
    print("detector weights written: " + ", ".join(str(p) for p in written))


def _quantize(args: argparse.Namespace) -> None:
    from stream_lpr.train.quantize import quantize_detector, quantize_reader

    source = Path(args.onnx or f"weights/{args.model}.onnx")
    out = Path(args.out or source.with_name(f"{args.model}.int8.onnx"))
    if args.model == "reader":
        quantize_reader(source, out, plates=args.plates, seed=args.seed)
    else:
        quantize_detector(source, out, frames=args.frames, seed=args.seed)
    print(f"int8 {args.model} written: {out}")


def _export_reader(weights: Path, calibration_plates: int) -> str:
    """reader.pt -> reader.onnx and reader.int8.onnx beside it (what the pipeline runs on CPU)."""
    from stream_lpr.recognition import export_onnx
    from stream_lpr.train.quantize import quantize_reader

    onnx = export_onnx(weights, weights.with_suffix(".onnx"))
    return f"{weights}, {onnx}, {quantize_reader(onnx, weights.with_name('reader.int8.onnx'), calibration_plates)}"


def _reader(args: argparse.Namespace) -> None:
    from stream_lpr.synth.crops import SampleDraw
    from stream_lpr.train import reader

    out = reader.train(Path(args.run), Path(args.weights), steps=args.steps, batch=args.batch,
                       seed=args.seed, workers=args.workers, lr=args.lr, device=args.device,
                       val_size=args.val_size, data_dir=Path(args.data), bank_size=args.bank_size,
                       init=Path(args.init) if args.init else None, minutes=args.minutes, width=args.width,
                       depth=args.depth, block_lr_scale=args.block_lr_scale,
                       draw=SampleDraw(largest=args.max_width, blur=args.blur, occlude=args.occlude,
                                       mask=args.mask, any_kana=args.any_kana, cut=args.cut),
                       precision=args.precision)
    print(f"reader weights written: {_export_reader(out, args.calibration_plates)}")


def _refiner(args: argparse.Namespace) -> None:
    from stream_lpr.train import refiner

    out = refiner.train(Path(args.data), Path(args.run), Path(args.weights), args.shards, args.seed, args.minutes,
                        args.batch, args.lr, args.jobs, args.val_size, args.shard_size)
    print(f"corner refiner weights written: {out}, {out.with_suffix('.onnx')}")


def _average(args: argparse.Namespace) -> None:
    sources = [Path(p) for p in args.sources]
    if args.model == "detector":
        from stream_lpr.train import detector

        with tempfile.TemporaryDirectory(prefix="detector_mean_") as tmp:
            mean = detector.average_weights(sources, Path(tmp) / "detector.pt")
            written = detector.export(mean, Path(args.out or "weights/detector.pt").parent, args.calibration_frames)
        print("averaged detector written: " + ", ".join(str(p) for p in written))
        return
    from stream_lpr.train import reader

    out = reader.average_weights(sources, Path(args.out or "weights/reader.pt"))
    print(f"averaged reader written: {_export_reader(out, args.calibration_plates)}")


def main(argv: list[str] | None = None) -> int:
    from stream_lpr.synth.sample import ANY_KANA

    parser = argparse.ArgumentParser(prog="python -m stream_lpr.train", description=__doc__)
    sub = parser.add_subparsers(dest="model", required=True)

    det = sub.add_parser("detector", help="compose scene tiles and train the YOLOv8 pose plate detector")
    det.add_argument("--data", default="data/detector", help="where tiles are written (git-ignored)")
    det.add_argument("--run", default="runs/detector", help="run folder; an existing last.pt is resumed")
    det.add_argument("--weights", default="weights", help="where detector.pt and detector.onnx go")
    det.add_argument("--train-tiles", type=int, default=6000)
    det.add_argument("--val-tiles", type=int, default=400)
    det.add_argument("--rebuild", action="store_true", help="compose the tiles again")
    det.add_argument("--badges", type=float, default=None,
                     help="share of plates given a car maker's badge nearby in the tiles (default: train.detector.EMBLEMS)")
    det.add_argument("--blur", type=float, default=0.0,
                     help="share of scenes blurred past the camera's usual in the tiles (a passing car, a lens out of focus)")
    det.add_argument("--jobs", type=int, default=1, help="processes composing tiles")
    det.add_argument("--init", default=None, help="start a new run from these detector weights (.pt)")
    det.add_argument("--epochs", type=int, default=30)
    det.add_argument("--hours", type=float, default=None, help="stop after this long (overrides --epochs)")
    det.add_argument("--batch", type=int, default=16)
    det.add_argument("--degrees", type=float, default=3.0,
                     help="tiles turned in their plane by up to this many degrees each way (the composer's plates are "
                          "within about 12 of level)")
    det.add_argument("--model", default="yolov8n-pose.yaml", help="ultralytics model config (scale)")
    det.add_argument("--workers", type=int, default=1)
    det.add_argument("--device", default="cpu")
    det.add_argument("--calibration-frames", type=int, default=64, help="composed scenes the int8 export is calibrated on")
    det.add_argument("--seed", type=int, default=0)
    det.set_defaults(run_command=_detector)

    qt = sub.add_parser("quantize", help="quantize a float ONNX export to int8 (CPU speed)")
    qt.add_argument("model", nargs="?", choices=("detector", "reader"), default="detector")
    qt.add_argument("--onnx", default=None, help="float export (default weights/MODEL.onnx)")
    qt.add_argument("--out", default=None, help="int8 model (default MODEL.int8.onnx beside --onnx)")
    qt.add_argument("--frames", type=int, default=64, help="composed scenes the detector is calibrated on")
    qt.add_argument("--plates", type=int, default=512, help="rendered plates the reader is calibrated on")
    qt.add_argument("--seed", type=int, default=0)
    qt.set_defaults(run_command=_quantize)

    rd = sub.add_parser("reader", help="train the plate reader on rendered plates, generated on the fly")
    rd.add_argument("--run", default="runs/reader", help="run folder; checkpoint.pt there is resumed")
    rd.add_argument("--weights", default="weights", help="where reader.pt and its reader.onnx, reader.int8.onnx exports go")
    rd.add_argument("--data", default="data/reader", help="where rendered plate shards go (git-ignored)")
    rd.add_argument("--init", default=None, help="start a new run from these reader weights")
    rd.add_argument("--width", type=int, default=16,
                    help="channels of the first layer (float, one CPU core: 16: 1.1 ms a plate, 24: 2.8-4.7 ms, 28: 3.8-6.4 ms; int8 "
                         "1.4-1.8x faster); --init weights keep theirs, or are widened to a larger --width as the same function")
    rd.add_argument("--depth", type=int, default=0, choices=(0, 1, 2),
                    help="residual blocks added after the 16 x 32 and the last 8 x 16 layer (each about +40 %% "
                         "multiply-adds at width 28); --init weights keep theirs, or are deepened as the same function")
    rd.add_argument("--block-lr-scale", type=float, default=1.0, metavar="X",
                    help="learning rate of the residual blocks as a multiple of --lr (blocks just added by --depth start "
                         "at zero and barely grow at a fine-tune's rate)")
    rd.add_argument("--bank-size", type=int, default=160_000, help="rendered plates kept in memory")
    rd.add_argument("--steps", type=int, default=30000)
    rd.add_argument("--minutes", type=float, default=None, help="stop after this long; the learning rate decays over it")
    rd.add_argument("--batch", type=int, default=64)
    rd.add_argument("--lr", type=float, default=2e-3)
    rd.add_argument("--workers", type=int, default=1, help="plate rendering processes (0: render in the trainer)")
    rd.add_argument("--val-size", type=int, default=512, help="fixed held-out plates scored at each checkpoint")
    rd.add_argument("--max-width", type=float, default=320.0, metavar="PX",
                    help="widest plate in the source frame to train on (below 320, more small plates, where the misses are)")
    rd.add_argument("--blur", type=float, default=0.0, metavar="SHARE",
                    help="share of training plates blurred more than the test set's (Gaussian sigma 0.8-2.2 px or "
                         "4-12 px of motion in the source frame): robustness to the blur of real footage")
    rd.add_argument("--occlude", type=float, default=0.0, metavar="SHARE",
                    help="share of training plates with 10-35 %% of one side covered (a pole, a tow bar, a person): "
                         "the reader learns that hidden characters cannot be read instead of guessing them")
    rd.add_argument("--mask", type=float, default=0.0, metavar="SHARE",
                    help="share of training plates whose number is hidden by a privacy mask (mosaic, blur or a patch): "
                         "the reader learns that a masked number cannot be read")
    rd.add_argument("--any-kana", type=float, default=ANY_KANA, metavar="SHARE",
                    help="share of training plates whose kana ignores the rules for its colour (the test set's: "
                         f"{ANY_KANA}): more teaches the reader to read the letter, not guess it from the colour")
    rd.add_argument("--cut", type=float, default=0.0, metavar="SHARE",
                    help="share of training plates cut 4-40 %% by the frame's edge and cropped the way the detector "
                         "draws them (the visible part stretched): the reader learns that the characters beyond cannot be read")
    rd.add_argument("--device", default="cpu")
    rd.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                    help="bf16: train under bfloat16 autocast; auto (default): bf16 on a CPU that has native "
                         "bfloat16 (about twice as fast), fp32 elsewhere")
    rd.add_argument("--seed", type=int, default=0)
    rd.add_argument("--calibration-plates", type=int, default=512, help="rendered plates the int8 export is calibrated on")
    rd.set_defaults(run_command=_reader)

    rf = sub.add_parser("refiner", help="train the corner refiner on rendered plates with detector-like corners")
    rf.add_argument("--data", default="data/refiner", help="where rendered plate shards go (git-ignored)")
    rf.add_argument("--run", default="runs/refiner", help="run folder; checkpoint.pt there is resumed")
    rf.add_argument("--weights", default="weights", help="where refiner.pt and refiner.onnx go")
    rf.add_argument("--shards", type=int, default=100, help="shards of 500 rendered plates to train on (8 corner guesses each)")
    rf.add_argument("--shard-size", type=int, default=500, help="rendered plates per shard file (74 KB each)")
    rf.add_argument("--val-size", type=int, default=1000, help="held-out plates of another seed scored at each checkpoint")
    rf.add_argument("--jobs", type=int, default=2, help="processes rendering plates")
    rf.add_argument("--minutes", type=float, default=30.0, help="training time; the learning rate decays over it")
    rf.add_argument("--batch", type=int, default=64)
    rf.add_argument("--lr", type=float, default=2e-3)
    rf.add_argument("--seed", type=int, default=0)
    rf.set_defaults(run_command=_refiner)

    av = sub.add_parser("average", help="average readers (or detectors) fine-tuned from the same weights into one")
    av.add_argument("sources", nargs="+", help="reader.pt (or detector.pt) files (one named twice weighs twice)")
    av.add_argument("--model", choices=("reader", "detector"), default="reader")
    av.add_argument("--out", default=None,
                    help="where the mean and its ONNX exports go (default weights/reader.pt; a detector's are always "
                         "named detector.pt, .onnx and .int8.onnx, in this path's folder: default weights/)")
    av.add_argument("--calibration-plates", type=int, default=512, help="rendered plates the int8 export is calibrated on")
    av.add_argument("--calibration-frames", type=int, default=64,
                    help="composed scenes the detector's int8 export is calibrated on")
    av.set_defaults(run_command=_average)

    args = parser.parse_args(argv)
    if args.run_command in (_detector, _reader, _refiner):
        from stream_lpr.synth import fonts

        fonts.warn_if_missing()
    # SIGTERM stops a run the way Ctrl+C does, so its render processes are stopped with it.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        args.run_command(args)
    except (StreamLprError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped: the same command resumes from the last checkpoint", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
