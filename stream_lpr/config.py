"""Typed settings: config.yaml (every key commented there) merged with CLI overrides.

Unknown keys and bad values raise ConfigError naming the dotted key, the value and the valid
range, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from stream_lpr.errors import ConfigError


def _opt(default: Any, lo: float | None = None, hi: float | None = None,
         choices: tuple[str, ...] | None = None, pattern: tuple[str, str] | None = None,
         polygon: bool = False) -> Any:
    """`pattern`: (a regular expression the whole value must match, examples for the error)."""
    return field(default=default, metadata={"lo": lo, "hi": hi, "choices": choices, "pattern": pattern,
                                             "polygon": polygon})


@dataclass(frozen=True)
class ModelsConfig:
    detector: str = "weights/detector.int8.onnx"
    reader: str = "weights/reader.int8.onnx"
    refiner: str = "weights/refiner.onnx"
    device: str = _opt("cpu", pattern=(r"cpu|cuda(:\d+)?", "cpu, cuda:0"))
    imgsz: int = _opt(640, 64, 4096)


@dataclass(frozen=True)
class DetectionConfig:
    confidence: float = _opt(0.25, 0.0, 1.0)
    iou: float = _opt(0.5, 0.0, 1.0)
    every_n_frames: int = _opt(2, 1, 30)
    idle_every_s: float = _opt(0.5, 0.0, 60.0)
    still_size: int = _opt(960, 0, 4096)
    close_up_size: int = _opt(256, 0, 4096)
    still_turn: float = _opt(20.0, 0.0, 45.0)
    roi: tuple[tuple[float, float], ...] = _opt((), polygon=True)  # fractions of the frame's width and height


@dataclass(frozen=True)
class TrackingConfig:
    high_confidence: float = _opt(0.5, 0.0, 1.0)
    match_iou: float = _opt(0.2, 0.0, 1.0)
    lost_track_s: float = _opt(1.0, 0.0, 60.0)
    parked_lost_track_s: float = _opt(5.0, 0.0, 600.0)
    fuse_score: bool = False


@dataclass(frozen=True)
class ReadPolicyConfig:
    min_width_px: float = _opt(40.0, 0.0, 10000.0)
    min_sharpness: float = _opt(15.0, 0.0, 1e6)
    min_frontalness: float = _opt(0.5, 0.0, 1.0)
    max_reads_per_s: float = _opt(15.0, 0.1, 1000.0)
    stable_reads_per_s: float = _opt(6.0, 0.01, 1000.0)
    settled_reads_per_s: float = _opt(0.5, 0.01, 1000.0)
    still_views: int = _opt(9, 1, 9)  # readpolicy.STILL_VIEWS has 9
    views: int = _opt(3, 1, 5)  # recognition.VIEW_SHIFTS has 5
    min_inside: float = _opt(0.9, 0.0, 1.0)
    min_edge_gap: float = _opt(0.025, 0.0, 1.0)


@dataclass(frozen=True)
class VotingConfig:
    min_reads: int = _opt(3, 1, 1000)
    min_margin: float = _opt(0.3, 0.0, 1.0)
    field_min_confidence: float = _opt(0.3, 0.0, 1.0)
    number_min_confidence: float = _opt(0.5, 0.0, 1.0)
    min_known_fields: int = _opt(2, 1, 4)
    merge_within_s: float = _opt(1.0, 0.0, 60.0)


@dataclass(frozen=True)
class WorkersConfig:
    count: int = _opt(1, 1, 64)
    queue_size: int = _opt(8, 1, 10000)
    batch_size: int = _opt(4, 1, 256)
    threads: int = _opt(1, 1, 64)


@dataclass(frozen=True)
class CaptureConfig:
    live_queue_size: int = _opt(1, 1, 1000)
    file_queue_size: int = _opt(8, 1, 1000)
    open_timeout_s: float = _opt(5.0, 0.1, 300.0)
    read_timeout_s: float = _opt(5.0, 0.1, 300.0)
    reconnect_initial_s: float = _opt(1.0, 0.01, 600.0)
    reconnect_max_s: float = _opt(30.0, 0.01, 3600.0)
    give_up_after_s: float = _opt(0.0, 0.0, 1e7)
    file_clock: str = _opt("recorded", choices=("recorded", "processed"))
    file_timezone: str = _opt("local", pattern=(r"local|UTC|[+-](0\d|1[0-4]):?[0-5]\d", "local, UTC, +09:00"))
    drive_gap_s: float = _opt(3.0, 0.0, 600.0)


@dataclass(frozen=True)
class OverlayConfig:
    font_path: str = ""
    font_size: int = _opt(22, 6, 200)
    hud: bool = True
    text_cache_size: int = _opt(512, 1, 100000)
    show_dismissed: bool = False
    anonymize: bool = False
    anonymize_margin: float = _opt(0.25, 0.0, 2.0)
    anonymize_hold_s: float = _opt(0.5, 0.0, 10.0)


@dataclass(frozen=True)
class OutputConfig:
    csv: str = ""
    csv_mode: str = _opt("auto", choices=("auto", "append", "overwrite"))
    video: str = ""
    video_codec: str = _opt("mp4v", choices=("mp4v", "avc1", "MJPG", "XVID"))
    segment_minutes: float = _opt(10.0, 0.0, 1440.0)
    show: bool = False
    save_crops: str = ""
    log_unread: bool = False
    serve: str = ""
    webhook: str = ""
    webhook_timeout_s: float = _opt(5.0, 0.1, 120.0)
    webhook_images: bool = False


@dataclass(frozen=True)
class WatchlistConfig:
    file: str = ""
    quiet_s: float = _opt(60.0, 0.0, 1e7)
    command: str = ""
    possible_min: float = _opt(0.05, 0.0, 1.0)


@dataclass(frozen=True)
class Config:
    models: ModelsConfig = field(default_factory=ModelsConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    read_policy: ReadPolicyConfig = field(default_factory=ReadPolicyConfig)
    voting: VotingConfig = field(default_factory=VotingConfig)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    overlay: OverlayConfig = field(default_factory=OverlayConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    watchlist: WatchlistConfig = field(default_factory=WatchlistConfig)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults <- YAML file (if `path`) <- `overrides` ({"output.csv": "x.csv", ...})."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = _read_yaml(Path(path))
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    config = _build(Config, raw, prefix="")
    _check_cross_field(config)
    return config


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, got {type(data).__name__}")
    return data


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *sections, key = dotted.split(".")
    node = raw
    for name in sections:
        node = node.setdefault(name, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config key '{name}' must be a section (a mapping)")
    node[key] = value


def _build(cls: type, raw: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "config"
    if not isinstance(raw, dict):
        raise ConfigError(f"config key '{where}' must be a section (a mapping), got {raw!r}")
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    for key in raw:
        if key not in known:
            valid = ", ".join(prefix + name for name in known)
            raise ConfigError(f"unknown config key '{prefix}{key}' (valid keys here: {valid})")
    values = {}
    for name, value in raw.items():
        kind = hints[name]
        if is_dataclass(kind):
            values[name] = _build(kind, value, f"{prefix}{name}.")
        else:
            values[name] = _coerce(f"{prefix}{name}", value, kind, known[name].metadata)
    return cls(**values)


def _coerce(key: str, value: Any, kind: type, meta: Any) -> Any:
    if meta.get("polygon"):
        return _polygon(key, value)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}' must be true or false, got {value!r}")
        return value
    if kind in (int, float):
        return _check_range(key, _number(key, value, kind), meta)
    if value is None:
        value = ""
    if not isinstance(value, (str, Path)):
        raise ConfigError(f"config key '{key}' must be a string, got {value!r}")
    value = str(value)
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"config key '{key}' must be one of {', '.join(meta['choices'])}; got {value!r}")
    if meta.get("pattern") and not re.fullmatch(meta["pattern"][0], value):
        raise ConfigError(f"config key '{key}' has a bad value {value!r} (expected e.g. {meta['pattern'][1]})")
    return value


def _polygon(key: str, value: Any) -> tuple[tuple[float, float], ...]:
    """[[x, y], ...]: at least 3 points, each a fraction (0-1) of the frame's width and height;
    empty for none."""
    if value is None or (isinstance(value, (list, tuple, str)) and len(value) == 0):
        return ()
    if (not isinstance(value, (list, tuple)) or len(value) < 3
            or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value)):
        raise ConfigError(f"config key '{key}' must be a list of at least 3 [x, y] points (or []), got {value!r}")
    points = tuple((_number(key, x, float), _number(key, y, float)) for x, y in value)
    if not all(0.0 <= v <= 1.0 for point in points for v in point):
        raise ConfigError(f"config key '{key}' takes points as fractions of the frame's width and height "
                          f"(0 to 1), got {value!r}")
    return points


def _number(key: str, value: Any, kind: type) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"config key '{key}' must be a number, got {value!r}")
    if kind is int:
        if float(value) != int(value):
            raise ConfigError(f"config key '{key}' must be a whole number, got {value!r}")
        return int(value)
    return float(value)


def _check_range(key: str, value: int | float, meta: Any) -> int | float:
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"config key '{key}' = {value} is out of range [{lo}, {hi}]")
    return value


def _check_cross_field(config: Config) -> None:
    capture = config.capture
    if capture.reconnect_max_s < capture.reconnect_initial_s:
        raise ConfigError(
            f"config key 'capture.reconnect_max_s' = {capture.reconnect_max_s} must be at least "
            f"capture.reconnect_initial_s = {capture.reconnect_initial_s}"
        )


def with_overrides(config: Config, section: str, **values: Any) -> Config:
    """A copy of `config` with some keys of one section replaced (for tests and benchmarks)."""
    return replace(config, **{section: replace(getattr(config, section), **values)})
