"""Voter tables: which reads give which verdict."""

import dataclasses
from datetime import datetime, timezone

import cv2
import numpy as np
import pytest

from helpers import PLATE_A, PLATE_B, peaked_scores
from stream_lpr import plate_format as pf
from stream_lpr.config import VotingConfig
from stream_lpr.recognition import PlateRead
from stream_lpr.records import CropQuality, Frame, ReadJob, TrackedPlate
from stream_lpr.rectify import rectify
from stream_lpr.synth.compose import DEFAULT_SCENES
from stream_lpr.voting import PlateVoter

QUALITY = CropQuality(100.0, 100.0, 1.0, 1.0)
BOX = np.array([10, 20, 110, 70], np.float32)


IMAGE = np.zeros((720, 1280, 3), np.uint8)


def frame(index, t=None):
    return Frame(IMAGE, index, index / 30 if t is None else t, 0.0,
                 datetime(2025, 1, 1, tzinfo=timezone.utc), "video.mp4")


def plate(track_id=1):
    corners = np.array([[10, 20], [110, 20], [110, 70], [10, 70]], np.float32)
    return TrackedPlate(track_id, BOX, corners, 0.9, 0)


def job(track_id=1, quality=QUALITY, index=0):
    return ReadJob(track_id, index, index / 30, np.zeros((64, 128, 3), np.uint8), BOX, quality)


def feed(voter, reads, track_id=1):
    """reads: a list of FieldScores; one observed frame per read."""
    for i, scores in enumerate(reads):
        voter.observe(plate(track_id), frame(i))
        voter.add(job(track_id, index=i), scores, pf.decode(scores))


def blurred(plate_text, p, field, wrong_index):
    """Peaked scores for `plate_text` but with field `field` pointing at `wrong_index`."""
    scores = peaked_scores(plate_text, p)
    dist = np.array(getattr(scores, field))
    if dist.ndim == 1:
        dist[:] = (1 - p) / (len(dist) - 1)
        dist[wrong_index] = p
    kwargs = {name: getattr(scores, name) for name in ("region", "class_number", "kana", "number", "plate_type")}
    kwargs[field] = dist
    return pf.FieldScores(**kwargs)


CONFIG = VotingConfig(min_reads=3, min_margin=0.3, field_min_confidence=0.5)
WRONG_REGION = pf.REGIONS.index("品川") + 1


@pytest.mark.parametrize("reads, text, stable", [
    ([], None, False),
    ([peaked_scores(PLATE_A)], str(PLATE_A), False),  # right, but one read is not enough
    ([peaked_scores(PLATE_A)] * 3, str(PLATE_A), True),
    ([peaked_scores(PLATE_A, 0.5)] * 5, None, False),  # every read unsure: the number stays unknown
    # one confidently wrong region among three right reads: still the right plate, and stable
    ([peaked_scores(PLATE_A)] * 3 + [blurred(PLATE_A, 0.99, "region", WRONG_REGION)], str(PLATE_A), True),
    # two against two: no margin
    ([peaked_scores(PLATE_A)] * 2 + [blurred(PLATE_A, 0.9, "region", WRONG_REGION)] * 2, None, False),
])
def test_verdict_table(reads, text, stable):
    voter = PlateVoter(CONFIG)
    voter.observe(plate(), frame(0))
    feed(voter, reads)
    verdict = voter.verdict(1)
    assert (str(verdict.text) if verdict.text else None) == text
    assert verdict.stable is stable
    assert verdict.reads == len(reads)


