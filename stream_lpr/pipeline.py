"""The only module with threads, queues and the stop event.

    grabber thread --frames--> main thread: detect, track, pick crops --jobs--> reader workers
                               main thread: vote, draw, write  <--results--

The main thread owns the tracker, the voter and the sinks, so they need no locks; workers keep
no state. Every blocking get/put has a timeout so a stop is noticed within `_TICK_S`.
Shutdown (end of stream, Ctrl+C, SIGTERM, q, source error): stop the grabber, let the workers
finish the queued crops, fold in their reads, write every open track, close the sinks.
"""

from __future__ import annotations

import logging
from pathlib import Path
import queue
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from stream_lpr.capture import FrameSource
from stream_lpr.config import Config
from stream_lpr.overlay import HudStats, Overlay
from stream_lpr.readpolicy import ReadPolicy, quad_geometry
from stream_lpr.records import CropQuality, EndOfStream, Frame, ReadJob, ReadResult, TrackedPlate
from stream_lpr.rectify import rectify
from stream_lpr.sinks import CropSaver, CsvSink, VideoSink, Window
from stream_lpr.tracking import PlateTracker
from stream_lpr.voting import PlateVoter

log = logging.getLogger(__name__)

_TICK_S = 0.1  # longest a blocking queue call waits before re-checking the stop event
_JOIN_S = 10.0  # longest shutdown waits for one thread (daemon threads never block exit)
_DRAIN_S = 30.0  # longest shutdown waits for queued reads to finish
_SENTINEL = None  # tells a reader worker to exit after the jobs queued before it
_LATENCY_SAMPLES = 10000
_FPS_SMOOTHING = 0.05


@dataclass
class Stats:
    """Run counters; written by one thread each (GIL-atomic ints), read by the main thread."""

    frames: int = 0
    dropped_frames: int = 0  # live sources: frames replaced by newer ones before processing
    reads: int = 0
    dropped_reads: int = 0  # crops not read because the read queue was full
    failed_reads: int = 0
    sightings: int = 0
    fps: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=lambda: Counter())  # summed per stage
    stage_n: dict[str, int] = field(default_factory=lambda: Counter())
    latency_ms: deque = field(default_factory=lambda: deque(maxlen=_LATENCY_SAMPLES))
    max_frame_queue: int = 0
    max_read_queue: int = 0
    frame_queue: int = 0
    read_queue: int = 0
    stopped_by_user: bool = False
    error: str | None = None

    def add_time(self, stage: str, seconds: float, count: int = 1) -> None:
        self.stage_ms[stage] += seconds * 1000.0
        self.stage_n[stage] += count

    def mean_ms(self, stage: str) -> float:
        return self.stage_ms[stage] / self.stage_n[stage] if self.stage_n[stage] else 0.0

    def latency_p95(self) -> float | None:
        return float(np.percentile(list(self.latency_ms), 95)) if self.latency_ms else None


@dataclass
class Outputs:
    """The sinks of one run; any may be None."""

    csv: CsvSink | None = None
    video: VideoSink | None = None
    window: Window | None = None
    crops: CropSaver | None = None
    images_dir: str | None = None  # still-image sources: annotated images go here

    def close(self) -> None:
        for sink in (self.csv, self.video, self.window):
            if sink is not None:
                sink.close()


def _put(q: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Blocking put that gives up when `stop` is set (backpressure without a hang)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=_TICK_S)
            return True
        except queue.Full:
            continue
    return False


def _put_newest(q: queue.Queue, item: object, stats: Stats) -> None:
    """Live sources: never wait; replace the oldest queued frame and count it dropped."""
    while True:
        try:
            q.put_nowait(item)
            return
        except queue.Full:
            try:
                q.get_nowait()
                stats.dropped_frames += 1
            except queue.Empty:
                pass


def _grab(source: FrameSource, frames: queue.Queue, stop: threading.Event, stats: Stats) -> None:
    """Grabber thread: decodes frames into the queue; always ends with an EndOfStream."""
    error = None
    try:
        iterator = source.frames(stop.wait)
        while not stop.is_set():
            start = time.perf_counter()
            frame = next(iterator, None)
            if frame is None:
                break
            stats.add_time("decode", time.perf_counter() - start)
            if source.info.live:
                _put_newest(frames, frame, stats)
            elif not _put(frames, frame, stop):
                break
    except Exception as exc:  # the consumer must hear about any failure, not hang
        error = str(exc) or type(exc).__name__
        log.debug("grabber failed", exc_info=True)
    if source.info.live and error is None:
        _put_newest(frames, EndOfStream(), stats)
    else:
        _put(frames, EndOfStream(error), stop)


