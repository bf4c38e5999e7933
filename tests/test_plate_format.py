"""The plate grammar: tables of legal and illegal plates, and decoding under the grammar."""

import numpy as np
import pytest

from helpers import peaked_scores

from stream_lpr import plate_format as pf


def test_vocabularies_match_the_spec():
    assert len(pf.REGIONS) == 138 and len(set(pf.REGIONS)) == 138
    assert len(pf.KANA) == 50 and not set("おしへん") & set(pf.KANA)
    assert {len(r) for r in pf.REGIONS} == {1, 2, 3, 4}
    assert {"いわき", "とちぎ", "なにわ", "つくば", "尾張小牧", "伊勢志摩", "柏", "堺"} <= set(pf.REGIONS)


@pytest.mark.parametrize("text", [
    "品川 300 あ 12-34", "堺 5 わ ・・・1", "尾張小牧 3AA さ ・123", "いわき 50 よ ・・12",
    "袖ケ浦 30C K 99-99", "飛驒 8 ゆ 10-00",
])
def test_legal_plates_parse(text):
    plate = pf.parse_plate(text)
    assert pf.validate(plate) is None


@pytest.mark.parametrize("text, problem", [
    ("東京 300 あ 12-34", "region"),
    ("品川 A00 あ 12-34", "class"),
    ("品川 3A あ 12-34", "class"),
    ("品川 3000 あ 12-34", "class"),
    ("品川 300 お 12-34", "kana"),
    ("品川 300 あ 02-34", "number"),
    ("品川 300 あ ・012", "number"),
    ("品川 300 あ", "expected"),
])
def test_illegal_plates_are_rejected(text, problem):
    with pytest.raises(ValueError, match=problem):
        pf.parse_plate(text)


@pytest.mark.parametrize("value, display", [(1234, "12-34"), (123, "・123"), (12, "・・12"), (1, "・・・1"), (1000, "10-00")])
def test_number_display_round_trips(value, display):
    assert pf.number_display(value) == display
    assert pf.number_value(display) == value


def test_normalize_folds_width_dashes_and_aliases():
    assert pf.parse_plate("品川　３００　あ　１２－３４") == pf.parse_plate("品川 300 あ 12-34")
    assert pf.parse_plate("袖ケ浦 300 あ 1234").region == "袖ヶ浦"
    assert pf.parse_plate("品川 300 あ 123").number == "・123"


@pytest.mark.parametrize("text", ["品川 300 あ 12-34", "堺 5 わ ・・・1", "なにわ 3XY れ ・・12", "札幌 40 A ・907"])
def test_decode_recovers_encoded_plates(text):
    plate = pf.parse_plate(text, "kei")
    reading = pf.decode(peaked_scores(plate))
    assert reading.text == plate
    assert 0.5 < reading.confidence <= 0.9


def test_decode_applies_the_grammar():
    plate = pf.parse_plate("品川 300 あ 12-34", "private")
    scores = peaked_scores(plate)
    # The reader slightly prefers a letter first and a leading zero: both are illegal.
    scores.class_number[0, pf.CLASS_CHARS.index("A")] = 0.95
    scores.number[0, pf.NUMBER_CHARS.index("0")] = 0.95
    reading = pf.decode(scores)
    assert reading.text.class_number[0].isdigit()
    assert reading.text.number[0] != "0"
    # A dot after a digit is illegal: the number stays in one legal shape.
    scores = peaked_scores(pf.parse_plate("品川 300 あ ・123", "private"))
    scores.number[2, 0] = 0.99
    assert pf.NUMBER_PATTERN.match(pf.decode(scores).text.number)


def test_key_ignores_display_form():
    a = pf.PlateText("品川", "300", "あ", "・123")
    b = pf.PlateText("品川", "300", "あ", "・123", "private")
    assert a.key == b.key == "品川|300|あ|123"


@pytest.mark.parametrize("private, graphic, expected", [
    (0.48, 0.52, "private"),  # a shaded white plate the reader finds half "graphic"
    (0.05, 0.93, "graphic"),  # a clear picture plate
])
def test_decode_weighs_plate_types_by_how_common_they_are_on_the_road(private, graphic, expected):
    scores = peaked_scores(pf.parse_plate("鳥取 999 あ 67-89", "private"))
    rest = (1 - private - graphic) / 3
    scores = pf.FieldScores(scores.region, scores.class_number, scores.kana, scores.number,
                            np.array([private, rest, rest, rest, graphic], np.float32))
    reading = pf.decode(scores)
    assert reading.text.plate_type == expected and 0.5 < reading.type_conf <= 1.0
    assert abs(sum(pf.TRAINING_TYPE_SHARE) - 1) < 1e-9 and abs(sum(pf.ROAD_TYPE_SHARE) - 1) < 1e-9