def test_partial_result_number_known_region_not():
    voter = PlateVoter(CONFIG)
    flat_region = peaked_scores(PLATE_A)
    region = np.full(len(pf.REGIONS), 1 / len(pf.REGIONS), np.float32)
    flat_region = pf.FieldScores(region, flat_region.class_number, flat_region.kana,
                                 flat_region.number, flat_region.plate_type)
    feed(voter, [flat_region] * 4)
    verdict = voter.verdict(1)
    assert verdict.region is None and verdict.text is None and not verdict.stable
    assert verdict.number == "12-34" and verdict.kana == "あ" and verdict.readable
    assert verdict.display() == "? 300 あ 12-34"
    # Every field keeps its probability, the unknown region's too (flat: 1 in 138); the plate's
    # confidence is the least of the known ones.
    confidence = verdict.field_confidence
    assert set(confidence) == {"region", "class_number", "kana", "number", "plate_type"}
    assert confidence["region"] == pytest.approx(1 / len(pf.REGIONS), rel=1e-3)
    assert verdict.confidence == min(confidence[f] for f in ("class_number", "kana", "number"))


def test_confident_reads_outweigh_unsure_ones():
    voter = PlateVoter(CONFIG)
    unsure_wrong = blurred(PLATE_A, 0.35, "region", WRONG_REGION)
    feed(voter, [peaked_scores(PLATE_A, 0.95)] * 2 + [unsure_wrong] * 3)
    assert voter.verdict(1).region == "品川"


COLOUR_CROP = np.full((64, 128, 3), (40, 200, 220), np.uint8)  # a yellow ground
COLOUR_CROP[20:44, 30:100] = 20  # and black ink
GREY_CROP = COLOUR_CROP.copy()
GREY_CROP[..., 0] = GREY_CROP[..., 2] = GREY_CROP[..., 1] + 3  # the tint a video decoder leaves


@pytest.mark.parametrize("crops, plate_type", [
    ([GREY_CROP] * 3, pf.UNKNOWN_TYPE),  # an infrared camera: read, but no colour to type by
    ([GREY_CROP, COLOUR_CROP, GREY_CROP], "kei"),  # the one read in colour decides
    ([COLOUR_CROP] * 3, "kei"),
])
def test_grey_reads_cast_no_vote_for_the_plate_type(crops, plate_type):
    kei = dataclasses.replace(PLATE_A, plate_type="kei")
    voter = PlateVoter(CONFIG)
    for i, crop in enumerate(crops):
        read = PlateRead.of(peaked_scores(kei), crop)
        assert (read.reading.text.plate_type == pf.UNKNOWN_TYPE) == (crop is GREY_CROP)
        voter.observe(plate(), frame(i))
        voter.add(job(index=i), read.scores, read.reading)
    verdict = voter.verdict(1)
    assert verdict.plate_type == plate_type
    assert str(verdict.text) == str(PLATE_A) and verdict.stable


def test_better_crops_weigh_more():
    voter = PlateVoter(CONFIG)
    voter.observe(plate(), frame(0))
    good, poor = CropQuality(200, 300, 1.0, 1.0), CropQuality(40, 20, 0.6, 0.1)
    wrong = blurred(PLATE_A, 0.9, "region", WRONG_REGION)
    voter.add(job(quality=good), peaked_scores(PLATE_A), pf.decode(peaked_scores(PLATE_A)))
    for _ in range(3):
        voter.add(job(quality=poor), wrong, pf.decode(wrong))
    assert voter.verdict(1).region == "品川"


def test_close_returns_the_sighting_span_and_forgets_the_track():
    voter = PlateVoter(CONFIG)
    for i in range(5, 20):
        voter.observe(plate(), frame(i))
    voter.add(job(index=7), peaked_scores(PLATE_A), pf.decode(peaked_scores(PLATE_A)))
    sighting = voter.close(1)
    assert (sighting.first_frame, sighting.last_frame) == (5, 19)
    assert sighting.first_seen_s == pytest.approx(5 / 30) and sighting.last_seen_s == pytest.approx(19 / 30)
    assert sighting.verdict.text == PLATE_A and sighting.verdict.plate_type == "private"
    np.testing.assert_array_equal(sighting.xyxy, BOX)
    assert voter.close(1) is None and voter.open_ids == []