def _read_worker(reader, jobs: queue.Queue, results: queue.Queue, abort: threading.Event,
                 batch_size: int, torch_threads: int, stats: Stats) -> None:
    """Reader worker: reads batches of crops until it takes the sentinel (or an abort)."""
    _limit_torch_threads(torch_threads)
    while not abort.is_set():
        try:
            job = jobs.get(timeout=_TICK_S)
        except queue.Empty:
            continue
        batch, done = ([] if job is _SENTINEL else [job]), job is _SENTINEL
        while batch and not done and len(batch) < batch_size:
            try:
                extra = jobs.get_nowait()
            except queue.Empty:
                break
            done = extra is _SENTINEL
            if not done:
                batch.append(extra)
        if batch:
            _read_batch(reader, batch, results, stats)
        if done:
            return


def _read_batch(reader, batch: list[ReadJob], results: queue.Queue, stats: Stats) -> None:
    start = time.perf_counter()
    try:
        reads = reader.read([job.crop for job in batch])
    except Exception as exc:  # one bad batch must not kill the worker
        log.warning("reader failed on %d crops: %s", len(batch), exc)
        for job in batch:
            results.put(ReadResult(job, None, str(exc)))
        return
    stats.add_time("read", time.perf_counter() - start, len(batch))
    for job, read in zip(batch, reads):
        results.put(ReadResult(job, read))


