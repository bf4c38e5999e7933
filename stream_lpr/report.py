"""A sightings CSV as one HTML page to look through: each vehicle's plate, the picture of the
car and of its plate, when and where in which video it was seen.

    python -m stream_lpr.report sightings.csv [more.csv ...] [--out report.html]
                                [--find "あ 12-34"] [--watchlist watch.txt] [--title TEXT]

A spreadsheet shows the rows but not the pictures `--save-crops` saved beside them; after a
dashcam's card is read, this page is how a person finds the car that matters. The pictures are
embedded (JPEG, the car's shrunk to 480 px wide), so the page is one file that can be mailed or
kept. `--find` and `--watchlist` keep the rows whose plate a watchlist line names (the same
lines `--watchlist` takes: `あ 12-34`, `12-34`, `品川 * あ 12-34`). Rows are in the order they
were seen, across several CSVs (a dated CSV's days, `logs/*.csv`).
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
from tqdm import tqdm

from stream_lpr.capture import IMAGE_SUFFIXES
from stream_lpr.errors import ConfigError, StreamLprError
from stream_lpr.watchlist import WatchEntry, load_watchlist, parse_entry

log = logging.getLogger("stream_lpr.report")

_VEHICLE_WIDTH = 480  # px: enough to tell the car, small enough for a page of a thousand rows
_NEEDED = ("source", "first_seen_s", "plate", "region", "class_number", "kana", "number", "plate_type",
           "confidence", "seen_at_utc", "seen_at_local", "crop_path", "vehicle_path", "direction", "watchlist")
_FIELDS = ("region", "class_number", "kana", "number")


@dataclass(frozen=True)
class Row:
    """One CSV row, and the file it came from (picture paths may be relative to its folder)."""

    values: dict[str, str]
    csv_path: Path

    def matches(self, entry: WatchEntry) -> bool:
        return entry.matches(SimpleNamespace(**{name: self.values[name] or None for name in _FIELDS}))


def read_rows(paths: Iterable[Path]) -> list[Row]:
    """Every row of the CSVs, in the order seen (seen_at_utc); StreamLprError for a file that is
    missing or is not a stream_lpr sightings CSV."""
    rows = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", newline="") as f:
                reader = csv.DictReader(f, restval="")  # a row cut short by a killed run: its last cells empty
                missing = [name for name in _NEEDED if name not in (reader.fieldnames or [])]
                if missing:
                    raise StreamLprError(f"{path} is not a stream_lpr sightings CSV (no column {missing[0]!r})")
                rows += [Row(values, path) for values in reader]
        except FileNotFoundError:
            raise StreamLprError(f"CSV not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise StreamLprError(f"cannot read CSV {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return sorted(rows, key=lambda row: row.values["seen_at_utc"])


def picture(row: Row, column: str, width: int | None = None) -> str:
    """The row's picture as a data: URL (shrunk to `width` px), "" when it was not saved or is gone."""
    name = row.values.get(column, "")
    if not name:
        return ""
    path = Path(name)
    if not path.is_file() and not path.is_absolute():  # a run started in the CSV's folder
        path = row.csv_path.parent / name
    data = path.read_bytes() if path.is_file() else b""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        return ""
    if width is not None and image.shape[1] > width:
        image = cv2.resize(image, (width, round(image.shape[0] * width / image.shape[1])), interpolation=cv2.INTER_AREA)
        data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