def test_reads_of_closed_or_unknown_tracks_are_ignored():
    voter = PlateVoter(CONFIG)
    voter.add(job(track_id=9), peaked_scores(PLATE_A), pf.decode(peaked_scores(PLATE_A)))
    assert voter.verdict(9) is None


def test_tracks_vote_separately():
    voter = PlateVoter(CONFIG)
    feed(voter, [peaked_scores(PLATE_A)] * 3, track_id=1)
    feed(voter, [peaked_scores(PLATE_B)] * 3, track_id=2)
    assert voter.verdict(1).text == PLATE_A and voter.verdict(2).text == PLATE_B
    assert voter.verdict(2).plate_type == "kei"


def test_unread_track_closes_as_unreadable():
    voter = PlateVoter(CONFIG)
    voter.observe(plate(), frame(0))
    sighting = voter.close(1)
    assert not sighting.verdict.readable and sighting.verdict.reads == 0


def test_the_number_needs_more_confidence_than_the_other_fields():
    config = VotingConfig(min_reads=3, min_margin=0.3, field_min_confidence=0.3, number_min_confidence=0.5)
    unsure = peaked_scores(PLATE_A, 0.4)
    voter = PlateVoter(config)
    feed(voter, [unsure] * 3)
    verdict = voter.verdict(1)
    assert verdict.region == "品川" and verdict.kana == "あ"  # 0.4 shows a region or a kana...
    assert verdict.number is None and not verdict.readable  # ...but does not log a plate
    sure_number = pf.FieldScores(unsure.region, unsure.class_number, unsure.kana,
                                 peaked_scores(PLATE_A, 0.95).number, unsure.plate_type)
    voter = PlateVoter(config)
    feed(voter, [sure_number] * 3)
    # the class number's three characters at 0.4 each multiply to 0.06: unknown
    assert voter.verdict(1).display() == "品川 ? あ 12-34" and voter.verdict(1).readable


def test_a_number_alone_is_not_a_plate():
    """A price sign read as `・200` with nothing else of a plate on it gets no row by default."""
    sure, flat = peaked_scores(PLATE_A, 0.95), lambda d: np.full_like(d, 1.0 / d.shape[-1])
    noise = pf.FieldScores(flat(sure.region), flat(sure.class_number), flat(sure.kana), sure.number, sure.plate_type)
    voter = PlateVoter(CONFIG)
    feed(voter, [noise] * 3)
    assert voter.verdict(1).display() == "? ? ? ?" and not voter.verdict(1).readable
    voter = PlateVoter(dataclasses.replace(CONFIG, min_known_fields=1))
    feed(voter, [noise] * 3)
    assert voter.verdict(1).display() == "? ? ? 12-34" and voter.verdict(1).readable


def seen(voter, track_id, frames, scores, box=BOX, still=False):
    """The track seen in `frames` at `box`, read once in each."""
    corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]], np.float32)
    for i in frames:
        voter.observe(TrackedPlate(track_id, box, corners, 0.9, 0), dataclasses.replace(frame(i), still=still))
        voter.add(job(track_id, index=i), scores, pf.decode(scores))


MOVED = BOX + np.float32([150, 60, 150, 60])  # 1.6 plate widths from BOX


@pytest.mark.parametrize("boxes, direction", [
    ([[100, 100, 200, 150]] * 2, ""),  # parked, or a still image
    ([[100, 100, 200, 150], [180, 110, 280, 160]], ""),  # under a plate width: a car followed
    ([[100, 100, 200, 150], [300, 120, 400, 170]], "right"),
    ([[300, 100, 400, 150], [100, 100, 200, 150]], "left"),
    ([[100, 100, 200, 150], [110, 300, 210, 350]], "down"),
    ([[100, 300, 200, 350], [120, 100, 220, 150]], "up"),
    ([[100, 100, 200, 150], [90, 80, 230, 150]], "approaching"),  # 1.4 times as wide
    ([[100, 100, 240, 170], [300, 100, 400, 150]], "receding"),  # it moved right too, but shrank
    # leaving the frame: the edge cuts its box, which would look like a receding plate
    ([[900, 100, 1000, 150], [1150, 100, 1250, 150], [1230, 100, 1279, 150]], "right"),
    ([[600, 500, 700, 550], [580, 560, 740, 640], [560, 650, 760, 719]], "approaching"),
])
def test_a_sighting_says_which_way_its_plate_went(boxes, direction):
    voter = PlateVoter(CONFIG)
    corners = np.zeros((4, 2), np.float32)
    for i, box in enumerate(boxes):
        voter.observe(TrackedPlate(1, np.array(box, np.float32), corners, 0.9, 0), frame(i))
        voter.add(job(index=i), peaked_scores(PLATE_A), pf.decode(peaked_scores(PLATE_A)))
    assert voter.close(1).direction == direction