def _limit_torch_threads(count: int) -> None:
    """Workers share 2 cores with the detector: more torch threads would only contend."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(count)


class FrameProcessor:
    """Main-thread state: tracker, read policy, voter, overlay and sinks (no locks needed)."""

    def __init__(self, config: Config, detector, overlay: Overlay | None, outputs: Outputs,
                 jobs: queue.Queue, results: queue.Queue, stats: Stats, live: bool, stop: threading.Event) -> None:
        self.config, self.detector, self.overlay, self.outputs = config, detector, overlay, outputs
        self.jobs, self.results, self.stats, self.live, self.stop = jobs, results, stats, live, stop
        self.tracker = PlateTracker(config.tracking)
        self.policy = ReadPolicy(config.read_policy)
        self.voter = PlateVoter(config.voting)
        self.in_flight: Counter[int] = Counter()  # reads queued or running, per track
        self.closing: set[int] = set()  # ended tracks waiting for their reads
        self._last_frame_at: float | None = None

    def process(self, frame: Frame) -> bool:
        """Handles one frame; returns True when the user asked to quit (window q)."""
        start = time.perf_counter()
        detections = self.detector.detect(frame.image)
        detected = time.perf_counter()
        self.stats.add_time("detect", detected - start)
        tracked = self._track(frame, detections)
        self.stats.add_time("track", time.perf_counter() - detected)
        self.collect_results()
        if frame.still:  # a still image is its own scope: its reads first, then its tracks end
            self.wait_for_reads({p.track_id for p in tracked}, _DRAIN_S)
        quit_requested = self._render(frame, tracked)
        if frame.still:
            self.closing.update(p.track_id for p in tracked)
        self.close_finished()
        self._count_frame(frame)
        return quit_requested

    def _track(self, frame: Frame, detections) -> list[TrackedPlate]:
        if frame.still:
            ids = self.tracker.assign_new(len(detections))
            tracked = [TrackedPlate(tid, np.asarray(detections.xyxy[i], np.float32),
                                    np.asarray(detections.corners[i], np.float32),
                                    float(detections.confidence[i]), i) for i, tid in enumerate(ids)]
        else:
            update = self.tracker.update(detections.xyxy, detections.confidence, detections.corners,
                                         frame.timestamp_s)
            tracked = update.tracked
            self.closing.update(update.ended)
        for plate in tracked:
            self.voter.observe(plate, frame)
            self._maybe_read(plate, frame)
        return tracked

    def _maybe_read(self, plate: TrackedPlate, frame: Frame) -> None:
        """Queues a read when the policy says the crop is worth it (stills: always)."""
        if not frame.still and not (self.policy.due(plate.track_id, frame.timestamp_s)
                                    and self.policy.geometry_ok(plate.corners)):
            return
        crop = rectify(frame.image, plate.corners)
        quality = self.policy.judge(plate.corners, crop)
        if quality is None:
            if not frame.still:
                return
            width, frontal = quad_geometry(plate.corners)  # a still has one chance: read anyway
            quality = CropQuality(width, 0.0, frontal, 0.1)
        job = ReadJob(plate.track_id, frame.index, frame.timestamp_s, crop, plate.xyxy, quality)
        if self._submit(job):
            self.policy.mark_read(plate.track_id, frame.timestamp_s)

    def _submit(self, job: ReadJob) -> bool:
        if self.live:
            try:
                self.jobs.put_nowait(job)
            except queue.Full:
                self.stats.dropped_reads += 1
                return False
        elif not _put(self.jobs, job, self.stop):  # files: wait for the readers, drop nothing
            return False
        self.in_flight[job.track_id] += 1
        self.stats.max_read_queue = max(self.stats.max_read_queue, self.jobs.qsize())
        return True

    def collect_results(self, wait_s: float = 0.0) -> None:
        """Folds finished reads into the votes; waits up to `wait_s` for the first one."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                result = self.results.get(timeout=max(deadline - time.monotonic(), 0.0)) \
                    if wait_s > 0 else self.results.get_nowait()
            except queue.Empty:
                return
            wait_s = 0.0
            self.in_flight[result.job.track_id] -= 1
            if result.read is None:
                self.stats.failed_reads += 1
                continue
            self.stats.reads += 1
            self.voter.add(result.job, result.read.scores, result.read.reading)

    def wait_for_reads(self, ids: set[int] | None, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pending = [t for t, n in self.in_flight.items() if n > 0 and (ids is None or t in ids)]
            if not pending:
                return
            self.collect_results(wait_s=_TICK_S)

    def close_finished(self, force: bool = False) -> None:
        """Writes the sightings of ended tracks whose reads are all in (or all, if `force`)."""
        for track_id in sorted(self.closing):
            if self.in_flight[track_id] > 0 and not force:
                continue
            self.closing.discard(track_id)
            self.in_flight.pop(track_id, None)
            self.policy.forget(track_id)
            self._write_sighting(track_id)

    def end_all(self) -> None:
        self.closing.update(self.tracker.end_all())
        self.closing.update(self.voter.open_ids)
        self.close_finished(force=True)

    def _write_sighting(self, track_id: int) -> None:
        sighting = self.voter.close(track_id)
        if sighting is None:
            return
        if not sighting.verdict.readable and not self.config.output.log_unread:
            return
        if self.outputs.crops is not None:
            sighting = replace(sighting, crop_path=self.outputs.crops.save(sighting))
        if self.outputs.csv is not None:
            self.outputs.csv.write(sighting)
        self.stats.sightings += 1

    def _render(self, frame: Frame, tracked: list[TrackedPlate]) -> bool:
        out = self.outputs
        if self.overlay is None or (out.video is None and out.window is None and out.images_dir is None):
            return False
        start = time.perf_counter()
        plates = [(p, self.voter.verdict(p.track_id)) for p in tracked]
        scene = self.overlay.draw(frame.image, plates, self._hud(frame))
        drawn = time.perf_counter()
        self.stats.add_time("draw", drawn - start)
        quit_requested = False
        if out.video is not None:
            out.video.write(scene)
        if out.images_dir is not None and frame.still:
            _write_image(out.images_dir, frame.source, scene)
        if out.window is not None:
            quit_requested = out.window.show(scene)
        self.stats.add_time("encode", time.perf_counter() - drawn)
        return quit_requested

    def _hud(self, frame: Frame) -> HudStats:
        latency = (time.monotonic() - frame.captured_at) * 1000.0 if self.live else None
        return HudStats(self.stats.fps, self.stats.dropped_frames, self.stats.frame_queue,
                        self.jobs.qsize(), self.stats.dropped_reads, latency)

    def _count_frame(self, frame: Frame) -> None:
        now = time.monotonic()
        if self._last_frame_at is not None:
            instant = 1.0 / max(now - self._last_frame_at, 1e-6)
            fps = self.stats.fps
            self.stats.fps = instant if fps == 0 else fps + _FPS_SMOOTHING * (instant - fps)
        self._last_frame_at = now
        self.stats.frames += 1
        if self.live:
            self.stats.latency_ms.append((now - frame.captured_at) * 1000.0)


def _write_image(folder: str, source: str, image: np.ndarray) -> None:
    path = Path(folder) / Path(source).name
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)