td, th { border-bottom: 1px solid #ddd; padding: 6px 10px; text-align: left; vertical-align: middle; }
.plate { font-size: 1.6em; white-space: nowrap; }
.watched { background: #fde8e8; }
.watched .note { color: #c00; font-weight: bold; }
.small { color: #666; font-size: 0.85em; }
img.crop { height: 48px; }
"""


def _cell_row(row: Row) -> str:
    v = row.values
    crop, car = picture(row, "crop_path"), picture(row, "vehicle_path", _VEHICLE_WIDTH)
    where = Path(v["source"]).name
    if Path(where).suffix.lower() not in IMAGE_SUFFIXES:  # a video or a camera: how far into it
        where += f", {float(v['first_seen_s'] or 0):.1f} s in"
    note = v["watchlist"] + (f" ({v['watchlist_match']})" if v.get("watchlist_match") else "")
    cells = [
        html.escape(v["seen_at_local"][:19]),
        f'<span class="plate">{html.escape(v["plate"] or "(unread)")}</span>'
        f'<br><span class="small">{html.escape(v["plate_type"])}, confidence {html.escape(v["confidence"])}'
        + (f", {html.escape(v['direction'])}" if v["direction"] else "") + "</span>",
        f'<img class="crop" src="{crop}" alt="plate">' if crop else "",
        f'<img src="{car}" alt="vehicle">' if car else '<span class="small">no picture (--save-crops)</span>',
        f'{html.escape(where)}' + (f'<br><span class="note">{html.escape(note)}</span>' if note else ""),
    ]
    watched = ' class="watched"' if v["watchlist"] else ""
    return f"<tr{watched}>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>\n"


def write_report(rows: list[Row], out: Path, title: str, wanted: str = "") -> None:
    plates = {row.values["plate"] for row in rows if row.values["number"]}
    span = f"{rows[0].values['seen_at_local'][:19]} to {rows[-1].values['seen_at_local'][:19]}" if rows else ""
    watched = sum(bool(row.values["watchlist"]) for row in rows)
    head = (f"<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n"
            f"<p>{len(rows)} sightings of {len(plates)} plates{', ' + html.escape(wanted) if wanted else ''}"
            f"{'; ' + html.escape(span) if span else ''}"
            f"{f'; {watched} on the watchlist' if watched else ''}</p>\n"
            "<table>\n<tr><th>seen</th><th>plate</th><th></th><th>vehicle</th><th>where</th></tr>\n")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", encoding="utf-8") as f:
            f.write(head)
            for row in tqdm(rows, desc="report", unit="row", disable=len(rows) < 200, file=sys.stderr):
                f.write(_cell_row(row))
            f.write("</table>\n</body></html>\n")
    except OSError as exc:
        raise StreamLprError(f"cannot write report {out}: {exc.strerror or exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stream_lpr.report",
                                     description="Sightings CSVs as one HTML page, each with the pictures of its car "
                                                 "and plate (--save-crops), in the order seen.")
    parser.add_argument("csv", nargs="+", type=Path, help="sightings CSV(s) written by --csv")
    parser.add_argument("--out", type=Path, help="the HTML file (default: the first CSV's name with .html)")
    parser.add_argument("--find", action="append", default=[], metavar="PLATE",
                        help="keep rows whose plate this watchlist line names (`あ 12-34`, `12-34`); repeatable")
    parser.add_argument("--watchlist", type=Path, help="keep rows whose plate a line of this watchlist file names")
    parser.add_argument("--title", default="", help="the page's title (default: the CSVs' names)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="stream-lpr: %(levelname)s: %(message)s")
    try:
        entries = [_find_entry(line) for line in args.find]
        if args.watchlist is not None:
            entries += load_watchlist(args.watchlist).entries
        rows = read_rows(args.csv)
        if entries:
            rows = [row for row in rows if any(row.matches(entry) for entry in entries)]
        out = args.out or args.csv[0].with_suffix(".html")
        title = args.title or "stream_lpr sightings: " + ", ".join(path.name for path in args.csv)
        write_report(rows, out, title, ", ".join(entry.display() for entry in entries))
    except StreamLprError as exc:
        print(f"stream-lpr: error: {exc}", file=sys.stderr)
        return exc.exit_code
    log.info("%d sightings -> %s", len(rows), out)
    return 0


def _find_entry(line: str) -> WatchEntry:
    try:
        entry = parse_entry(line)
    except ValueError as exc:
        raise ConfigError(f"--find {line!r}: {exc}") from None
    if entry is None:
        raise ConfigError("--find needs a plate, such as `あ 12-34` or `12-34`")
    return entry


if __name__ == "__main__":
    sys.exit(main())
