"""What the main thread does with each frame: detect, track, pick crops, vote, draw, write.

No threads or queues here: crops go out and reads come back through a ReadChannel that
pipeline.py implements with worker threads (and tests can implement inline). The processor
owns the tracker, the read policy, the voter and the sinks, so none of them needs a lock.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from stream_lpr.anonymize import HiddenFrame, PlateHider
from stream_lpr.config import Config
from stream_lpr.motion import MotionGate
from stream_lpr.overlay import HudStats, Overlay
from stream_lpr.plate_format import FieldScores
from stream_lpr.preview import WebPreview
from stream_lpr.readpolicy import ReadPolicy, quad_geometry, still_views
from stream_lpr.recorded_at import parse_timezone
from stream_lpr.records import CropQuality, Frame, ReadJob, ReadResult, Sighting, TrackedPlate
from stream_lpr.rectify import rectify, vehicle_view
from stream_lpr.sinks import (CropSaver, CsvSink, VideoSink, WebhookPoster, Window, alert_record, record_images,
                              sighting_record)
from stream_lpr.tracking import PlateTracker
from stream_lpr.voting import PlateVoter
from stream_lpr.watchlist import Alert, WatchAlerts, match_label

log = logging.getLogger(__name__)

_LATENCY_SAMPLES = 10000
_FPS_SMOOTHING = 0.05  # weight of the newest frame interval in the displayed fps
_STILL_READ_WAIT_S = 30.0  # longest a still image waits for its reads
_POLL_S = 0.1
_SETTLED_READS = 12  # reads of a stable vote before a parked plate is read at settled_reads_per_s: about 2 s


@dataclass
class Stats:
    """Run counters. Each field or stage has one writer: the grabber thread `dropped_frames` and
    the decode/grab times, the video writer thread the encode time, the main thread the rest."""

    frames: int = 0
    dropped_frames: int = 0  # live sources: frames replaced by newer ones before processing
    reads: int = 0
    dropped_reads: int = 0  # crops not read because the read queue was full
    failed_reads: int = 0
    sightings: int = 0
    alerts: int = 0  # watchlist plates reported
    webhook_posted: int = 0  # records the webhook server took (pipeline.py's poster thread)
    webhook_lost: int = 0  # records refused, dropped from a full queue, or left unsent (either thread, under a lock)
    possible_alerts: int = 0  # plates reported as possibly a watched one (Watchlist.likely)
    idle_frames: int = 0  # frames due for detection that were not detected: nothing had moved (MotionGate)
    frame_interval_s: float = 0.0  # smoothed seconds between processed frames
    stage_ms: Counter = field(default_factory=Counter)  # summed milliseconds per stage
    stage_n: Counter = field(default_factory=Counter)
    latency_ms: deque = field(default_factory=lambda: deque(maxlen=_LATENCY_SAMPLES))
    frame_queue: int = 0
    read_queue: int = 0
    max_frame_queue: int = 0
    max_read_queue: int = 0
    stopped_by_user: bool = False
    error: str | None = None

    def add_time(self, stage: str, seconds: float, count: int = 1) -> None:
        self.stage_ms[stage] += seconds * 1000.0
        self.stage_n[stage] += count

    def count_interval(self, seconds: float) -> None:
        """Smooths the interval between processed frames, not the rate: with the detector on
        every 2nd frame the intervals alternate (about 55 ms and 2 ms), and a smoothed rate would
        show about 250 fps where 35 frames a second get through."""
        last = self.frame_interval_s
        self.frame_interval_s = seconds if last == 0 else last + _FPS_SMOOTHING * (seconds - last)

    @property
    def fps(self) -> float:
        """Processed frames per second; 0 before the second frame."""
        return 1.0 / self.frame_interval_s if self.frame_interval_s > 0 else 0.0

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
    webhook: WebhookPoster | None = None  # each sighting and watchlist report as JSON (pipeline.py: from a thread)
    preview: WebPreview | None = None  # the drawn frames for a browser (pipeline.py serves it from a thread)
    preview_shared: bool = False  # the preview serves a folder's videos, one run each: their caller closes it
    on_sighting: Callable[[Sighting], None] | None = None  # each sighting as its row is written (api.py)

    @property
    def publishes(self) -> bool:
        """Sightings and watchlist reports go out as JSON records (sinks.sighting_record)."""
        return self.webhook is not None or self.preview is not None

    @property
    def draws(self) -> bool:
        return any(sink is not None for sink in (self.video, self.window, self.images_dir, self.preview))

    def close(self) -> None:
        for sink in (self.csv, self.video, self.window, self.webhook, None if self.preview_shared else self.preview):
            if sink is not None:
                sink.close()


class ReadChannel(Protocol):
    def submit(self, job: ReadJob) -> bool:
        """Queues a crop; False when it was dropped (queue full) or the run is stopping."""

    def poll(self, wait_s: float) -> list[ReadResult]:
        """Finished reads; waits up to `wait_s` for the first when none is ready."""

    def depth(self) -> int:
        """Crops waiting for a reader."""


class FrameProcessor:
    def __init__(self, config: Config, detector, channel: ReadChannel, outputs: Outputs,
                 overlay: Overlay | None, stats: Stats, live: bool, watch: WatchAlerts | None = None) -> None:
        self.config, self.detector, self.channel = config, detector, channel
        self.outputs, self.overlay, self.stats, self.live = outputs, overlay, stats, live
        self.tracker = PlateTracker(config.tracking)
        self.policy = ReadPolicy(config.read_policy)
        self.voter = PlateVoter(config.voting)
        self.watch = watch
        self.in_flight: Counter[int] = Counter()  # reads queued or running, per track
        self.closing: set[int] = set()  # ended tracks waiting for their reads
        self.parked: set[int] = set()  # those of them whose plate stood still (PlateTracker)
        self._last_frame_at: float | None = None
        self.hider = PlateHider(config.overlay.anonymize_hold_s) if config.overlay.anonymize else None
        self._coasted = 1_000_000  # frames since the last detection: the first frame is detected
        self.gate = _motion_gate(config)
        self.zone = parse_timezone(config.capture.file_timezone)  # of seen_at_local in records

    def _detects(self, frame: Frame) -> bool:
        """Stills always; video every n-th processed frame, unless nothing has moved since the
        last detection (MotionGate). Counted in processed frames, not source frames: a live
        source then shows coasted boxes on the frames that arrive while the detector is busy
        instead of dropping them, so the overlay keeps the camera's pace."""
        if not frame.still and self._coasted < self.config.detection.every_n_frames - 1:
            self._coasted += 1
            return False
        if not frame.still and self.gate is not None and not self.gate.due(frame):
            self.stats.idle_frames += 1  # the next frame is due again: movement is caught at once
            return False
        self._coasted = 0
        return True

    def process(self, frame: Frame) -> bool:
        """Handles one frame; returns True when the user asked to quit (window q)."""
        detected = self._detects(frame)
        if detected:
            start = time.perf_counter()
            found = self.detector.detect(frame.image, still=frame.still)
            detections = found.inside(self.config.detection.roi, frame.image.shape)
            found_at = time.perf_counter()
            self.stats.add_time("detect", found_at - start)
            if self.hider is not None:  # hidden outside the region of interest too
                self.hider.found(frame, found.corners)
            tracked = self._track(frame, detections)
            self.stats.add_time("track", time.perf_counter() - found_at)
            if self.gate is not None and self._untracked(detections, tracked):
                self.gate.stay_awake()
        else:  # drawn where the tracks are heading; nothing read, nothing counted as seen
            tracked = self.tracker.coast(frame.index)
        self.collect_results()
        if frame.still:  # a still image is its own scope: its reads first, then its tracks end
            self.wait_for_reads({p.track_id for p in tracked}, _STILL_READ_WAIT_S)
        watched = self._watched(frame, tracked)
        quit_requested = self._render(frame, tracked, watched, detected)
        if frame.still:
            self.closing.update(p.track_id for p in tracked)
        self.close_finished()
        self._count_frame(frame)
        return quit_requested

    def _watched(self, frame: Frame, tracked: list[TrackedPlate]) -> dict[int, str]:
        """The tracks in view whose stable plate is on the watchlist, or possibly is one of its
        plates (track id -> the entry's note), reporting those due (WatchAlerts.check)."""
        if self.watch is None:
            return {}
        self.watch.reload_if_edited()
        watched = {}
        for plate in tracked:
            verdict = self.voter.verdict(plate.track_id)
            if verdict is None or not verdict.stable:
                continue
            entry, probability = self.watch.watchlist.match(verdict), None
            if entry is None:
                likely = self.watch.possible_in_view(plate.track_id, frame.timestamp_s, self.voter.scores)
                if likely is None:
                    continue
                entry, probability = likely
            watched[plate.track_id] = entry.note if probability is None else f"possibly {entry.note}"
            alert = self.watch.check(frame.source, plate.track_id, verdict, entry, frame.file_time_s, probability)
            best = self.voter.best_read(plate.track_id) if alert is not None else None
            self._report(alert, best.crop if best else None, best.vehicle if best else None)
        return watched

    def _report(self, alert: Alert | None, crop: np.ndarray | None = None, vehicle: np.ndarray | None = None) -> None:
        """Logs, runs the report command for and publishes `alert` (with the plate's best crop
        and the frame around it so far), if any."""
        if alert is None:
            return
        if alert.probability is None:
            self.stats.alerts += 1
            log.warning("watchlist: %s (%s) - track %d, %.1f s into %s", alert.plate, alert.entry.note,
                        alert.track_id, alert.at_s, alert.source)
        else:
            self.stats.possible_alerts += 1
            log.warning("watchlist: possibly %s (%s), read as %s, %.0f %% likely - track %d, %.1f s into %s",
                        alert.entry.display(), alert.entry.note, alert.plate, 100 * alert.probability,
                        alert.track_id, alert.at_s, alert.source)
        self.watch.notify(alert)
        if self.outputs.publishes:
            self._publish(alert_record(alert), crop, vehicle)

    def _track(self, frame: Frame, detections) -> list[TrackedPlate]:
        found = np.asarray(detections.xyxy), np.asarray(detections.confidence), np.asarray(detections.corners)
        if frame.still:
            tracked = self.tracker.still(*found)
        else:
            update = self.tracker.update(*found, frame.timestamp_s, frame.index)
            tracked = update.tracked
            self.closing.update(update.ended)
            self.parked.update(update.parked)
        for plate in tracked:
            self.voter.observe(plate, frame)
            self._maybe_read(plate, frame)
        return tracked

    def _untracked(self, detections, tracked: list[TrackedPlate]) -> bool:
        """A detection confident enough to start a track that no confirmed track has yet."""
        matched = {p.detection_index for p in tracked}
        return any(conf >= self.config.tracking.high_confidence and i not in matched
                   for i, conf in enumerate(np.asarray(detections.confidence)))

    def _maybe_read(self, plate: TrackedPlate, frame: Frame) -> None:
        """Queues a read when the policy says the crop is worth it (stills: always, from several
        corner sets) of a plate in view."""
        if frame.still:
            if not self.policy.in_view(plate.corners, frame.image.shape):
                return
            vehicle = self._vehicle(frame, plate)  # one picture for all the still's corner sets
            for corners in still_views(plate.corners, self.config.read_policy.still_views):
                self._submit(plate, frame, corners, vehicle)
        elif (self.policy.due(plate.track_id, frame.timestamp_s, self._reads_per_s(plate.track_id, frame.timestamp_s))
              and self.policy.geometry_ok(plate.corners, frame.image.shape)):
            self._submit(plate, frame, plate.corners, self._vehicle(frame, plate))

    def _reads_per_s(self, track_id: int, t: float) -> float:
        """read_policy.max_reads_per_s until the track's vote is stable: a car passing the other
        way is in view for well under a second (at 6 reads a second, 3 % of such plates on the
        test clips were logged with a field unread). Then stable_reads_per_s: a plate that moves
        may come closer and read better. A parked plate whose vote has settled, settled_reads_per_s:
        a car park's camera sees dozens of parked cars for hours, and more reads of the same
        view add nothing. Never more than max_reads_per_s."""
        rp = self.config.read_policy
        if self.policy.due(track_id, t, min(rp.settled_reads_per_s, rp.stable_reads_per_s, rp.max_reads_per_s)):
            return rp.max_reads_per_s  # due at any rate: no need to ask how the vote stands
        verdict = self.voter.verdict(track_id)
        if verdict is None or not verdict.stable:
            return rp.max_reads_per_s
        settled = verdict.reads >= _SETTLED_READS and self.tracker.stood_still(track_id)
        return min(rp.settled_reads_per_s if settled else rp.stable_reads_per_s, rp.max_reads_per_s)

    def _vehicle(self, frame: Frame, plate: TrackedPlate) -> np.ndarray | None:
        """The frame around the plate, sent with its reads only when crops are saved or posted
        (the best read's goes with its crop)."""
        wanted = self.outputs.crops is not None or (self.outputs.webhook is not None
                                                     and self.config.output.webhook_images)
        return vehicle_view(frame.image, plate.xyxy) if wanted else None

    def _submit(self, plate: TrackedPlate, frame: Frame, corners: np.ndarray, vehicle: np.ndarray | None) -> None:
        crop = rectify(frame.image, corners)
        quality = self.policy.judge(corners, crop)
        if quality is None:
            if not frame.still:
                return
            width, frontal = quad_geometry(corners)  # a still has one chance: read anyway
            quality = CropQuality(width, 0.0, frontal, 0.1)
        # A still's corner sets already vary the crop (still_views); more shifts of each add nothing.
        views = 1 if frame.still else self.config.read_policy.views
        job = ReadJob(plate.track_id, frame.index, frame.timestamp_s, crop, plate.xyxy, quality, views, vehicle)
        if self.channel.submit(job):
            self.in_flight[job.track_id] += 1
            self.policy.mark_read(plate.track_id, frame.timestamp_s)
            self.stats.max_read_queue = max(self.stats.max_read_queue, self.channel.depth())
        elif self.live:
            self.stats.dropped_reads += 1

    def collect_results(self, wait_s: float = 0.0) -> None:
        """Folds finished reads into the votes."""
        for result in self.channel.poll(wait_s):
            self.in_flight[result.job.track_id] -= 1
            self.stats.add_time("read", result.read_s)
            if result.read is None:
                self.stats.failed_reads += 1
                continue
            self.stats.reads += 1
            self.voter.add(result.job, result.read.scores, result.read.reading)

    def wait_for_reads(self, ids: set[int] | None, timeout_s: float) -> None:
        """Waits until the tracks `ids` (None: all) have no read in flight, or the timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not any(n > 0 and (ids is None or t in ids) for t, n in self.in_flight.items()):
                return
            self.collect_results(wait_s=_POLL_S)

    def close_finished(self, force: bool = False) -> None:
        """Writes the sightings of ended tracks whose reads are all in (or all, if `force`)."""
        for track_id in sorted(self.closing):
            if self.in_flight[track_id] > 0 and not force:
                continue
            self.closing.discard(track_id)
            self.in_flight.pop(track_id, None)
            self.policy.forget(track_id)
            self._write_sighting(track_id)
            if self.watch is not None:
                self.watch.forget(track_id)

    def end_all(self) -> None:
        """End of the run: every open track becomes a sighting now."""
        ended = self.tracker.end_all()
        self.closing.update(ended.ended)
        self.parked.update(ended.parked)
        self.closing.update(self.voter.open_ids)
        self.close_finished(force=True)
        if self.watch is not None:
            self.watch.close()
        if self.hider is not None and self.overlay is not None and self.outputs.draws:
            self._draw_hidden(self.hider.release())  # frames after the last detection

    def _write_sighting(self, track_id: int) -> None:
        # Before close() forgets them; only a watchlist asks for them.
        scores = self.voter.scores(track_id) if self.watch is not None else None
        parked = track_id in self.parked
        self.parked.discard(track_id)
        # A parked plate hidden by passing traffic comes back as a new track up to
        # parked_lost_track_s later; at least merge_within_s either way.
        within_s = max(self.config.voting.merge_within_s, self.config.tracking.parked_lost_track_s) \
            if parked and self.config.voting.merge_within_s > 0 else None
        sighting = self.voter.close(track_id, within_s)
        if sighting is None:
            return
        if self.watch is not None:
            sighting = self._watch_ended(track_id, sighting, scores)
        # A possible match is logged even when its number was too unsure to log: its row and
        # pictures are what a person checks.
        if not (sighting.verdict.readable or sighting.watchlist_match or self.config.output.log_unread):
            return
        if self.outputs.crops is not None:
            crop_path, vehicle_path = self.outputs.crops.save(sighting)
            sighting = replace(sighting, crop_path=crop_path, vehicle_path=vehicle_path)
        if self.outputs.csv is not None:
            self.outputs.csv.write(sighting)
        if self.outputs.publishes:
            self._publish(sighting_record(sighting, self.zone), sighting.best_crop, sighting.best_vehicle)
        if self.outputs.on_sighting is not None:
            self.outputs.on_sighting(sighting)
        self.stats.sightings += 1

    def _publish(self, record: dict, crop: np.ndarray | None = None, vehicle: np.ndarray | None = None) -> None:
        """A sighting or watchlist report, as JSON, to the webhook (with its pictures when
        output.webhook_images asks) and the browser page (which shows the plate's crop)."""
        if self.outputs.webhook is not None:
            images = record_images(crop, vehicle) if self.config.output.webhook_images else {}
            self.outputs.webhook.send({**record, **images})
        if self.outputs.preview is not None:
            self.outputs.preview.add(record, crop)

    def _watch_ended(self, track_id: int, sighting: Sighting, scores: FieldScores | None) -> Sighting:
        """The ended track's sighting marked if its plate is watched, and reported now if its
        vote never settled while in view; failing an exact match, if its votes make a watched
        plate likely enough (WatchAlerts.possible), or made one so while in view."""
        entry, probability = self.watch.watchlist.match(sighting.verdict), None
        if entry is None:
            likely = self.watch.possible(scores) if scores is not None else None
            if likely is None:
                before = self.watch.matched(track_id)
                if before is None:
                    return sighting
                likely = before.entry, before.probability
            entry, probability = likely
        alert = self.watch.check(sighting.source, track_id, sighting.verdict, entry, sighting.last_seen_s, probability)
        self._report(alert, sighting.best_crop, sighting.best_vehicle)
        return replace(sighting, watchlist=entry.note, watchlist_match=match_label(probability))

    def _render(self, frame: Frame, tracked: list[TrackedPlate], watched: dict[int, str], detected: bool) -> bool:
        out = self.outputs
        if self.overlay is None or not out.draws:
            return False
        if self.hider is not None:  # frames between detections come out at the next (PlateHider)
            return self._draw_hidden(self.hider.add(frame, [p.corners for p in tracked], detected))
        start = time.perf_counter()
        plates = [(p, self.voter.verdict(p.track_id)) for p in tracked]
        if not self.config.overlay.show_dismissed:
            plates = [(p, v) for p, v in plates if v is None or not self.voter.dismissed(v)]
        # A still has no frame rate or queues to show: its picture is left clear of the HUD.
        hud = None if frame.still else self._hud(frame)
        scene = self.overlay.draw(frame.image, plates, hud, self.config.detection.roi, watched)
        self.stats.add_time("draw", time.perf_counter() - start)
        return self._emit(frame, scene)

    def _draw_hidden(self, due: list[HiddenFrame]) -> bool:
        """overlay.anonymize: each frame with its plates pixelated, to the outputs."""
        quit_requested = False
        for held in due:
            start = time.perf_counter()
            scene = self.overlay.hide(held.frame.image, held.quads)
            self.stats.add_time("draw", time.perf_counter() - start)
            quit_requested |= self._emit(held.frame, scene)
        return quit_requested

    def _emit(self, frame: Frame, scene: np.ndarray) -> bool:
        """Sends a drawn frame to the outputs; True when the window's user asked to quit."""
        out = self.outputs
        start = time.perf_counter()
        quit_requested = False
        if out.video is not None:
            out.video.write(scene)  # pipeline.py encodes in a writer thread and times "encode"
        if out.images_dir is not None and frame.still:
            _write_image(out.images_dir, frame.source, scene)
        if out.window is not None:
            quit_requested = out.window.show(scene)
        if out.preview is not None:
            out.preview.show(scene)
        self.stats.add_time("output", time.perf_counter() - start)
        return quit_requested

    def _hud(self, frame: Frame) -> HudStats:
        latency = (time.monotonic() - frame.captured_at) * 1000.0 if self.live else None
        return HudStats(self.stats.fps, self.stats.dropped_frames, self.stats.frame_queue,
                        self.channel.depth(), self.stats.dropped_reads, latency, self.stats.sightings,
                        self.stats.alerts if self.watch is not None else None, self.stats.possible_alerts)

    def _count_frame(self, frame: Frame) -> None:
        now = time.monotonic()
        if self._last_frame_at is not None:
            self.stats.count_interval(now - self._last_frame_at)
        self._last_frame_at = now
        self.stats.frames += 1
        self.stats.read_queue = self.channel.depth()
        if self.live:
            self.stats.latency_ms.append((now - frame.captured_at) * 1000.0)


def _motion_gate(config: Config) -> MotionGate | None:
    """detection.idle_every_s, at most half of tracking.lost_track_s so that a parked car's track
    never ends while the detector idles. Off with overlay.anonymize: its frames wait for the next
    detection (PlateHider), which an idle detector would put up to idle_every_s behind."""
    every_s = min(config.detection.idle_every_s, config.tracking.lost_track_s / 2)
    if every_s <= 0 or config.overlay.anonymize:
        return None
    return MotionGate(every_s)


def _write_image(folder: str, source: str, image: np.ndarray) -> None:
    path = Path(folder) / Path(source).name
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
