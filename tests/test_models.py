"""The shipped models in weights/, on freshly generated data: they load, they see plates, they
read them, and bad weight files fail with one clear error."""

from pathlib import Path

import numpy as np
import pytest

from stream_lpr import plate_format as pf
from stream_lpr.detection import PlateDetector
from stream_lpr.errors import WeightsError
from stream_lpr.evaluate import box_iou
from stream_lpr.evaluate import read_labels as labels
from stream_lpr.readpolicy import sharpness
from stream_lpr.recognition import VIEW_SHIFTS, PlateReader, shifted
from stream_lpr.synth.compose import DEFAULT_SCENES, compose
from stream_lpr.synth.crops import SampleDraw, reader_sample

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
REFERENCE_JP = DEFAULT_SCENES.parent / "reference_jp"


@pytest.fixture(scope="module", params=["reader.onnx", "reader.int8.onnx", "reader.pt"])
def reader(request):
    return PlateReader(WEIGHTS / request.param)


@pytest.fixture(scope="module", params=["detector.int8.onnx", "detector.onnx"])
def detector(request):
    return PlateDetector(WEIGHTS / request.param)


def test_reader_reads_rendered_plates(reader):
    rng = np.random.default_rng(123)
    samples = [reader_sample(rng, None, smallest=80.0) for _ in range(64)]
    reads = reader.read([s.crop for s in samples])
    right = sum(r.reading.text.key == s.text.key for r, s in zip(reads, samples))
    # A regression guard for the shipped weights (61/64 int8 and float when committed), not the accuracy
    # target: `python -m stream_lpr.evaluate` measures that on 2000 plates.
    assert right >= 55, f"only {right}/64 plates read exactly"
    numbers = sum(r.reading.text.number == s.text.number for r, s in zip(reads, samples))
    assert numbers >= 62, f"only {numbers}/64 designation numbers right"
    for read in reads:
        assert read.scores.region.shape == (138,)
        assert np.isclose(read.scores.number.sum(axis=1), 1.0, atol=1e-4).all()
        assert 0.0 <= read.reading.confidence <= 1.0


@pytest.mark.parametrize("export", ["reader.int8.onnx", "reader.onnx"])
@pytest.mark.parametrize("hidden, bound", [("covered", 0.06), ("masked", 0.06), ("cut", 0.1)])
def test_a_hidden_number_is_not_guessed_with_confidence(export, hidden, bound):
    """With a slice of one side covered (a pole, another car), a privacy mask over all or some
    of the digits (a mosaic, a blur or a patch, as photos published online have) or the plate
    cut by the frame's edge and cropped along it (as the detector draws a cut plate), the hidden
    digits must come out unsure, so that the pipeline writes no row rather than a made-up number.
    Guessed with confidence on these plates: covered, 0.23 by session 12's reader (never trained on
    them); masked, 0.13 by session 14's (never trained on masks); cut, 0.285 by session 16's
    (never trained on cut plates). The shipped one (session 24's), on session 28's widths: 0.03
    covered, 0.015 masked and 0.025 cut (0.02 float): a plate cut between two digits can look whole."""
    from stream_lpr.evaluate import evaluate_reader

    draw = {"covered": SampleDraw(occlude=1.0), "masked": SampleDraw(mask=1.0), "cut": SampleDraw(cut=1.0)}[hidden]
    result = evaluate_reader(WEIGHTS / export, 200, seed=11, draw=draw)[1]
    assert result["number_wrong_but_trusted"] <= bound, result
    assert sum(result["plates_by_width_px"].values()) == 200, result
    if hidden == "covered":
        assert result["number_accuracy"] >= 0.5, result  # digits left in view are still read


def test_reader_confidence_is_low_on_a_blank_crop(reader):
    blank = np.full((64, 128, 3), 127, np.uint8)
    good = reader_sample(np.random.default_rng(5), None, smallest=150.0)
    blank_read, good_read = reader.read([blank, good.crop])
    assert blank_read.reading.confidence < good_read.reading.confidence


