"""Plates to watch for: a text file of plates, matched against each track's voted plate.

One plate a line, its fields as the CSV's `plate` column writes them, with any of the first
three left out or given as `*`, and an optional note after `#`:

    品川 300 あ 12-34   # stolen, reported 2026-11-02
    あ 12-34            # any region and class number
    12-34               # the designation number alone
    横浜 * れ 1234      # any class number; 1234 is 12-34, 123 is ・123
    品川300あ1234       # without spaces, as plates are often written down

A line names fields from the right (number, then kana, class number and region), because the
number is the one field every entry needs: the part of a plate people remember and write down.
Every field a line gives must equal the field the vote settled on; a field the reader could
not settle matches nothing, so a watched plate is never reported from its number alone when
its entry names more.

A track with no such match is still a possible match when its voted distributions give a
watched plate at least `possible_min` probability (the product of the probabilities of
the fields its line names): a plate misread in one field, or read too unsure to settle it, is
reported for a person to check rather than missed. At the default 0.05, a third of the
synthetic test plates the reader misreads would be caught so; of those it reads right, 7 %
would be reported for a listed plate that differs in the region or kana the reader found
likeliest after the one it read, and 0.3 % for one with a random other region or kana
(benchmarks/bench_watchlist.py). A false report needs a listed plate with the car's own number.
A track is checked for one while in view once its vote has settled on another plate, and again
when it ends: a car waiting at a gate is reported while it waits, not once it has gone.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stream_lpr import plate_format as pf
from stream_lpr.errors import ConfigError
from stream_lpr.records import Verdict

log = logging.getLogger(__name__)

_ANY = "*"
# A plate written without spaces: the number at the end, the kana (one character) before it,
# the class number before that, the region first.
_TOGETHER = re.compile(r"(.*?)(\*|[0-9][0-9ACFHKLMPXY]{0,2})?(\*|[^0-9・-])([0-9・-]+)")
_COMMAND_WAIT_S = 10.0  # longest the end of a run waits for report commands still running
_RELOAD_CHECK_S = 2.0  # how often a running camera looks whether its watchlist file was edited
# How often a track in view is checked for a possible match: a list of 10 000 plates costs about
# 2 ms a check, and a plate's votes change little within a second.
_POSSIBLE_EVERY_S = 1.0
_FIELDS = ("region", "class_number", "kana", "number")


@dataclass(frozen=True)
class WatchEntry:
    """One line of a watchlist; None: any value of that field."""

    region: str | None
    class_number: str | None
    kana: str | None
    number: str  # display form: 12-34, ・123, ・・12, ・・・1
    note: str  # the text after `#`, else the plate as the line gave it

    @property
    def fields(self) -> tuple[str | None, str | None, str | None, str]:
        return self.region, self.class_number, self.kana, self.number

    def display(self) -> str:
        """The plate as the line names it, `*` for any: `* * あ 12-34`."""
        return " ".join(f if f is not None else _ANY for f in self.fields)

    def matches(self, verdict: Verdict) -> bool:
        return all(want is None or getattr(verdict, name) == want for name, want in zip(_FIELDS, self.fields))


class Watchlist:
    def __init__(self, entries: list[WatchEntry], path: Path | None = None, mtime: float = 0.0) -> None:
        self.entries = entries
        self.path, self.mtime = path, mtime  # the file it was read from (None: made in code), its time then
        self._by_number: dict[str, list[WatchEntry]] = {}
        for entry in entries:
            self._by_number.setdefault(entry.number, []).append(entry)
        self._index = pf.FieldIndex.of([entry.fields for entry in entries])

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, verdict: Verdict | None) -> WatchEntry | None:
        """The first entry the verdict's plate matches; None for none, or no number read yet."""
        if verdict is None or verdict.number is None:
            return None
        return next((e for e in self._by_number.get(verdict.number, ()) if e.matches(verdict)), None)

    def likely(self, scores: pf.FieldScores, min_probability: float) -> tuple[WatchEntry, float] | None:
        """The entry the voted distributions make most probable, and its probability, if that
        is at least `min_probability`; else None. All entries at once: a list of 10 000 plates
        costs under 2 ms a track."""
        if not self.entries:
            return None
        probability = np.prod(list(self._index.probabilities(scores).values()), axis=0)
        best = int(np.argmax(probability))
        return (self.entries[best], float(probability[best])) if probability[best] >= min_probability else None


