"""Command line: arguments -> config overrides -> a pipeline run; errors -> one line and an exit code.

Exit codes: 0 done or stopped by the user (Ctrl+C, SIGTERM, q); 1 runtime failure (source lost,
weights, I/O); 2 bad configuration or arguments.
"""

from __future__ import annotations

import os

# Before anything imports OpenCV or ultralytics: no downloads, no telemetry, and no ffmpeg log
# lines (they can print a stream URL with its password).
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import yaml  # noqa: E402

from stream_lpr import __version__  # noqa: E402
from stream_lpr.config import Config, load_config  # noqa: E402
from stream_lpr.errors import ConfigError, StreamLprError, WeightsError  # noqa: E402
from stream_lpr.records import Sighting  # noqa: E402
from stream_lpr.watchlist import WatchAlerts, load_watchlist  # noqa: E402

log = logging.getLogger("stream_lpr")
DEFAULT_CONFIG = "config.yaml"
_PROG = "stream-lpr"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Real-time Japanese license plate recognition on a camera, stream, video file, "
                    "image, or folder of images or videos. Writes one CSV row per vehicle sighting.",
        epilog="examples:\n"
               "  run_stream.py --source 0 --show                      webcam, live window (q quits)\n"
               "  run_stream.py --source rtsp://user:pw@cam/stream --csv sightings.csv\n"
               "  run_stream.py --source drive.mp4 --output annotated.mp4 --csv sightings.csv\n"
               "  run_stream.py --source photos/ --output annotated/ --csv plates.csv\n"
               "  run_stream.py --source DCIM/Movie/ --output annotated/ --csv sightings.csv   a dashcam's card\n"
               "exit codes: 0 done or stopped by the user, 1 runtime error, 2 bad config or arguments",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--source", required=True,
                        help="webcam index (0), rtsp:// or http(s):// URL, video file, image, folder of images, or "
                             "folder of videos (each in name order, into one CSV)")
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help="YAML settings file (default: config.yaml; built-in defaults if that is absent)")
    parser.add_argument("--output", help="annotated video file (.mp4); for image sources, a folder for annotated images; "
                                         "for a folder of videos, a folder for annotated videos of the same names")
    parser.add_argument("--csv", help="sightings CSV, one row per vehicle, flushed per row (cameras and streams "
                                      "append to it, files start it afresh: output.csv_mode); a name with "
                                      "strftime fields, logs/%%Y-%%m-%%d.csv, gives a file a day")
    parser.add_argument("--show", action=argparse.BooleanOptionalAction, default=None,
                        help="show a live window with overlays (needs a display; q or Esc quits)")
    parser.add_argument("--save-crops", metavar="DIR",
                        help="save the best plate crop of each sighting, and the vehicle around it, in DIR")
    parser.add_argument("--watchlist", metavar="FILE",
                        help="plates to watch for, one a line (`品川 300 あ 12-34  # note`, or `12-34`): "
                             "logged, drawn in red and marked in the CSV when seen")
    parser.add_argument("--serve", metavar="[HOST:]PORT",
                        help="show the annotated frames in a browser at http://HOST:PORT/ (a machine with no display; "
                             "PORT alone: this machine only, 0.0.0.0:PORT: the network) (overrides output.serve)")
    parser.add_argument("--webhook", metavar="URL",
                        help="POST each sighting (the CSV row's columns) and each watchlist report to this http(s) "
                             "URL as JSON, from a background thread (overrides output.webhook)")
    parser.add_argument("--anonymize", action="store_true", default=None,
                        help="the --output video or images (and the window) show every plate pixelated past reading "
                             "and nothing else drawn: a video to share (overrides overlay.anonymize)")
    parser.add_argument("--log-unread", action="store_true", default=None,
                        help="also write CSV rows for plates that were tracked but never read")
    parser.add_argument("--device", help="where the models run: cpu or cuda:N (overrides models.device)")
    parser.add_argument("--detector", metavar="PATH", help="detector weights (overrides models.detector)")
    parser.add_argument("--reader", metavar="PATH", help="reader weights (overrides models.reader)")
    parser.add_argument("--workers", type=int, metavar="N", help="reader threads (overrides workers.count)")
    parser.add_argument("--realtime", action="store_true",
                        help="play a video file as if it were a live camera (paced, newest frames only)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config key, e.g. --set voting.min_reads=5 (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar or live stats line")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (and tracebacks)")
    return parser


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Only the flags that were given: the config file keeps the rest."""
    flags = {
        "output.video": args.output, "output.csv": args.csv, "output.show": args.show,
        "overlay.anonymize": args.anonymize,
        "output.save_crops": args.save_crops, "output.log_unread": args.log_unread, "output.webhook": args.webhook,
        "output.serve": args.serve,
        "models.device": args.device, "models.detector": args.detector, "models.reader": args.reader,
        "workers.count": args.workers, "watchlist.file": args.watchlist,
    }
    return {**{key: value for key, value in flags.items() if value is not None}, **set_overrides(args.set)}


def set_overrides(items: list[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` items as config overrides; values are read as YAML (5, 0.3, true)."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return overrides


def resolve_config_path(path: str) -> Path | None:
    """The config file to read; None (built-in defaults) when the default file is absent."""
    candidate = Path(path)
    if candidate.is_file():
        return candidate
    if path != DEFAULT_CONFIG:
        raise ConfigError(f"config file not found: {path}")
    beside_package = Path(__file__).resolve().parents[1] / DEFAULT_CONFIG  # a source checkout
    return beside_package if beside_package.is_file() else None


def resolve_weights(path: str, config_path: Path | None) -> Path:
    """Relative weight paths work from the current folder or from the config file's folder
    (with no config file: the source checkout's, where weights/ is)."""
    candidate = Path(path)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    folder = config_path.resolve().parent if config_path else Path(__file__).resolve().parents[1]
    beside = folder / candidate
    return beside if beside.exists() else candidate


def load_models(config: Config, config_path: Path | None):
    """The detector and one reader per worker; WeightsError for missing or broken files."""
    detector_path = resolve_weights(config.models.detector, config_path)
    reader_path = resolve_weights(config.models.reader, config_path)
    refiner_path = resolve_weights(config.models.refiner, config_path) if config.models.refiner else None
    for path, hint in ((detector_path, "set models.detector in the config or pass --detector"),
                       (reader_path, "set models.reader in the config or pass --reader"),
                       (refiner_path, 'set models.refiner in the config; "": none')):
        if path is not None and not path.is_file():
            raise WeightsError(f"weights not found: {path} ({hint})")
    from stream_lpr.detection import PlateDetector
    from stream_lpr.recognition import PlateReader
    from stream_lpr.refine import CornerRefiner

    m = config.models
    try:
        refiner = CornerRefiner(refiner_path) if refiner_path else None
        detector = PlateDetector(detector_path, imgsz=m.imgsz, conf=config.detection.confidence,
                                 iou=config.detection.iou, device=m.device, still_size=config.detection.still_size,
                                 close_up_size=config.detection.close_up_size,
                                 still_turn=config.detection.still_turn,
                                 counts_at=config.tracking.high_confidence, refiner=refiner)
        readers = [PlateReader(reader_path, device=m.device, threads=config.workers.threads)
                   for _ in range(config.workers.count)]
    except StreamLprError:
        raise
    except Exception as exc:  # a loader that failed in its own way: still one line for the user
        raise WeightsError(f"cannot load weights: {type(exc).__name__}: {exc}") from None
    return detector, readers


def build_watch(config: Config) -> WatchAlerts | None:
    """The watchlist and its reports, read and checked before the (slow) model loading."""
    w = config.watchlist
    if not w.file:
        if w.command:
            raise ConfigError("config key 'watchlist.command' is set but there is no watchlist "
                              "(--watchlist or watchlist.file)")
        return None
    watchlist = load_watchlist(w.file)
    log.info("watching for %d plate(s) from %s", len(watchlist), w.file)
    return WatchAlerts(watchlist, w.quiet_s, w.command, w.possible_min)


def check_outputs(config: Config, source=None) -> None:
    """Argument mistakes that can be caught before the (slow) model loading. `source` None: a
    folder of videos."""
    from stream_lpr.capture import VIDEO_SUFFIXES

    video = config.output.video
    if video and Path(video).suffix.lower() in VIDEO_SUFFIXES and (source is None or source.info.still):
        what = "a folder of videos, --output is a folder for the annotated videos" if source is None else \
            "an image source, --output is a folder for the annotated images"
        raise ConfigError(f"--output {video}: for {what}, not a video file")
    if config.output.webhook:
        from stream_lpr.sinks import check_webhook

        check_webhook(config.output.webhook)
    if config.output.serve:
        from stream_lpr.preview import parse_address

        parse_address(config.output.serve)
    if config.overlay.anonymize and not (video or config.output.show or config.output.serve):
        raise ConfigError("--anonymize hides the plates in what is drawn, and nothing is: give --output "
                          "(or --show, --serve)")


def web_preview(config: Config):
    """The browser page output.serve names (bound at once: StreamLprError if its port is taken)."""
    from stream_lpr.preview import WebPreview

    return WebPreview(config.output.serve, listed=not config.overlay.anonymize)


def build_outputs(config: Config, source, csv_started: set[Path] | None = None, preview=None):
    """The sinks `config` names for `source`; `csv_started`: the CSV files this run has begun
    (a folder of videos: its later videos append to them); `preview`: the browser page a
    folder's videos share (output.serve), left open for the next."""
    from stream_lpr.pipeline import Outputs
    from stream_lpr.recorded_at import parse_timezone
    from stream_lpr.sinks import CropSaver, CsvSink, VideoSink, WebhookPoster, Window

    out = config.output
    outputs = Outputs()
    try:
        outputs.window = Window(check=False) if out.show else None  # run() checked
        append = out.csv_mode == "append" or (out.csv_mode == "auto" and source.info.live)
        zone = parse_timezone(config.capture.file_timezone)
        outputs.csv = CsvSink(out.csv, append, csv_started, zone) if out.csv else None
        if out.video and source.info.still:
            outputs.images_dir = out.video
        elif out.video:
            live = source.info.live
            outputs.video = VideoSink(out.video, source.info.fps, out.video_codec, keep_earlier=live,
                                      segment_s=60.0 * out.segment_minutes if live else 0.0)
        outputs.crops = CropSaver(out.save_crops) if out.save_crops else None
        outputs.webhook = WebhookPoster(out.webhook, out.webhook_timeout_s) if out.webhook else None
        if preview is not None:
            outputs.preview, outputs.preview_shared = preview, True
        elif out.serve:
            outputs.preview = web_preview(config)
    except Exception:
        outputs.close()
        raise
    return outputs


class Progress:
    """A tqdm bar for files and folders; a once-a-second stats line for live sources."""

    def __init__(self, source, enabled: bool, label: str = "") -> None:
        self.live = source.info.live
        self.enabled = enabled
        self._bar = None
        self._last = 0.0
        if enabled and not self.live:
            from tqdm import tqdm

            self._bar = tqdm(total=source.info.frame_count or None, unit="frame", dynamic_ncols=True,
                             file=sys.stderr, mininterval=0.5, desc=f"{label} {Path(source.info.name).name[:30]}".lstrip())

    def update(self, stats) -> None:
        if self._bar is not None:
            self._bar.update(stats.frames - self._bar.n)
            if stats.frames % 15 == 0:
                watched = {"watchlist": stats.alerts} if stats.alerts else {}
                watched.update({"possible": stats.possible_alerts} if stats.possible_alerts else {})
                self._bar.set_postfix(fps=f"{stats.fps:.1f}", sightings=stats.sightings, **watched, refresh=False)
        elif self.enabled and self.live and time.monotonic() - self._last >= 1.0:
            self._last = time.monotonic()
            p95 = stats.latency_p95()
            line = (f"frames {stats.frames}  fps {stats.fps:5.1f}  dropped {stats.dropped_frames}  "
                    f"queues frame {stats.frame_queue} read {stats.read_queue}  "
                    f"reads {stats.reads} (dropped {stats.dropped_reads})  sightings {stats.sightings}  "
                    f"latency p95 {p95 or 0:.0f} ms" + (f"  watchlist {stats.alerts}" if stats.alerts else "")
                    + (f"  detector idle {100 * stats.idle_frames / max(stats.frames, 1):.0f} %"
                       if stats.idle_frames else "")
                    + (f"  possible {stats.possible_alerts}" if stats.possible_alerts else ""))
            end = "\r" if sys.stderr.isatty() else "\n"
            print(line, end=end, file=sys.stderr, flush=True)

    def logging(self):
        """A context in which log lines (a watchlist report mid-video) print above the bar
        instead of into it."""
        if self._bar is None:
            return contextlib.nullcontext()
        from tqdm.contrib.logging import logging_redirect_tqdm

        return logging_redirect_tqdm()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and self.live and sys.stderr.isatty():
            print(file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from stream_lpr.capture import open_source, videos_in
    from stream_lpr.sinks import check_display

    config_path = resolve_config_path(args.config)
    config = load_config(config_path, overrides_from_args(args))
    watch = build_watch(config)
    if config.output.show:
        check_display()
    folder = Path(args.source)
    videos = videos_in(folder) if folder.is_dir() else []
    if videos:
        return _run_videos(args, config, config_path, watch, folder, videos)
    source = open_source(args.source, config.capture, realtime=args.realtime)
    try:
        check_outputs(config, source)
        detector, readers = load_models(config, config_path)
    except BaseException:
        source.close()
        raise
    stats = process_source(config, source, detector, readers, watch, progress=not args.no_progress)
    if stats.error and not stats.stopped_by_user:
        raise StreamLprError(stats.error)
    return 0


def _run_videos(args: argparse.Namespace, config: Config, config_path: Path | None, watch: WatchAlerts | None,
                folder: Path, videos: list[Path]) -> int:
    check_outputs(config)
    detector, readers = load_models(config, config_path)
    process_videos(config, folder, videos, detector, readers, watch, realtime=args.realtime,
                   progress=not args.no_progress)
    return 0


def process_videos(config: Config, folder: Path, videos: list[Path], detector, readers: list,
                   watch: WatchAlerts | None, *, realtime: bool = False, progress: bool = True,
                   on_sighting: Callable[[Sighting], None] | None = None, stop: threading.Event | None = None) -> None:
    """A folder of videos (a dashcam's card), drive by drive (drive.py: files recorded back to
    back are read as one video; `realtime` plays each file alone, as a camera would send it):
    its rows into the one CSV, each drive's annotated video into the output.video folder under
    its first file's name. A video that cannot be read is reported and the rest are read; then
    StreamLprError names it. Ctrl+C or `stop` ends it at once."""
    from stream_lpr import drive
    from stream_lpr.capture import images_in, open_source
    from stream_lpr.config import with_overrides
    from stream_lpr.errors import SourceError

    images = len(images_in(folder))
    if images:
        log.warning("%s holds videos, so it is read as a folder of videos: its %d image(s) are left out", folder, images)
    below = sorted({str(path.parent.relative_to(folder)) for path in videos} - {"."})
    if below:
        log.info("%s holds no videos of its own: reading the %d in %s", folder, len(videos), ", ".join(below))
    drives = drive.each_alone(videos) if realtime else drive.group(videos, config.capture)
    if len(drives) < len(videos):
        log.info("%d videos, recorded as %d drive(s): each drive is read as one video", len(videos), len(drives))
    # One browser page for the whole card: a page per video would break its stream at each file.
    preview = web_preview(config) if config.output.serve else None
    failed, names, sightings, csv_started = [], set(), 0, set()
    try:
        for k, segments in enumerate(drives):
            paths = [segment.path for segment in segments]
            first = paths[0]
            if len(paths) > 1:
                log.info("drive %d of %d: %d videos, %s to %s", k + 1, len(drives), len(paths), first.name, paths[-1].name)
            else:
                log.info("video %d of %d: %s", k + 1, len(drives), first.name)
            overrides = {}
            if config.output.video:
                name = first.stem + ".mp4" if first.stem + ".mp4" not in names else first.name + ".mp4"
                names.add(name)
                overrides["video"] = str(Path(config.output.video) / name)
            try:
                source = drive.DriveSource(segments) if len(segments) > 1 else \
                    open_source(str(first), config.capture, realtime=realtime)
            except SourceError as exc:
                log.error("%s; going on with the next video", exc)
                failed.extend(path.name for path in paths)
                continue
            stats = process_source(with_overrides(config, "output", **overrides), source, detector, readers, watch,
                                   progress=progress, csv_started=csv_started, on_sighting=on_sighting, stop=stop,
                                   preview=preview, label=f"{k + 1}/{len(drives)}")
            sightings += stats.sightings
            if isinstance(source, drive.DriveSource):
                failed.extend(source.failed)
            if stats.stopped_by_user or (stop is not None and stop.is_set()):
                return
            if stats.error:
                log.error("%s; going on with the next video", stats.error)
                failed.append(first.name)
    finally:
        if preview is not None:
            preview.close()
    log.info("%d video(s) read, %d sightings in all", len(videos) - len(failed), sightings)
    if failed:
        raise StreamLprError(f"{len(failed)} of {len(videos)} videos in {folder} could not be read to the end "
                             f"(their rows up to the fault are written): {', '.join(failed)}")


def process_source(config: Config, source, detector, readers: list, watch: WatchAlerts | None, *,
                   progress: bool = True, csv_started: set[Path] | None = None,
                   on_sighting: Callable[[Sighting], None] | None = None, stop: threading.Event | None = None,
                   preview=None, label: str = ""):
    """Runs one opened source through the pipeline into the outputs `config` names (and
    `on_sighting`: api.py), with a progress bar (`label` before the file's name) or status
    line; its Stats. `preview`: a browser page that outlives the run (build_outputs)."""
    from stream_lpr.pipeline import run_pipeline

    try:
        outputs = build_outputs(config, source, csv_started, preview)
    except BaseException:
        source.close()
        raise
    outputs.on_sighting = on_sighting
    overlay = None
    if outputs.draws:
        from stream_lpr.overlay import Overlay

        overlay = Overlay(config.overlay)
    bar = Progress(source, enabled=progress, label=label)
    try:
        with bar.logging():
            stats = run_pipeline(config, source, detector, readers, outputs, overlay, stop=stop, on_frame=bar.update,
                                 watch=watch)
    finally:
        bar.close()
    _summary(stats, config)
    return stats


def _summary(stats, config: Config) -> None:
    where = f" -> {config.output.csv}" if config.output.csv else ""
    watched = (f", {stats.alerts} watchlist alert(s)" + (f" and {stats.possible_alerts} possible"
                                                         if stats.possible_alerts else "")
               if config.watchlist.file else "")
    posted = (f", {stats.webhook_posted} record(s) posted to the webhook"
              + (f" ({stats.webhook_lost} not delivered)" if stats.webhook_lost else "")
              if config.output.webhook else "")
    idle = f", the detector idle on {stats.idle_frames} (nothing moved)" if stats.idle_frames else ""
    log.info("%d frames%s, %d sightings%s, %d reads (%d dropped), %d frames dropped%s%s%s",
             stats.frames, idle, stats.sightings, where, stats.reads, stats.dropped_reads,
             stats.dropped_frames, watched, posted, " (stopped by user)" if stats.stopped_by_user else "")


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{_PROG}: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("ultralytics", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:1]) + (" ..." if len(lines) > 1 else "") if lines else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors exit 2 with argparse's one-line message
    _setup_logging(args.verbose)
    try:
        return run(args)
    except StreamLprError as exc:
        print(f"{_PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # Ctrl+C before the pipeline took over the signal (model loading)
        print(f"{_PROG}: stopped", file=sys.stderr)
        return 0
    except Exception as exc:
        if args.verbose:
            raise
        print(f"{_PROG}: error: {type(exc).__name__}: {_one_line(exc)} (run with -v for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