def test_detector_finds_plates_with_their_corners(detector):
    rng = np.random.default_rng(321)
    found = total = 0
    errors = []
    for _ in range(12):
        scene = compose(rng, None, size=(1280, 720))
        detections = detector.detect(scene.image)
        for plate in scene.plates:
            width = float(np.linalg.norm(plate.corners[1] - plate.corners[0]))
            x0, y0 = plate.corners.min(0)
            x1, y1 = plate.corners.max(0)
            if width < 60 or x0 < 0 or y0 < 0 or x1 > 1280 or y1 > 720:
                continue
            total += 1
            if len(detections):
                error = np.linalg.norm(detections.corners - plate.corners[None], axis=2).mean(1)
                if error.min() < 0.1 * width:
                    found += 1
                    errors.append(error.min() / width)
    assert total >= 5
    assert found >= 0.8 * total, f"found {found} of {total} plates"
    assert np.mean(errors) < 0.06


def test_a_photo_is_also_seen_at_the_still_size(detector):
    """A real photo of a green commercial plate (1448 x 1086, the plate 139 px wide): at the
    video's 640 px it is a weak detection (0.48 int8, 0.63 float when committed), at the still
    size of 960 a sure one (0.91), and the two passes give one box."""
    import cv2

    image = cv2.imread(str(REFERENCE_JP / "lipla_02.jpg"))
    assert detector.model.input_size(image.shape, 960) == (736, 960)
    label = np.array([[255, 695, 394, 784]], np.float32)  # from the folder's labels.jsonl
    as_video, as_still = detector.detect(image), detector.detect(image, still=True)
    overlap = box_iou(label, as_still.xyxy)[0]
    assert (overlap > 0.3).sum() == 1 and overlap.max() > 0.7
    assert as_still.confidence[overlap.argmax()] >= 0.8
    assert as_still.confidence[overlap.argmax()] > as_video.confidence[box_iou(label, as_video.xyxy)[0].argmax()]


def test_reader_views_average_the_reads_of_shifted_crops():
    rng = np.random.default_rng(9)
    crops = [reader_sample(rng, None).crop for _ in range(4)]
    reader = PlateReader(WEIGHTS / "reader.int8.onnx")
    each_view = [reader.read(list(shifted(np.stack(crops), dx, dy))) for dx, dy in VIEW_SHIFTS[:3]]
    for i, read in enumerate(reader.read(crops, views=3)):
        # Not the plate type: PlateRead.of then adjusts it by the colours of the crop read
        # (grey or pale), and a shifted copy's edge pixels can move that measure a little.
        for field in ("region", "class_number", "kana", "number"):
            mean = np.mean([getattr(view[i].scores, field) for view in each_view], axis=0)
            np.testing.assert_allclose(getattr(read.scores, field), mean, atol=1e-5)


def test_shifted_moves_the_crop_and_repeats_its_edge():
    crops = np.arange(2 * 4 * 6 * 3, dtype=np.uint8).reshape(2, 4, 6, 3)
    moved = shifted(crops, 2, -1)  # 2 px right, 1 px up
    np.testing.assert_array_equal(moved[:, :3, 2:], crops[:, 1:, :4])
    np.testing.assert_array_equal(moved[:, :, :2], moved[:, :, 2:3].repeat(2, axis=2))  # left edge repeated
    np.testing.assert_array_equal(moved[:, 3], moved[:, 2])  # bottom row repeated
    assert shifted(crops, 0, 0) is crops


def test_three_views_read_more_small_plates_than_one():
    """The reason read_policy.views defaults to 3: on 60-80 px plates (most misses) the mean
    of three shifted reads is right more often (178 against 169 of these 256 when committed)."""
    rng = np.random.default_rng(5)
    samples = [reader_sample(rng, None, smallest=60.0, draw=SampleDraw(largest=80.0)) for _ in range(256)]
    reader, right = PlateReader(WEIGHTS / "reader.int8.onnx"), {}
    for views in (1, 3):
        reads = reader.read([s.crop for s in samples], views)
        right[views] = sum(r.reading.text.key == s.text.key for r, s in zip(reads, samples))
    assert right[3] > right[1], right


def test_reader_views_out_of_range_are_refused():
    with pytest.raises(ValueError, match="views must be 1-5"):
        PlateReader(WEIGHTS / "reader.int8.onnx").read([np.zeros((64, 128, 3), np.uint8)], views=0)