def load_watchlist(path: str | Path) -> Watchlist:
    """Reads a watchlist file; ConfigError naming the file and line for anything it cannot parse."""
    path = Path(path)
    try:
        mtime = path.stat().st_mtime  # before reading: an edit made while it is read is read again later
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"watchlist file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read watchlist {path}: {getattr(exc, 'strerror', None) or exc}") from None
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            entry = parse_entry(line)
        except ValueError as exc:
            raise ConfigError(f"watchlist {path} line {number}: {exc}") from None
        if entry is not None:
            entries.append(entry)
    return Watchlist(entries, path, mtime)


def parse_entry(line: str) -> WatchEntry | None:
    """One watchlist line as an entry; None for a blank or comment line; ValueError if malformed."""
    plate, _, note = line.partition("#")
    tokens = pf.normalize_text(plate).split()
    if not tokens:
        return None
    if len(tokens) == 1 and not pf.NUMBER_PATTERN.match(pf.number_from_text(tokens[0])):
        tokens = _split_written_together(tokens[0])
    if len(tokens) > 4:
        raise ValueError(f"{plate.strip()!r} has {len(tokens)} parts; a plate has at most 4 "
                         "(region, class number, kana, number), separated by spaces")
    *upper, number = tokens
    number = pf.number_from_text(number)
    if not pf.NUMBER_PATTERN.match(number):
        raise ValueError(f"{number!r} is not a designation number (12-34, 1234, ・123, 123, ・・12, ・・・1)")
    # The tokens before the number, right to left: kana, class number, region.
    fields: dict[str, str | None] = {"region": None, "class_number": None, "kana": None}
    for name, token in zip(("kana", "class_number", "region"), reversed(upper)):
        if token != _ANY:
            _check(name, token)
            fields[name] = token
    return WatchEntry(**fields, number=number, note=note.strip() or " ".join(tokens))


def _split_written_together(text: str) -> list[str]:
    """`品川300あ1234` -> [品川, 300, あ, 1234]; the text as it is if it is not so written."""
    match = _TOGETHER.fullmatch(text)
    return [part for part in match.groups() if part] if match else [text]


def _check(name: str, token: str) -> None:
    # Fields count from the right, so a token in the wrong place is named by the place it took.
    if name == "kana" and token not in pf.KANA:
        raise ValueError(f"{token!r}, just before the number, is not a plate kana "
                         f"(a hiragana or one of {pf.LATIN_KANA}) or * for any")
    if name == "class_number" and not pf.CLASS_PATTERN.match(token):
        raise ValueError(f"{token!r}, before the kana, is not a class number (3, 33, 300, 30A) or * for any")
    if name == "region" and token not in pf.REGIONS:
        raise ValueError(f"{token!r}, before the class number, is not a region name on Japanese plates or * for any")


@dataclass(frozen=True)
class Alert:
    """A watched plate seen: logged at once, counted on the HUD."""

    entry: WatchEntry
    plate: str  # the plate as voted, `品川 300 あ 12-34`
    source: str
    track_id: int
    at_s: float  # seconds from the start of the source
    probability: float | None = None  # a possible match's (Watchlist.likely); None: an exact match

    @property
    def match(self) -> str:
        return match_label(self.probability)


def match_label(probability: float | None) -> str:
    """How a plate matched, as the CSV's `watchlist_match` says it: `exact` (probability None),
    or `possible 0.23` (the probability the votes give the listed plate)."""
    return "exact" if probability is None else f"possible {probability:.2f}"


