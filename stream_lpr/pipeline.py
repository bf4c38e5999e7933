"""The only module with threads, queues and the stop event.

    grabber thread --frames--> main thread: detect, track, pick crops --jobs--> reader workers
                               main thread: vote, draw, write  <--results--

The main thread runs a FrameProcessor (processor.py), which owns the tracker, the voter and
the sinks, so they need no locks; workers keep no state. Every blocking get/put has a timeout
so a stop is noticed within `_TICK_S`. Shutdown (end of stream, Ctrl+C, SIGTERM, q, source
error): stop the grabber, let the workers finish the queued crops, fold in their reads, write
every open track, close the sinks.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from stream_lpr.capture import FrameSource
from stream_lpr.config import Config
from stream_lpr.errors import StreamLprError
from stream_lpr.overlay import Overlay
from stream_lpr.processor import FrameProcessor, Outputs, Stats
from stream_lpr.records import EndOfStream, ReadJob, ReadResult
from stream_lpr.sinks import VideoSink, WebhookPoster, WebhookRejected
from stream_lpr.watchlist import WatchAlerts

log = logging.getLogger(__name__)

_TICK_S = 0.1  # longest a blocking queue call waits before re-checking its stop event
_JOIN_S = 10.0  # longest shutdown waits for one thread (daemon threads never block exit)
_DRAIN_S = 30.0  # longest shutdown waits for queued reads to finish
_SENTINEL = None  # tells a reader worker to exit after the jobs queued before it
_WEBHOOK_QUEUE = 1000  # records waiting for the webhook server; beyond it the oldest is dropped
_WEBHOOK_RETRY_S = (1.0, 30.0)  # first wait before posting a failed record again, doubling to the second
_WEBHOOK_DRAIN_S = 10.0  # longest the end of a run waits for the records still queued

__all__ = ["Outputs", "Stats", "run_pipeline"]


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
            # Live: the time includes waiting for the camera, so it is kept apart from decode.
            stats.add_time("grab" if source.info.live else "decode", time.perf_counter() - start)
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


@dataclass
class _WorkerLink:
    """What a reader worker shares with the main thread: two queues and an abort flag."""

    jobs: queue.Queue
    results: queue.Queue
    abort: threading.Event
    batch_size: int


def _read_worker(reader, link: _WorkerLink) -> None:
    """Reader worker: reads batches of crops until it takes the sentinel (or an abort)."""
    while not link.abort.is_set():
        try:
            job = link.jobs.get(timeout=_TICK_S)
        except queue.Empty:
            continue
        batch, done = ([] if job is _SENTINEL else [job]), job is _SENTINEL
        while batch and not done and len(batch) < link.batch_size:
            try:
                extra = link.jobs.get_nowait()
            except queue.Empty:
                break
            done = extra is _SENTINEL
            if not done:
                batch.append(extra)
        if batch:
            _read_batch(reader, batch, link.results)
        if done:
            return


def _read_batch(reader, batch: list[ReadJob], results: queue.Queue) -> None:
    start = time.perf_counter()
    try:
        # A source gives one kind of job (stills or video frames), so this is usually one call.
        batch = sorted(batch, key=lambda job: job.views)
        reads = [read for views in sorted({job.views for job in batch})
                 for read in reader.read([job.crop for job in batch if job.views == views], views)]
    except Exception as exc:  # one bad batch must not kill the worker
        log.warning("reader failed on %d crops: %s", len(batch), exc)
        reads, error = [None] * len(batch), str(exc)
    else:
        error = None
    share = (time.perf_counter() - start) / len(batch)
    for job, read in zip(batch, reads):
        results.put(ReadResult(job, read, error, share))


class _QueueChannel:
    """The processor's ReadChannel: files wait for a free slot (no read lost), live sources drop."""

    def __init__(self, link: _WorkerLink, live: bool, stop: threading.Event) -> None:
        self.link, self.live, self.stop = link, live, stop

    def submit(self, job: ReadJob) -> bool:
        if not self.live:
            return _put(self.link.jobs, job, self.stop)
        try:
            self.link.jobs.put_nowait(job)
            return True
        except queue.Full:
            return False

    def poll(self, wait_s: float) -> list[ReadResult]:
        results = []
        try:
            results.append(self.link.results.get(timeout=wait_s) if wait_s > 0 else self.link.results.get_nowait())
            while True:
                results.append(self.link.results.get_nowait())
        except queue.Empty:
            return results

    def depth(self) -> int:
        return self.link.jobs.qsize()


