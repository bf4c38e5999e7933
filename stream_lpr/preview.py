"""The drawn frames in a browser (--serve), for a camera on a machine with no display.

`/` is a page showing `/stream.mjpg`, an MJPEG stream of the frames as drawn (at most
_STREAM_FPS a second), and under it the newest sightings, each with its best plate crop
(`/crops/<n>.jpg`), and watchlist reports, from `/sightings.json` (the webhook's records, newest
first); `/snapshot.jpg` is the newest frame.
The main thread only hands each
drawn frame over (`show`); a frame is JPEG-encoded once, by the first client thread that wants
it, and only while someone watches. pipeline.py runs `serve_forever` in its own thread;
http.server serves each client in a thread of its own.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

from stream_lpr.errors import ConfigError, StreamLprError

log = logging.getLogger(__name__)

_STREAM_FPS = 15.0  # a browser needs no more, and each frame sent is a JPEG encoded
_JPEG_QUALITY = 80
_WAIT_S = 1.0  # how long a client thread waits for a new frame before checking for the end
_FIRST_FRAME_S = 10.0  # how long /snapshot.jpg waits for the first frame
_ADDRESS = re.compile(r"(?:(?P<host>\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.\-]+):)?(?P<port>\d{1,5})")
_RECENT = 100  # sightings and reports kept for the page
_PAGE = """<!doctype html><meta charset="utf-8"><title>stream_lpr</title>
<style>body{margin:0;background:#111;color:#ddd;font:14px sans-serif}img{display:block;max-width:100%;
max-height:80vh;margin:auto}table{margin:8px auto;border-collapse:collapse}td,th{padding:2px 10px}
tr.watchlist{background:#a00;color:#fff}</style>
<img src="/stream.mjpg"><table><thead><tr><th></th><th>seen (UTC)</th><th>plate</th><th>type</th><th>confidence</th>
<th>direction</th><th>watchlist</th></tr></thead><tbody id="rows"></tbody></table>
<script>
function cell(text){const td=document.createElement("td");td.textContent=text??"";return td}
function crop(src){const td=document.createElement("td");if(src){const img=document.createElement("img");
  img.src=src;img.height=32;td.append(img)}return td}
async function update(){
  try{const records=await (await fetch("/sightings.json")).json();const rows=document.getElementById("rows");
    rows.replaceChildren(...records.map(r=>{const tr=document.createElement("tr");tr.className=r.event;
      const watched=r.event=="watchlist"?`${r.match} ${r.listed} (${r.note})`:r.watchlist;tr.append(crop(r.crop));
      [r.seen_at_local??`${r.seconds} s`,r.plate,r.plate_type,r.confidence,r.direction,watched].forEach(v=>tr.append(cell(v)));
      return tr}))}catch(e){}}
update();setInterval(update,2000);
</script>""".encode("utf-8")


def parse_address(address: str) -> tuple[str, int]:
    """`8080` (this machine only), `0.0.0.0:8080` (every interface) or `host:port`."""
    match = _ADDRESS.fullmatch(address.strip())
    if not match or int(match["port"]) > 65535:  # 0: any free port (tests)
        raise ConfigError(f"config key 'output.serve' must be PORT or HOST:PORT (8080, 0.0.0.0:8080), got {address!r}")
    return (match["host"] or "127.0.0.1").strip("[]"), int(match["port"])


class WebPreview:
    """Serves the frames given to `show`; binds its address at once (StreamLprError if taken).
    `listed`: False lists no sightings (overlay.anonymize: the page shows no plate at all)."""

    def __init__(self, address: str, listed: bool = True) -> None:
        host, port = parse_address(address)
        handler = type("Handler", (_Handler,), {"preview": self})
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise StreamLprError(f"cannot serve the preview on {host}:{port}: {exc.strerror or exc}") from None
        self._server.daemon_threads = True
        self.address = f"http://{host}:{self._server.server_port}/"
        self._new_frame = threading.Condition()
        self._frame: tuple[int, np.ndarray] | None = None  # (its number, the drawn frame)
        self._jpeg: tuple[int, bytes] | None = None  # the newest frame encoded, once
        self._encoding = threading.Lock()
        self._serving = threading.Event()
        self._recent: deque[tuple[dict, bytes | None]] = deque(maxlen=_RECENT)  # (record, its crop as JPEG)
        self._recent_lock = threading.Lock()
        self._added = 0
        self.listed = listed
        self.closed = False
        self.started = False  # its server thread is running (pipeline.py starts it once, for the first run it serves)

    def add(self, record: dict, crop: np.ndarray | None = None) -> None:
        """A sighting (with its best plate crop) or watchlist report for the page
        (sinks.sighting_record, alert_record). The crop, 128 x 64, is encoded here: 0.1 ms."""
        if not self.listed:
            return
        jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() if crop is not None else None
        with self._recent_lock:
            self._added += 1
            self._recent.appendleft(({**record, "crop": f"/crops/{self._added}.jpg" if jpeg else None}, jpeg))

    def recent(self) -> bytes:
        """The newest records first, as JSON."""
        with self._recent_lock:
            return json.dumps([record for record, _ in self._recent], ensure_ascii=False).encode("utf-8")

    def crop(self, path: str) -> bytes | None:
        """The JPEG a record's `crop` names, while the record is among the newest."""
        with self._recent_lock:
            return next((jpeg for record, jpeg in self._recent if record["crop"] == path), None)

    def show(self, image: np.ndarray) -> bool:
        """Hands over a drawn frame (never changed after). Never asks to quit: a browser cannot."""
        with self._new_frame:
            self._frame = ((self._frame[0] + 1) if self._frame else 1, image)
            self._new_frame.notify_all()
        return False

    def serve_forever(self) -> None:
        log.info("preview: open %s in a browser", self.address)
        self._serving.set()
        self._server.serve_forever(poll_interval=0.2)

    def jpeg_after(self, seen: int, wait_s: float = _WAIT_S) -> tuple[int, bytes] | None:
        """The newest frame as a JPEG once there is one newer than frame `seen`; None if none
        came within `wait_s` or the run ended."""
        with self._new_frame:
            self._new_frame.wait_for(lambda: self.closed or (self._frame is not None and self._frame[0] > seen),
                                     wait_s)
            if self.closed or self._frame is None or self._frame[0] <= seen:
                return None
            number, image = self._frame
        with self._encoding:
            if self._jpeg is None or self._jpeg[0] != number:
                data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])[1]
                self._jpeg = (number, data.tobytes())
            return self._jpeg

    def close(self) -> None:
        with self._new_frame:
            self.closed = True
            self._new_frame.notify_all()
        if self._serving.is_set():  # shutdown() waits for serve_forever, forever if it never ran
            self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    preview: WebPreview

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?")[0]
        try:
            if path == "/":
                self._send(200, "text/html; charset=utf-8", _PAGE)
            elif path == "/snapshot.jpg":
                frame = self.preview.jpeg_after(0, _FIRST_FRAME_S)
                if frame is None:
                    self._send(503, "text/plain", b"no frame yet")
                else:
                    self._send(200, "image/jpeg", frame[1])
            elif path == "/sightings.json":
                self._send(200, "application/json; charset=utf-8", self.preview.recent())
            elif path.startswith("/crops/") and (jpeg := self.preview.crop(path)) is not None:
                self._send(200, "image/jpeg", jpeg)
            elif path == "/stream.mjpg":
                self._stream()
            else:
                self._send(404, "text/plain", b"not found")
        except (BrokenPipeError, ConnectionResetError):  # the browser went away
            pass

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        seen, next_at = 0, 0.0
        while not self.preview.closed:
            frame = self.preview.jpeg_after(seen)
            if frame is None:
                continue
            seen, data = frame
            self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(data))
            self.wfile.write(data + b"\r\n")
            next_at = max(next_at + 1.0 / _STREAM_FPS, time.monotonic())
            time.sleep(max(0.0, next_at - time.monotonic()))

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        log.debug("preview: %s", format % args)