def test_reader_onnx_export_gives_the_pt_distributions():
    rng = np.random.default_rng(7)
    crops = [reader_sample(rng, None).crop for _ in range(5)]
    for pt, onnx in zip(PlateReader(WEIGHTS / "reader.pt").read(crops), PlateReader(WEIGHTS / "reader.onnx").read(crops)):
        assert pt.reading.text == onnx.reading.text
        np.testing.assert_allclose(pt.scores.number, onnx.scores.number, atol=1e-4)
        np.testing.assert_allclose(pt.scores.region, onnx.scores.region, atol=1e-4)


def test_detector_evaluation_splits_recall_by_plate_type():
    """evaluate's recall per plate type counts each counted plate once: weighted by the plates
    of each type, it is the overall recall."""
    from stream_lpr.evaluate import evaluate_detector

    report = evaluate_detector(WEIGHTS / "detector.int8.onnx", count=4, seed=5, threshold=0.5)
    for result in report.values():
        by_type = result["recall_by_plate_type"]
        assert set(by_type) <= set(pf.PLATE_TYPES)
        assert sum(t["plates"] for t in by_type.values()) == result["plates"] > 0
        for threshold in ("0.500", "0.725"):
            overall = sum(t[threshold] * t["plates"] for t in by_type.values()) / result["plates"]
            assert overall == pytest.approx(result["precision_recall_by_threshold"][threshold][1], abs=2e-3)


def test_detector_sees_nothing_in_a_plain_frame(detector):
    frame = np.full((720, 1280, 3), 90, np.uint8)
    assert len(detector.detect(frame)) == 0


@pytest.mark.parametrize("loader, name", [(PlateReader, "reader.pt"), (PlateReader, "reader.int8.onnx"),
                                          (PlateDetector, "detector.onnx")])
def test_missing_and_corrupt_weights_raise_weights_error(tmp_path, loader, name):
    with pytest.raises(WeightsError, match="not found"):
        loader(tmp_path / name)
    corrupt = tmp_path / name
    corrupt.write_bytes(b"not a model" * 100)
    with pytest.raises(WeightsError, match="cannot load"):
        loader(corrupt)


@pytest.mark.parametrize("loader, name", [(PlateDetector, "detector.int8.onnx"), (PlateReader, "reader.onnx")])
def test_onnx_model_on_cuda_without_cuda_onnxruntime_points_to_the_pt_file(loader, name):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(WeightsError, match=r"use the \.pt weights"):
        loader(WEIGHTS / name, device="cuda:0")


def test_photos_are_read_end_to_end_through_the_real_pipeline():
    from stream_lpr.evaluate import evaluate_photos

    result = evaluate_photos(WEIGHTS / "detector.int8.onnx", WEIGHTS / "reader.int8.onnx", 12, seed=99)
    # 16 plates >= 60 px, 13 of them readable (the others cut by the frame edge or occluded).
    # When committed (session 29's renderer, session 20's detector): all 16 read exactly, no row
    # on a non-plate or with a wrong number. A guard a plate below that; `python -m
    # stream_lpr.evaluate` gives the 150-photo figure.
    assert result["plates_at_least_60px"] == 16 and result["readable_plates"] == 13
    assert result["exact_match"] >= 15 / 16 and result["number_accuracy"] >= 15 / 16
    assert result["exact_match_readable"] >= 12 / 13 and result["readable_without_a_row"] <= 1
    assert result["rows_on_no_plate"] <= 1 and result["rows_with_a_wrong_number"] <= 1


def test_videos_are_read_end_to_end_through_the_real_pipeline():
    from stream_lpr.evaluate import evaluate_videos

    result = evaluate_videos(WEIGHTS / "detector.int8.onnx", WEIGHTS / "reader.int8.onnx", 3, seed=99, frames=30)
    # 4 sightings (3 driving plates, 1 parked); when committed all 4 got one row, read exactly,
    # with the plate's direction (approaching or receding; the parked one none).
    assert result["sightings"] == 4 and result["driving_sightings"] == 3
    assert result["exact_match"] >= 3 / 4 and result["sightings_without_a_row"] <= 1
    assert result["extra_rows"] == 0 and result["rows_on_no_plate"] == 0 and result["rows_with_a_wrong_number"] == 0
    assert result["direction_right"] >= 3 / 4


