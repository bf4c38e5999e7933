"""The watchlist: its file format, what matches, and when a watched plate is reported."""

import os

import numpy as np
import pytest

from stream_lpr import plate_format as pf
from stream_lpr.errors import ConfigError
from stream_lpr.records import Verdict
from stream_lpr.watchlist import WatchAlerts, Watchlist, load_watchlist, parse_entry


def verdict(region="品川", class_number="300", kana="あ", number="12-34", stable=True):
    return Verdict(None, region, class_number, kana, number, "private", 0.9, 5, stable)


@pytest.mark.parametrize("line, fields, note", [
    ("品川 300 あ 12-34  # stolen", ("品川", "300", "あ", "12-34"), "stolen"),
    ("あ 12-34", (None, None, "あ", "12-34"), "あ 12-34"),
    ("12-34", (None, None, None, "12-34"), "12-34"),
    ("横浜 * れ 1234 # any class", ("横浜", None, "れ", "12-34"), "any class"),
    ("* 330 る 987", (None, "330", "る", "・987"), "* 330 る 987"),
    ("12", (None, None, None, "・・12"), "12"),
    ("・・・1", (None, None, None, "・・・1"), "・・・1"),
    ("品川　３００　あ　１２－３４", ("品川", "300", "あ", "12-34"), "品川 300 あ 12-34"),  # full-width, as typed in Japanese
    ("袖ケ浦 5 A 56-78", ("袖ヶ浦", "5", "A", "56-78"), "袖ヶ浦 5 A 56-78"),
    # Written without spaces, as plates often are:
    ("品川300あ1234 # as noted", ("品川", "300", "あ", "12-34"), "as noted"),
    ("とちぎ30AA・123", ("とちぎ", "30A", "A", "・123"), "とちぎ 30A A ・123"),
    ("横浜*れ5678", ("横浜", None, "れ", "56-78"), "横浜 * れ 5678"),
    ("あ1234", (None, None, "あ", "12-34"), "あ 1234"),
])
def test_entries_name_fields_from_the_right(line, fields, note):
    entry = parse_entry(line)
    assert (entry.region, entry.class_number, entry.kana, entry.number) == fields
    assert entry.note == note


@pytest.mark.parametrize("line", ["", "   ", "# a comment", "  # indented comment"])
def test_blank_and_comment_lines_are_no_entry(line):
    assert parse_entry(line) is None