def check_command(command: str) -> list[str]:
    """The report command split into its arguments; ConfigError if its program is not found."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"config key 'watchlist.command' cannot be split into arguments: {exc}") from None
    if not argv or shutil.which(argv[0]) is None:
        raise ConfigError(f"config key 'watchlist.command': program {argv[0] if argv else command!r} not found")
    return argv


class WatchAlerts:
    """When to report a watched plate: once per track (a possible match may be followed by an
    exact one), and not again for the same plate on the same source until it has been out of
    sight (no frame matched it) for `quiet_s`. A plate the
    tracker loses for a moment comes back as a new track; without the quiet time each return
    would be a new alarm. With a `command`, each report also starts it (without a shell, not
    waited for: a slow notifier never holds up the video), the plate in its environment.
    `possible_min`: the least probability of a possible match (0: exact matches only)."""

    def __init__(self, watchlist: Watchlist, quiet_s: float, command: str = "", possible_min: float = 0.0) -> None:
        """ConfigError for a `command` whose program is not found (check_command)."""
        self.watchlist, self.quiet_s, self.possible_min = watchlist, quiet_s, possible_min
        self._argv = check_command(command) if command else None
        self._running: list[subprocess.Popen] = []
        self._checked_at = time.monotonic()
        self._file_time: float | None = watchlist.mtime  # of the file as last read or tried
        self._reported: dict[int, Alert] = {}  # open tracks that matched -> their last match (check())
        self._checked: dict[int, tuple[float, tuple[WatchEntry, float] | None]] = {}  # track -> (when, possible())
        self._last_seen: dict[tuple[str, str], float] = {}  # (source, plate) -> when a frame last matched it

    def possible(self, scores: pf.FieldScores) -> tuple[WatchEntry, float] | None:
        """The watched plate a track with no exact match may be, and its probability."""
        return self.watchlist.likely(scores, self.possible_min) if self.possible_min > 0 else None

    def possible_in_view(self, track_id: int, at_s: float,
                         scores: Callable[[int], pf.FieldScores | None]) -> tuple[WatchEntry, float] | None:
        """possible() for a track in view, from its votes (`scores(track_id)`) at most once a
        second; between checks, the last check's answer."""
        if self.possible_min <= 0:
            return None
        checked = self._checked.get(track_id)
        if checked is None or at_s - checked[0] >= _POSSIBLE_EVERY_S:
            votes = scores(track_id)
            checked = self._checked[track_id] = at_s, self.possible(votes) if votes is not None else None
        return checked[1]

    def matched(self, track_id: int) -> Alert | None:
        """How an open track last matched the list (reported, or kept quiet by `quiet_s`), if it did."""
        return self._reported.get(track_id)

    def check(self, source: str, track_id: int, verdict: Verdict, entry: WatchEntry, at_s: float,
              probability: float | None = None) -> Alert | None:
        """An Alert when the track's plate, which matched `entry` (possibly, with `probability`),
        is due to be reported, else None."""
        plate = verdict.display("?")
        key = (source, plate)
        last = self._last_seen.get(key)
        self._last_seen[key] = at_s
        before = self._reported.get(track_id)
        if before is not None and (before.probability is None or probability is not None):
            return None  # reported already: an exact match after a possible one is news, nothing else is
        alert = Alert(entry, plate, source, track_id, at_s, probability)
        self._reported[track_id] = alert
        if last is not None and at_s - last <= self.quiet_s:
            return None
        return alert

    def reload_if_edited(self) -> None:
        """Reads the watchlist file again if it was changed since it was read (a camera runs for
        days; its list is edited meanwhile). A file that no longer parses keeps the old list."""
        path = self.watchlist.path
        if path is None or time.monotonic() - self._checked_at < _RELOAD_CHECK_S:
            return
        self._checked_at = time.monotonic()
        try:
            file_time = path.stat().st_mtime
        except OSError:
            file_time = None
        if file_time == self._file_time:
            return
        self._file_time = file_time  # each edit is tried, and a failure reported, once
        try:
            if file_time is None:
                raise ConfigError(f"watchlist file not found: {path}")
            watchlist = load_watchlist(path)
        except ConfigError as exc:
            log.error("%s; the watchlist read before is kept", exc)
            return
        self.watchlist = watchlist
        log.info("watchlist reloaded: %d plate(s) from %s", len(watchlist), path)

    def forget(self, track_id: int) -> None:
        """The track has ended."""
        self._reported.pop(track_id, None)
        self._checked.pop(track_id, None)

    def notify(self, alert: Alert) -> None:
        """Starts the report command, if any, for `alert`."""
        self._running = [p for p in self._running if p.poll() is None]  # reaps the finished
        if self._argv is None:
            return
        env = {**os.environ, "STREAM_LPR_PLATE": alert.plate, "STREAM_LPR_NOTE": alert.entry.note,
               "STREAM_LPR_SOURCE": alert.source, "STREAM_LPR_TRACK": str(alert.track_id),
               "STREAM_LPR_SECONDS": f"{alert.at_s:.3f}", "STREAM_LPR_LISTED": alert.entry.display(),
               "STREAM_LPR_MATCH": alert.match.split()[0],
               "STREAM_LPR_PROBABILITY": f"{alert.probability:.3f}" if alert.probability is not None else "1"}
        try:
            self._running.append(subprocess.Popen(self._argv, env=env, stdin=subprocess.DEVNULL))
        except OSError as exc:
            log.error("watchlist.command could not start: %s", exc)

    def close(self) -> None:
        """The run ends: lets the report commands still running finish, for a while."""
        deadline = time.monotonic() + _COMMAND_WAIT_S
        for process in self._running:
            try:
                process.wait(max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                log.warning("watchlist.command still running after the run ended: %s", shlex.join(self._argv))
        self._running = []