def test_video_rows_go_to_the_plate_they_overlap_in_their_frames():
    from stream_lpr.evaluate import _assign_rows
    from stream_lpr.synth.clips import ClipPlate

    text = pf.parse_plate("品川 300 あ 12-34")
    parked = ClipPlate(text, np.tile(np.float32([10, 10, 110, 60]), (5, 1)), moving=False)
    driving = ClipPlate(text, np.float32([[300 + 20 * f, 100, 400 + 20 * f, 150] for f in range(5)]), moving=True)

    def row(box, first, last):
        return dict(zip(("x1", "y1", "x2", "y2"), map(str, box)), first_frame=str(first), last_frame=str(last))

    rows = [row([12, 10, 110, 62], 0, 4), row([380, 100, 480, 150], 3, 4), row([380, 100, 480, 150], 0, 1),
            row([600, 400, 700, 450], 0, 4)]
    assigned, on_nothing = _assign_rows([parked, driving], rows)
    # The third row's box is where the driving plate is only at frame 4, outside its frames 0-1.
    assert assigned == [[rows[0]], [rows[1]]] and on_nothing == 2


def test_real_reference_photos_are_found_and_read():
    from stream_lpr.evaluate import evaluate_real

    result = evaluate_real(WEIGHTS / "detector.int8.onnx", WEIGHTS / "reader.int8.onnx",
                           REFERENCE_JP)["real"]
    # 4 real plates (private, commercial, kei). When committed: all 4 with a row, none on the
    # parking sign or the car badges, all 4 read exactly (readers before session 8 read the kei
    # plate's class 888 as 688; the guard still allows that one miss), every plate type right
    # (the shaded white 鳥取 plate needs decode's road prior for that).
    assert result["plates"] == 4 and result["plates_without_a_row"] == 0 and result["rows_on_no_plate"] == 0
    assert result["exact_match"] >= 3 / 4 and result["number_accuracy"] == 1.0 and result["plate_type_accuracy"] == 1.0
    belief = result["true_field_probability"]
    assert min(belief.values()) >= 0.6, belief


def test_real_photos_shrink_with_their_boxes(tmp_path):
    import cv2

    from stream_lpr.evaluate import scaled_copy

    source = REFERENCE_JP
    out = scaled_copy(source, 0.5, tmp_path)
    for entry, small in zip(labels(source), labels(out), strict=True):
        h, w = cv2.imread(str(source / entry["image"])).shape[:2]
        assert cv2.imread(str(out / small["image"])).shape[:2] == (round(h * 0.5), round(w * 0.5))
        for big, little in zip(entry["plates"], small["plates"], strict=True):
            assert little == {**big, "box": [round(v * 0.5) for v in big["box"]]}


def test_real_close_ups_crop_around_their_plates(tmp_path):
    import cv2

    from stream_lpr.evaluate import close_up_copy

    out = close_up_copy(REFERENCE_JP, 0.7, tmp_path)
    entries = labels(out)
    assert len(entries) == 4
    for entry in entries:
        assert cv2.imread(str(out / entry["image"])).shape[1] == 1280
        x0, y0, x1, y1 = entry["plates"][0]["box"]
        assert (x1 - x0) / 1280 == pytest.approx(0.7, abs=0.01)
        assert abs((x0 + x1) / 2 - 640) <= 0.02 * 1280 and y0 > 0  # centred to a source pixel


def test_real_photos_blurred_keep_their_boxes(tmp_path):
    import cv2

    from stream_lpr.evaluate import blurred_copy

    out = blurred_copy(REFERENCE_JP, tmp_path)
    entries = labels(out)
    assert [e["image"].rsplit("_", 1)[1] for e in entries] == ["defocus.jpg", "motion.jpg"] * 4
    sources = {Path(e["image"]).stem: e for e in labels(REFERENCE_JP)}
    for entry in entries:
        source = sources[entry["image"].rsplit("_", 1)[0]]
        assert entry["plates"] == source["plates"]
        sharp, soft = (cv2.imread(str(folder / e["image"])) for folder, e in ((REFERENCE_JP, source), (out, entry)))
        assert soft.shape == sharp.shape
        assert sharpness(soft) < 0.5 * sharpness(sharp)


