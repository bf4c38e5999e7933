"""python -m stream_lpr.train detector|reader ...: seeded, resumable training runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stream_lpr.errors import StreamLprError


def _detector(args: argparse.Namespace) -> None:
    from stream_lpr.train import detector

    data = Path(args.data) / "data.yaml"
    if not data.exists() or args.rebuild:
        data = detector.build_dataset(Path(args.data), args.train_tiles, args.val_tiles, args.seed)
    best = detector.train(data, Path(args.run), args.epochs, args.hours, args.batch, args.seed,
                          args.model, args.device, args.workers)
    pt, onnx = detector.export(best, Path(args.weights))
    print(f"detector weights written: {pt} and {onnx}")


def _reader(args: argparse.Namespace) -> None:
    from stream_lpr.train import reader

    out = reader.train(Path(args.run), Path(args.weights), steps=args.steps, batch=args.batch,
                       seed=args.seed, workers=args.workers, lr=args.lr, device=args.device,
                       val_size=args.val_size)
    print(f"reader weights written: {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stream_lpr.train", description=__doc__)
    sub = parser.add_subparsers(dest="model", required=True)

    det = sub.add_parser("detector", help="compose scene tiles and train the YOLOv8 pose plate detector")
    det.add_argument("--data", default="data/detector", help="where tiles are written (git-ignored)")
    det.add_argument("--run", default="runs/detector", help="run folder; an existing last.pt is resumed")
    det.add_argument("--weights", default="weights", help="where detector.pt and detector.onnx go")
    det.add_argument("--train-tiles", type=int, default=6000)
    det.add_argument("--val-tiles", type=int, default=400)
    det.add_argument("--rebuild", action="store_true", help="compose the tiles again")
    det.add_argument("--epochs", type=int, default=30)
    det.add_argument("--hours", type=float, default=None, help="stop after this long (overrides --epochs)")
    det.add_argument("--batch", type=int, default=16)
    det.add_argument("--model", default="yolov8n-pose.yaml", help="ultralytics model config (scale)")
    det.add_argument("--workers", type=int, default=1)
    det.add_argument("--device", default="cpu")
    det.add_argument("--seed", type=int, default=0)
    det.set_defaults(run_command=_detector)

    rd = sub.add_parser("reader", help="train the plate reader on rendered plates, generated on the fly")
    rd.add_argument("--run", default="runs/reader", help="run folder; checkpoint.pt there is resumed")
    rd.add_argument("--weights", default="weights", help="where reader.pt goes")
    rd.add_argument("--steps", type=int, default=30000)
    rd.add_argument("--batch", type=int, default=64)
    rd.add_argument("--lr", type=float, default=2e-3)
    rd.add_argument("--workers", type=int, default=1, help="data generation processes")
    rd.add_argument("--val-size", type=int, default=512, help="fixed held-out plates scored at each checkpoint")
    rd.add_argument("--device", default="cpu")
    rd.add_argument("--seed", type=int, default=0)
    rd.set_defaults(run_command=_reader)

    args = parser.parse_args(argv)
    try:
        args.run_command(args)
    except (StreamLprError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