class _SignalStop:
    """Ctrl+C and SIGTERM set the stop event (main thread only); the old handlers come back after."""

    def __init__(self, stop: threading.Event, stats: Stats) -> None:
        self.stop, self.stats, self._old = stop, stats, {}

    def _handle(self, signum, _frame) -> None:
        self.stats.stopped_by_user = True
        self.stop.set()

    def __enter__(self) -> _SignalStop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def run_pipeline(config: Config, source: FrameSource, detector, readers: list, outputs: Outputs,
                 overlay: Overlay | None = None, stop: threading.Event | None = None,
                 on_frame: Callable[[Stats], None] | None = None) -> Stats:
    """Runs until the source ends, `stop` is set, a signal arrives or the window's q.

    `readers`: one PlateReader per worker thread. Returns the run's Stats; `stats.error` holds
    a source failure (everything read so far is still written).
    """
    stop = stop or threading.Event()
    stats = Stats()
    live = source.info.live
    capture = config.capture
    frames: queue.Queue = queue.Queue(capture.live_queue_size if live else capture.file_queue_size)
    jobs: queue.Queue = queue.Queue(config.workers.queue_size)
    results: queue.Queue = queue.Queue()  # unbounded: holds at most the jobs in flight
    abort = threading.Event()
    grabber = threading.Thread(target=_grab, args=(source, frames, stop, stats), name="grabber", daemon=True)
    workers = [threading.Thread(target=_read_worker, name=f"reader-{i}", daemon=True,
                                args=(reader, jobs, results, abort, config.workers.batch_size,
                                      config.workers.torch_threads, stats))
               for i, reader in enumerate(readers)]
    processor = FrameProcessor(config, detector, overlay, outputs, jobs, results, stats, live, stop)
    with _SignalStop(stop, stats):
        grabber.start()
        for worker in workers:
            worker.start()
        try:
            _main_loop(processor, frames, stop, stats, on_frame)
        finally:
            _shutdown(processor, source, grabber, workers, jobs, stop, abort)
    return stats


def _main_loop(processor: FrameProcessor, frames: queue.Queue, stop: threading.Event, stats: Stats,
               on_frame: Callable[[Stats], None] | None) -> None:
    while not stop.is_set():
        try:
            item = frames.get(timeout=_TICK_S)
        except queue.Empty:
            continue
        if isinstance(item, EndOfStream):
            stats.error = item.error
            return
        stats.frame_queue = frames.qsize()
        stats.max_frame_queue = max(stats.max_frame_queue, stats.frame_queue + 1)
        if processor.process(item):
            stats.stopped_by_user = True
            return
        if on_frame is not None:
            on_frame(stats)


def _shutdown(processor: FrameProcessor, source: FrameSource, grabber: threading.Thread,
              workers: list[threading.Thread], jobs: queue.Queue, stop: threading.Event,
              abort: threading.Event) -> None:
    """Stops the grabber, drains the reads, writes every open track, closes the sinks."""
    stop.set()
    grabber.join(_JOIN_S)
    try:
        drain = threading.Event()  # a fresh event: the sentinel puts must not give up at once
        for _ in workers:
            _put_until(jobs, _SENTINEL, _DRAIN_S, drain)
        processor.wait_for_reads(None, _DRAIN_S)
        abort.set()
        for worker in workers:
            worker.join(_JOIN_S)
        processor.collect_results()
        processor.end_all()
    finally:
        processor.outputs.close()
        if not grabber.is_alive():  # releasing a capture another thread still reads can crash
            source.close()


def _put_until(q: queue.Queue, item: object, timeout_s: float, stop: threading.Event) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop.is_set():
        try:
            q.put(item, timeout=_TICK_S)
            return
        except queue.Full:
            continue