def test_real_plates_twins_replace_the_plate_and_keep_its_labels(tmp_path):
    """A twin is a rendered plate of the real plate's text on the real plate's corners; the
    rest of the photo is the photo. The reader reads the twins' numbers (the field the
    renderer draws most like real plates: probability 1.0 on twins and 0.998 on the real
    plates when committed) and writes no row on nothing."""
    import cv2

    from stream_lpr.evaluate import _score_real, _product, twin_copy

    config, found, readers = _product(WEIGHTS / "detector.int8.onnx", WEIGHTS / "reader.int8.onnx")
    out = twin_copy(REFERENCE_JP, found, 2, tmp_path)
    entries = labels(out)
    sources = {Path(e["image"]).stem: e for e in labels(REFERENCE_JP)}
    assert [e["image"].rsplit("_", 1)[1] for e in entries] == ["twin0.jpg", "twin1.jpg"] * 4
    for entry in entries:
        source = sources[entry["image"].rsplit("_", 1)[0]]
        assert entry["plates"] == source["plates"]
        real, twin = (cv2.imread(str(folder / e["image"])).astype(float)
                      for folder, e in ((REFERENCE_JP, source), (out, entry)))
        x0, y0, x1, y1 = source["plates"][0]["box"]
        changed = np.abs(real - twin).mean(axis=2) > 12
        assert changed[y0:y1, x0:x1].mean() > 0.2, "the plate was not replaced"
        assert changed.mean() < 0.05, "more than the plate's surroundings changed"
    result = _score_real(config, found, readers, out)
    assert result["plates"] == 8 and result["rows_on_no_plate"] == 0
    assert result["number_accuracy"] >= 7 / 8 and result["true_field_probability"]["number"] > 0.9
    # The twins' ink is as far from black as the real plates' (0.179 when committed, twins 0.188).
    assert 0.08 < result["plate_tone"] < 0.3


def test_plate_tone_says_how_far_the_ink_sits_from_black():
    """Black strokes on a light face measure near 0, green ones (a private plate's paint) about
    0.2; a veil of scattered light (half the picture mixed with its mean brightness, as
    washed-out dashcam footage looks) lifts the ink toward the face."""
    import cv2

    from stream_lpr.evaluate import plate_tone

    def plate(ink):
        crop = np.full((64, 128, 3), 215, np.uint8)
        cv2.putText(crop, "12-34", (12, 52), cv2.FONT_HERSHEY_SIMPLEX, 1.4, ink, 5)
        return crop

    black, green = plate((17, 17, 17)), plate((30, 60, 30))
    veiled = (0.5 * black + 0.5 * black.mean()).astype(np.uint8)
    assert plate_tone(black) < 0.1
    assert 0.15 < plate_tone(green) < 0.3
    assert plate_tone(veiled) > 0.4
    assert plate_tone(np.full((64, 128), 120, np.uint8)) == 1.0


def test_real_photos_blurred_are_still_read_in_part():
    """Out of focus (sigma 1.6 px on 94-139 px plates) and with 9 px of motion: when committed
    (session 33's reader, as sessions 29-32's) 3 of the 8 read exactly (the defocused 堺 and 大阪,
    the moving 堺), 2 get no row (every field below its threshold), none a row on no plate. A
    guard for what the reader keeps under blur; session 17's reader showed the moving 堺's class
    number as unknown, and the defocused 世田谷's as unknown instead of a wrong 399."""
    from stream_lpr.evaluate import evaluate_real

    result = evaluate_real(WEIGHTS / "detector.int8.onnx", WEIGHTS / "reader.int8.onnx",
                           REFERENCE_JP, scales=(), blurred=True)["real_blurred"]
    assert result["plates"] == 8 and result["rows_on_no_plate"] == 0
    assert result["exact_match"] >= 2 / 8 and result["plates_without_a_row"] <= 2
    # every plate not read exactly is named, with what was read (or that it got no row)
    assert len(result["misses"]) >= round(8 * (1 - result["exact_match"]))
    assert sum(m.endswith("got no row") for m in result["misses"]) == result["plates_without_a_row"]


