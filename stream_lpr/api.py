"""stream_lpr from Python: the pipeline the command line runs, on a program's own pictures and
sources.

    from stream_lpr.api import Recognizer

    lpr = Recognizer()                            # config.yaml's models and settings
    for s in lpr.read_image(frame):               # a BGR array as OpenCV gives it, or a path
        print(s.verdict.display(), s.verdict.confidence, s.xyxy)
    sightings = lpr.run("drive.mp4")              # one per vehicle, as the CSV's rows
    sightings = lpr.run("DCIM/Movie/")            # a dashcam's card, drive by drive (drive.py)
    lpr.run("rtsp://cam/stream", on_sighting=print, stop=stop_event)  # a camera, until stop is set

The models load once, in the constructor; each call is a run of the pipeline of its own (its
threads start and end with it). Settings come as the command line takes them: a config file
and dotted overrides (`{"detection.roi": [...], "output.csv": "s.csv"}`), so a run also writes
whatever outputs they name (CSV, video, crops, webhook, browser page). Errors are
stream_lpr.errors.StreamLprError's, with the command line's one-line messages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from stream_lpr.capture import ArrayImageSource, FrameSource, open_source, videos_in
from stream_lpr.cli import (DEFAULT_CONFIG, build_watch, check_outputs, load_models, process_source, process_videos,
                            resolve_config_path)
from stream_lpr.config import load_config
from stream_lpr.errors import SourceError
from stream_lpr.records import Sighting


class Recognizer:
    def __init__(self, config: str | Path | None = DEFAULT_CONFIG, overrides: dict[str, Any] | None = None) -> None:
        """`config`: a YAML settings file (the default config.yaml, else the built-in defaults),
        None for the built-in defaults; `overrides`: dotted keys as `--set` takes them."""
        config_path = resolve_config_path(str(config)) if config is not None else None
        self.config = load_config(config_path, overrides or {})
        self._detector, self._readers = load_models(self.config, config_path)
        self._watch = build_watch(self.config)
        if self.config.output.show:
            from stream_lpr.sinks import check_display

            check_display()

    def read_image(self, image: np.ndarray | str | Path) -> list[Sighting]:
        """The plates read in one image (a path, or an array as OpenCV reads one; a folder's
        path: in each of its images), a Sighting each, with `verdict` (the fields and their
        confidences) and `xyxy` (its box)."""
        if isinstance(image, np.ndarray):
            source: FrameSource = ArrayImageSource(image)
        else:
            source = open_source(str(image), self.config.capture)
            if not source.info.still:
                source.close()
                raise SourceError(f"not an image: {image} (Recognizer.run reads videos and cameras)")
        sightings: list[Sighting] = []
        self._run(source, sightings.append, None)
        return sightings

    def run(self, source: str | Path | int, on_sighting: Callable[[Sighting], None] | None = None,
            stop: threading.Event | None = None) -> list[Sighting]:
        """Every sighting of a source as `--source` takes it (a video file, a folder of videos
        such as a dashcam's card, a webcam index, an rtsp:// or http:// URL, an image or a
        folder of images), in the order their rows are written. `on_sighting` gets each as it
        is written (from the calling thread); a camera runs until `stop` is set or, in the main
        thread, Ctrl+C. A folder's videos that cannot be read raise StreamLprError once the
        others are read (`on_sighting` has had their sightings)."""
        sightings: list[Sighting] = []

        def written(sighting: Sighting) -> None:
            sightings.append(sighting)
            if on_sighting is not None:
                on_sighting(sighting)

        folder = Path(str(source))
        videos = videos_in(folder) if folder.is_dir() else []
        if videos:
            check_outputs(self.config)
            process_videos(self.config, folder, videos, self._detector, self._readers, self._watch,
                           progress=False, on_sighting=written, stop=stop)
        else:
            self._run(open_source(str(source), self.config.capture), written, stop)
        return sightings

    def _run(self, source: FrameSource, written: Callable[[Sighting], None], stop: threading.Event | None) -> None:
        try:
            check_outputs(self.config, source)
        except BaseException:
            source.close()
            raise
        stats = process_source(self.config, source, self._detector, self._readers, self._watch, progress=False,
                               on_sighting=written, stop=stop)
        if stats.error and not stats.stopped_by_user:
            raise SourceError(stats.error)