def test_a_plate_lost_for_a_moment_gets_one_row():
    """The tracker lost the plate after frame 5 and found it again as a new track at frame 20: the
    first track's votes (one read with the region wrong) go to the second, which writes the row."""
    voter = PlateVoter(CONFIG)
    seen(voter, 1, [4, 5], blurred(PLATE_A, 0.9, "region", WRONG_REGION))
    seen(voter, 2, range(20, 26), peaked_scores(PLATE_A), box=MOVED)
    assert voter.close(1) is None and voter.open_ids == [2]
    sighting = voter.close(2)
    assert (sighting.first_frame, sighting.last_frame, sighting.verdict.reads) == (4, 25, 8)
    assert sighting.verdict.text == PLATE_A and sighting.first_seen_s == pytest.approx(4 / 30)
    assert sighting.direction == "right"  # from where the first track began to where the second ended


@pytest.mark.parametrize("case", ["other number", "far away", "too late", "began before", "still images", "merging off"])
def test_a_track_is_merged_only_into_one_that_carries_it_on(case):
    config = dataclasses.replace(CONFIG, merge_within_s=0.0) if case == "merging off" else CONFIG
    voter = PlateVoter(config)
    # A still image is one frame (time 0): all its plates are seen, and read, in that frame.
    still = case == "still images"
    seen(voter, 1, [0, 0] if still else [4, 5], peaked_scores(PLATE_A), still=still)
    later = {"too late": range(40, 46), "began before": range(5, 11), "still images": [0] * 6}.get(case, range(20, 26))
    box = BOX + np.float32([450, 0, 450, 0]) if case == "far away" else MOVED
    seen(voter, 2, later, peaked_scores(PLATE_B if case == "other number" else PLATE_A), box=box, still=still)
    first = voter.close(1)
    assert first is not None and first.verdict.reads == 2 and voter.verdict(2).reads == len(later)


PALE_CROP = np.full((64, 128, 3), (200, 205, 200), np.uint8)  # a white ground in shade
PALE_CROP[20:44, 30:100] = (157, 165, 157)  # and its green characters, as pale


def real_white_plate_in_shade():
    """The real 世田谷 plate (reference_jp/lipla_00.jpg), cut along its labelled box."""
    x0, y0, x1, y1 = 603, 581, 697, 637
    image = cv2.imread(str(DEFAULT_SCENES.parent / "reference_jp" / "lipla_00.jpg"))
    return rectify(image, np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))


@pytest.mark.parametrize("crop, plate_type", [
    (COLOUR_CROP, "kei"),
    (PALE_CROP, "private"),  # no yellow ground varies its colours this little
    (real_white_plate_in_shade(), "private"),
])
def test_a_pale_crop_is_never_typed_kei(crop, plate_type):
    # The reader's distribution as a fine-tuned reader gave it for the real 世田谷 plate: kei first.
    scores = dataclasses.replace(peaked_scores(PLATE_A), plate_type=np.array([0.3, 0.6, 0.04, 0.03, 0.03]))
    read = PlateRead.of(scores, crop)
    assert read.reading.text.plate_type == plate_type
    assert read.scores.plate_type.sum() == pytest.approx(1.0)  # what the voter adds up