@pytest.mark.parametrize("line, fragment", [
    ("300 12-34", "'300', just before the number, is not a plate kana"),
    ("品川 あ あ 12-34", "'あ', before the kana, is not a class number"),
    ("東京 300 あ 12-34", "'東京', before the class number, is not a region"),
    ("品川 300 あ 01-23", "is not a designation number"),
    ("12345", "is not a designation number"),
    ("300 あ 12 34", "'12', just before the number"),
    ("x 品川 300 あ 12-34", "has 5 parts"),
    ("品川300あ12345", "'12345' is not a designation number"),
])
def test_malformed_entries_say_what_is_wrong(line, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_entry(line)


def test_a_file_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "watch.txt"
    path.write_text("# plates\n品川 300 あ 12-34\n\nなにわ 580 さ 12-345\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"watch.txt line 4: '12-345' is not a designation number"):
        load_watchlist(path)
    with pytest.raises(ConfigError, match="watchlist file not found"):
        load_watchlist(tmp_path / "absent.txt")


def test_a_file_with_a_byte_order_mark_loads(tmp_path):
    path = tmp_path / "watch.txt"
    path.write_bytes("品川 300 あ 12-34 # from Excel\r\n".encode("utf-8-sig"))
    assert [e.note for e in load_watchlist(path).entries] == ["from Excel"]


def test_every_field_an_entry_gives_must_be_the_voted_one():
    watchlist = Watchlist([parse_entry(line) for line in ("品川 300 あ 12-34 # full", "さ ・・12 # kana and number")])
    assert watchlist.match(verdict()).note == "full"
    assert watchlist.match(verdict(region="横浜")) is None
    # A field the vote could not settle matches nothing: no report from the number alone.
    assert watchlist.match(verdict(region=None)) is None
    assert watchlist.match(verdict(region=None, class_number=None, kana="さ", number="・・12")).note == "kana and number"
    assert watchlist.match(verdict(number=None)) is None and watchlist.match(None) is None


def report(alerts, source, track_id, v, at_s):
    """What the frame processor does with a track's verdict: match it, then ask whether it is due."""
    entry = alerts.watchlist.match(v)
    return alerts.check(source, track_id, v, entry, at_s) if entry is not None else None


def test_a_watched_plate_is_reported_once_per_track_and_again_after_it_was_gone():
    alerts = WatchAlerts(Watchlist([parse_entry("12-34 # stolen")]), quiet_s=60.0)
    first = report(alerts, "cam", 1, verdict(), 10.0)
    assert first is not None and first.plate == "品川 300 あ 12-34" and first.entry.note == "stolen"
    assert report(alerts, "cam", 1, verdict(), 11.0) is None  # the same track
    alerts.forget(1)
    assert report(alerts, "cam", 2, verdict(), 12.5) is None  # lost for a moment and found again
    alerts.forget(2)
    assert report(alerts, "cam", 3, verdict(), 80.0) is not None  # out of sight for over a minute
    assert report(alerts, "other.mp4", 4, verdict(), 12.5) is not None  # another source
    assert report(alerts, "cam", 5, verdict(number="56-78"), 90.0) is None  # not on the list


def test_an_edited_watchlist_is_read_again_and_a_broken_edit_keeps_the_last(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("stream_lpr.watchlist._RELOAD_CHECK_S", 0.0)
    path = tmp_path / "watch.txt"
    path.write_text("56-78 # old\n", encoding="utf-8")
    alerts = WatchAlerts(load_watchlist(path), quiet_s=60.0)

    def edit(text, at):
        path.write_text(text, encoding="utf-8")
        os.utime(path, (at, at))  # file times can be coarse: make each edit's time differ
        alerts.reload_if_edited()

    assert report(alerts, "cam", 1, verdict(), 1.0) is None
    edit("12-34 # added\n", 1_000_000)
    assert report(alerts, "cam", 1, verdict(), 2.0).entry.note == "added"
    edit("12-345\n", 1_000_100)
    edit("12-345\n", 1_000_100)  # no new edit: not tried or reported again
    path.unlink()
    alerts.reload_if_edited()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2 and "line 1" in errors[0] and "not found" in errors[1]
    assert [e.note for e in alerts.watchlist.entries] == ["added"]


def voted(plate="品川 300 あ 12-34", kana_doubt=("い", 0.3)):
    """Distributions that read `plate` at 0.95 a character, but for its kana, which they give
    `kana_doubt[0]` with probability `kana_doubt[1]`."""
    def dist(size, index, p=0.95):
        d = np.full(size, (1 - p) / (size - 1))
        d[index] = p
        return d

    index = pf.encode(pf.parse_plate(plate, "private"))
    kana = dist(len(pf.KANA), index["kana"], 1 - kana_doubt[1] - 0.01)
    kana[pf.KANA.index(kana_doubt[0])] = kana_doubt[1]
    return pf.FieldScores(dist(len(pf.REGIONS), index["region"]),
                          np.stack([dist(len(pf.CLASS_CHARS), i) for i in index["class_number"]]), kana,
                          np.stack([dist(len(pf.NUMBER_CHARS), i) for i in index["number"]]),
                          dist(len(pf.PLATE_TYPES), index["plate_type"]))


def test_a_possible_match_is_the_watched_plate_the_votes_make_likeliest():
    watchlist = Watchlist([parse_entry(line) for line in (
        "品川 300 い 12-34 # whole plate", "い 12-34 # kana and number", "品川 300 う 12-34 # other kana",
        "品川 300 い 12-35 # other number")])
    entry, p = watchlist.likely(voted(), 0.1)
    # The fewer fields a line names, the fewer probabilities multiply: 0.3 x 0.95^4 (the number's slots).
    assert entry.note == "kana and number" and p == pytest.approx(0.3 * 0.95 ** 4)
    assert watchlist.likely(voted(), 0.3) is None
    assert Watchlist([parse_entry("品川 300 い 12-34")]).likely(voted(), 0.1)[1] == pytest.approx(0.3 * 0.95 ** 8)
    # A digit off too: that slot's 0.05 left over shared among the other 10 characters.
    assert Watchlist([parse_entry("品川 300 い 12-35")]).likely(voted(), 1e-6)[1] == pytest.approx(0.3 * 0.95 ** 7 * 0.005)
    assert Watchlist([]).likely(voted(), 0.0) is None
    alerts = WatchAlerts(watchlist, quiet_s=60.0, possible_min=0.0)  # 0: exact matches only
    assert alerts.possible(voted()) is None
    alerts = WatchAlerts(watchlist, quiet_s=60.0, possible_min=0.1)
    entry, p = alerts.possible(voted())
    alert = alerts.check("cam", 1, verdict(kana="あ"), entry, 3.0, p)
    assert alert.match == "possible 0.24" and entry.display() == "* * い 12-34"
    assert alerts.check("cam", 1, verdict(kana="あ"), entry, 3.5, p) is None  # once per track
    assert alerts.matched(1) == alert
    # The same track read right later: an exact match is news after a possible one, once.
    exact = report(alerts, "cam", 1, verdict(kana="い"), 4.0)
    assert exact is not None and exact.match == "exact" and report(alerts, "cam", 1, verdict(kana="い"), 4.5) is None


def test_a_track_in_view_is_checked_for_a_possible_match_at_most_once_a_second():
    alerts = WatchAlerts(Watchlist([parse_entry("い 12-34 # kana and number")]), quiet_s=60.0, possible_min=0.1)
    asked = []

    def scores(track_id):
        asked.append(track_id)
        return voted()

    entry, p = alerts.possible_in_view(1, 10.0, scores)
    assert entry.note == "kana and number" and p == pytest.approx(0.3 * 0.95 ** 4)
    assert alerts.possible_in_view(1, 10.9, scores) == (entry, p) and asked == [1]  # the last answer
    alerts.possible_in_view(1, 11.0, scores)
    alerts.possible_in_view(2, 11.0, scores)
    assert asked == [1, 1, 2]
    alerts.forget(1)
    alerts.possible_in_view(1, 11.1, scores)
    assert asked == [1, 1, 2, 1]
    assert WatchAlerts(alerts.watchlist, quiet_s=60.0).possible_in_view(1, 0.0, scores) is None  # exact only
