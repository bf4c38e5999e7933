"""The main-thread frame processor, frame by frame, with a synchronous read channel."""

from datetime import datetime, timezone

import numpy as np

from fakes import PALETTE, PLATE_A, ColourDetector, ColourReader, draw_frame
from stream_lpr.config import load_config
from stream_lpr.processor import FrameProcessor, Outputs, Stats
from stream_lpr.records import Frame, ReadResult


class HeldChannel:
    """Reads at once but hands results back only when released (a slow worker)."""

    def __init__(self):
        self.reader, self.held, self.released = ColourReader(PALETTE), [], []

    def submit(self, job):
        self.held.append(ReadResult(job, self.reader.read([job.crop])[0]))
        return True

    def release(self):
        self.released += self.held
        self.held = []

    def poll(self, wait_s):
        out, self.released = self.released, []
        return out

    def depth(self):
        return len(self.held)


class ListSink:
    def __init__(self):
        self.rows = []

    def write(self, sighting):
        self.rows.append(sighting)

    def close(self):
        pass


def frame(index, with_plate=True):
    boxes = [((0, 200, 0), (40 + index, 40, 140 + index, 90))] if with_plate else []
    return Frame(draw_frame((320, 240), boxes), index, index / 30, 0.0, datetime.now(timezone.utc), "v.mp4")


def processor(channel, **overrides):
    config = load_config(None, {"tracking.lost_track_s": 0.1, **overrides})
    sink = ListSink()
    return FrameProcessor(config, ColourDetector(), channel, Outputs(csv=sink), None, Stats(), live=False), sink


def test_track_waits_for_its_reads_before_its_row_is_written():
    channel = HeldChannel()
    proc, sink = processor(channel)
    for i in range(10):
        proc.process(frame(i))
    for i in range(10, 20):  # plate gone: the track ends after 0.1 s
        proc.process(frame(i, with_plate=False))
    assert proc.closing and sink.rows == []  # ended, but its reads are still out
    channel.release()
    proc.process(frame(20, with_plate=False))
    assert [s.verdict.text for s in sink.rows] == [PLATE_A]
    assert (sink.rows[0].first_frame, sink.rows[0].last_frame) == (1, 9)


def test_reads_are_rate_capped_in_media_time():
    channel = HeldChannel()
    proc, _ = processor(channel, **{"read_policy.max_reads_per_s": 10})
    for i in range(31):  # one second of video
        proc.process(frame(i))
    assert len(channel.held) == 10  # frames 1, 4, 7, ... (every 3rd at 30 fps)


def test_end_all_forces_every_open_track_out():
    channel = HeldChannel()
    proc, sink = processor(channel)
    for i in range(5):
        proc.process(frame(i))
    proc.end_all()  # reads still held: the row is written with what is known (nothing)
    assert sink.rows == []  # unread tracks are not logged by default
    proc2, sink2 = processor(HeldChannel(), **{"output.log_unread": True})
    for i in range(5):
        proc2.process(frame(i))
    proc2.end_all()
    assert len(sink2.rows) == 1 and not sink2.rows[0].verdict.readable
    assert np.allclose(sink2.rows[0].xyxy, [44, 40, 145, 91])