def test_real_photos_in_grey_are_read_with_their_type_unknown():
    """As an infrared camera at night gives them: the plate type is a matter of colour, so it is
    left unknown (session 34's reader typed the white 世田谷 kei and the yellow 堺 private from
    grey copies), and the text is read as in colour (when committed: all 4 exactly)."""
    from stream_lpr.evaluate import evaluate_real

    result = evaluate_real(WEIGHTS / "detector.int8.onnx", WEIGHTS / "reader.int8.onnx",
                           REFERENCE_JP, scales=(), grey=True)["real_grey"]
    assert result["plates"] == 4 and result["plates_without_a_row"] == 0 and result["rows_on_no_plate"] == 0
    assert result["plate_type_unknown"] == 4 and result["exact_match"] >= 3 / 4


def test_real_photos_turned_turn_their_boxes_with_them(tmp_path):
    import cv2

    from stream_lpr.evaluate import turned_copy

    out = turned_copy(REFERENCE_JP, 45, tmp_path)
    entries = labels(out)
    sources = {Path(e["image"]).stem: e for e in labels(REFERENCE_JP)}
    assert [e["image"].rsplit("_", 1)[1] for e in entries] == ["left.jpg", "right.jpg"] * 4
    for entry in entries:
        source = sources[entry["image"].rsplit("_", 1)[0]]
        (x0, y0, x1, y1), (u0, v0, u1, v1) = source["plates"][0]["box"], entry["plates"][0]["box"]
        assert (u1 - u0) / (x1 - x0) == pytest.approx(np.cos(np.radians(45)), abs=0.02)
        assert (u0 + u1) / 2 == pytest.approx((x0 + x1) / 2, abs=1)
        # The near side is 1 + sin(45)/4 times as tall as the plate was: the box grows that much.
        assert (v1 - v0) / (y1 - y0) == pytest.approx(1 + np.sin(np.radians(45)) / 4, abs=0.03)
        assert {k: v for k, v in entry["plates"][0].items() if k != "box"} == \
            {k: v for k, v in source["plates"][0].items() if k != "box"}
        assert cv2.imread(str(out / entry["image"])).shape == cv2.imread(str(REFERENCE_JP / source["image"])).shape


@pytest.mark.parametrize("degrees, read", [(30, 8), (45, 8), (55, 6)])
def test_real_plates_turned_far_to_the_side_are_still_read(degrees, read):
    """Each reference photo warped so its plate is seen 30, 45 or 55 degrees from either side (8
    plates): when committed `read` of them read exactly (at 45 degrees 5 of 8 before the corner
    refiner, the class number going first; at 55, 5 before its second look). A guard a plate
    below that, and no row on anything else."""
    from stream_lpr.evaluate import evaluate_real

    result = evaluate_real(WEIGHTS / "detector.int8.onnx", WEIGHTS / "reader.int8.onnx",
                           REFERENCE_JP, scales=(), turned=(float(degrees),))[f"real_turned_{degrees}"]
    assert result["plates"] == 8 and result["rows_on_no_plate"] == 0
    assert result["exact_match"] >= (read - 1) / 8 and result["plates_without_a_row"] <= 8 - read + 1


def _turned_reference(name: str, box: tuple[int, int, int, int], degrees: float, border: int):
    """The reference photo `name` turned `degrees` about its centre, and the box around its
    plate's labelled `box` (x0, y0, x1, y1) turned with it."""
    import cv2

    image = cv2.imread(str(REFERENCE_JP / name))
    h, w = image.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    x0, y0, x1, y1 = box
    corners = cv2.transform(np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]).reshape(-1, 1, 2), turn).reshape(4, 2)
    label = np.concatenate([corners.min(0), corners.max(0)])[None]
    return cv2.warpAffine(image, turn, (w, h), borderMode=border), label


def test_a_photo_taken_askew_is_also_seen_turned(detector):
    """A real photo turned 40 degrees in its plane (the 世田谷 plate, 94 px wide): the detector,
    which finds most plates within about 30 degrees of level (session 37's; session 20's lost
    this one at 22, session 35's at 26), does not find it (no box on it when committed); the
    passes turned 20 degrees each way (detection.still_turn) do (0.84 int8), its box carried
    back onto the plate."""
    import copy

    import cv2

    x0, y0, x1, y1 = 603, 581, 697, 637  # from the folder's labels.jsonl
    askew, label = _turned_reference("lipla_00.jpg", (x0, y0, x1, y1), -40, cv2.BORDER_REFLECT)
    image = cv2.imread(str(REFERENCE_JP / "lipla_00.jpg"))

    def plate_confidence(found) -> float:
        overlap = box_iou(label, found.xyxy)[0]
        return float(found.confidence[overlap.argmax()]) if len(overlap) and overlap.max() > 0.7 else 0.0

    turned = copy.copy(detector)
    turned.still_turn = 20.0
    assert plate_confidence(detector.detect(askew, still=True)) < 0.5
    assert plate_confidence(turned.detect(askew, still=True)) >= 0.7
    # A level photo loses nothing to the turned passes.
    level = np.array([[x0, y0, x1, y1]], np.float32)
    found = turned.detect(image, still=True)
    assert box_iou(level, found.xyxy)[0].max() > 0.7