class _BackgroundVideo:
    """Encodes the annotated video in its own thread (OpenCV releases the GIL while encoding),
    so encoding overlaps the next frame's detection. Never drops a frame: a full queue makes
    the main thread wait, which only happens when encoding is the slowest stage."""

    _QUEUE_SIZE = 4

    def __init__(self, sink: VideoSink, stats: Stats) -> None:
        self.sink, self.stats = sink, stats
        self._frames: queue.Queue = queue.Queue(self._QUEUE_SIZE)
        self._closing = threading.Event()
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name="video-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                image = self._frames.get(timeout=_TICK_S)
            except queue.Empty:
                if self._closing.is_set():
                    return
                continue
            if image is _SENTINEL:
                return
            try:
                start = time.perf_counter()
                self.sink.write(image)
                self.stats.add_time("encode", time.perf_counter() - start)  # only this thread writes it
            except Exception as exc:  # reported by the next write; the thread keeps draining
                self._error = str(exc)

    def write(self, image) -> None:
        if self._error:
            raise StreamLprError(f"video writer failed: {self._error}")
        _put_until(self._frames, image, _JOIN_S)

    @property
    def frames(self) -> int:
        return self.sink.frames

    def close(self) -> None:
        """Writes what is queued, then releases the file so it is playable."""
        if self._thread.is_alive():
            _put_until(self._frames, _SENTINEL, _JOIN_S)
            self._closing.set()
            self._thread.join(_JOIN_S)
        self.sink.close()