@pytest.mark.parametrize("name, box, degrees", [("lipla_00.jpg", (603, 581, 697, 637), 30),
                                                 ("lipla_02.jpg", (255, 695, 394, 784), -18)])
def test_a_video_frame_turned_in_its_plane_still_shows_its_plate(detector, name, box, degrees):
    """Video frames get no turned passes: the detector itself has to know plates turned this
    much. Session 37's, trained in three rounds on tiles turned up to 20 and 30 degrees, holds
    the white 世田谷 plate turned 30 degrees counter-clockwise at 0.69 and the green 大阪 plate,
    already seen from the side, turned 18 degrees clockwise at 0.69 in one 640 pass (int8, when
    committed). Session 36's found neither at 0.5 (0.38 and 0.31; tracking.high_confidence: no
    track starts)."""
    import cv2

    frame, label = _turned_reference(name, box, degrees, cv2.BORDER_REPLICATE)
    found = detector.detect(frame)
    overlap = box_iou(label, found.xyxy)[0] if len(found) else np.zeros(1)
    assert overlap.max() > 0.5 and found.confidence[overlap.argmax()] >= 0.5


def test_still_pass_is_half_a_large_photo(detector):
    assert detector.still_pass_size(1448) == 960  # the still size
    assert detector.still_pass_size(4032) == 2016  # a 12 MP phone photo: half
    assert detector.still_pass_size(8064) == detector.STILL_MAX_SIZE
    assert detector.still_pass_size(500) == 500  # never enlarged


def test_real_plates_in_large_photos_are_found_and_read(tmp_path):
    """The reference photos pasted into held-out scenes twice as wide (2896 px): found and read
    as in the photos themselves, and no row on the scenes' own (foreign) plates. When committed,
    a second pass at 960 instead of half the photo left one plate without a row."""
    from stream_lpr.evaluate import evaluate_real, large_copy

    entries = labels(large_copy(REFERENCE_JP, 2.0, tmp_path))
    assert [e["plates"][0]["box"][2] - e["plates"][0]["box"][0] for e in entries] == [94, 97, 139, 131]
    result = evaluate_real(WEIGHTS / "detector.int8.onnx", WEIGHTS / "reader.int8.onnx",
                           REFERENCE_JP, scales=(), large=(2.0,))["real_in_2x"]
    assert result["plates"] == 4 and result["plates_without_a_row"] == 0 and result["rows_on_no_plate"] == 0
    assert result["exact_match"] >= 3 / 4 and result["number_accuracy"] == 1.0


def test_real_plates_photographed_up_close_are_found_and_read():
    """Each real plate filling 0.7 of a photo's width: at 640 px alone the detector finds none
    of the four when committed (it was trained on plates up to 500 px of a 1280 px frame); the
    close-up pass finds all four, and all are read exactly."""
    from stream_lpr.evaluate import evaluate_real

    result = evaluate_real(WEIGHTS / "detector.int8.onnx", WEIGHTS / "reader.int8.onnx",
                           REFERENCE_JP, scales=(), close_ups=(0.7,))["real_close_up_0.7"]
    assert result["plates"] == 4 and result["plates_without_a_row"] == 0 and result["rows_on_no_plate"] == 0
    assert result["exact_match"] >= 3 / 4 and result["number_accuracy"] == 1.0


@pytest.mark.parametrize("a, b, expected", [
    ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
    ((0, 0, 10, 10), (5, 0, 15, 10), 1 / 3),
    ((0, 0, 10, 10), (20, 20, 30, 30), 0.0),
])
def test_box_iou(a, b, expected):
    assert box_iou(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected)