class _BackgroundWebhook:
    """Posts sightings and watchlist reports to output.webhook in its own thread, in order, so a
    slow or dead server never holds up the video. A record the server cannot take now (no
    connection, a 5xx) is posted again after 1 s, doubling to 30 s, before the ones after it;
    one it refuses (a 4xx) is dropped. At most _WEBHOOK_QUEUE wait (the oldest is dropped past
    that); the end of the run gives the rest _WEBHOOK_DRAIN_S (a failing server one more try).
    Every loss is counted and logged."""

    def __init__(self, poster: WebhookPoster, stats: Stats) -> None:
        self.poster, self.stats = poster, stats
        self._records: queue.Queue = queue.Queue(_WEBHOOK_QUEUE)
        self._closing, self._abort = threading.Event(), threading.Event()
        self._failing = False
        self._counting = threading.Lock()  # losses are counted here and in the main thread (a full queue)
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self._thread.start()

    def send(self, record: dict) -> None:
        while True:
            try:
                self._records.put_nowait(record)
                return
            except queue.Full:
                try:
                    self._records.get_nowait()
                    self._lost(1, "the queue was full")
                except queue.Empty:
                    pass

    def _run(self) -> None:
        while not self._abort.is_set():
            try:
                record = self._records.get(timeout=_TICK_S)
            except queue.Empty:
                if self._closing.is_set():
                    return
                continue
            if not self._deliver(record):
                self._lost(1 + self._records.qsize(), "the run ended before the server took them")
                return
        if self._records.qsize():
            self._lost(self._records.qsize(), "the run ended before the server took them")

    def _deliver(self, record: dict) -> bool:
        """Posts `record` until the server takes or refuses it; False when aborted first."""
        wait = _WEBHOOK_RETRY_S[0]
        while True:
            try:
                self.poster.post(record)
            except WebhookRejected as exc:
                self._lost(1, f"the server refused a {record.get('event')} record ({exc})")
                return True
            except OSError as exc:
                if not self._failing:
                    log.warning("webhook: cannot post to %s (%s); retrying", self.poster.name, exc)
                    self._failing = True
                if self._abort.wait(wait):
                    return False
                wait = min(2 * wait, _WEBHOOK_RETRY_S[1])
                continue
            if self._failing:
                log.info("webhook: %s takes records again", self.poster.name)
                self._failing = False
            self.stats.webhook_posted += 1
            return True

    def _lost(self, count: int, why: str) -> None:
        with self._counting:
            self.stats.webhook_lost += count
        log.warning("webhook: %d record(s) not delivered to %s: %s", count, self.poster.name, why)

    def close(self) -> None:
        """Posts what is queued, for up to _WEBHOOK_DRAIN_S; a server that is failing now gets
        one more try, not the whole wait (a folder of videos would wait that long per file)."""
        self._closing.set()
        self._thread.join(_WEBHOOK_DRAIN_S if not self._failing else _WEBHOOK_RETRY_S[0])
        if self._thread.is_alive():
            self._abort.set()
            self._thread.join(_JOIN_S)


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
                 on_frame: Callable[[Stats], None] | None = None, watch: WatchAlerts | None = None) -> Stats:
    """Runs until the source ends, `stop` is set, a signal arrives or the window's q.

    `readers`: one PlateReader per worker thread; `watch`: the watchlist's reports, if any.
    Returns the run's Stats; `stats.error` holds a source failure (everything read so far is
    still written).
    """
    stop = stop or threading.Event()
    stats = Stats()
    live = source.info.live
    frames: queue.Queue = queue.Queue(config.capture.live_queue_size if live else config.capture.file_queue_size)
    # results is unbounded: it never holds more than the jobs in flight.
    link = _WorkerLink(queue.Queue(config.workers.queue_size), queue.Queue(), threading.Event(),
                       config.workers.batch_size)
    grabber = threading.Thread(target=_grab, args=(source, frames, stop, stats), name="grabber", daemon=True)
    workers = [threading.Thread(target=_read_worker, args=(reader, link),
                                name=f"reader-{i}", daemon=True) for i, reader in enumerate(readers)]
    if outputs.video is not None:  # a copy: the caller's Outputs is not changed
        outputs = replace(outputs, video=_BackgroundVideo(outputs.video, stats))
    if outputs.webhook is not None:
        outputs = replace(outputs, webhook=_BackgroundWebhook(outputs.webhook, stats))
    processor = FrameProcessor(config, detector, _QueueChannel(link, live, stop), outputs, overlay, stats, live,
                               watch)
    if outputs.preview is not None and not outputs.preview.started:  # a folder's videos share one
        outputs.preview.started = True
        threading.Thread(target=outputs.preview.serve_forever, name="preview", daemon=True).start()
    with _SignalStop(stop, stats):
        grabber.start()
        for worker in workers:
            worker.start()
        try:
            _main_loop(processor, frames, stop, stats, on_frame)
        finally:
            _shutdown(processor, source, grabber, workers, link, stop)
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
              workers: list[threading.Thread], link: _WorkerLink, stop: threading.Event) -> None:
    """Stops the grabber, drains the reads, writes every open track, closes the sinks."""
    stop.set()
    grabber.join(_JOIN_S)
    try:
        for _ in workers:  # after the queued jobs, so those are still read
            _put_until(link.jobs, _SENTINEL, _DRAIN_S)
        processor.wait_for_reads(None, _DRAIN_S)
        link.abort.set()
        for worker in workers:
            worker.join(_JOIN_S)
        processor.collect_results()
        processor.end_all()
    finally:
        processor.outputs.close()
        if not grabber.is_alive():  # releasing a capture another thread still reads can crash
            source.close()


def _put_until(q: queue.Queue, item: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            q.put(item, timeout=_TICK_S)
            return
        except queue.Full:
            continue
