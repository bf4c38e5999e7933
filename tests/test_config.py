from pathlib import Path

import pytest

from stream_lpr.cli import main
from stream_lpr.config import Config, load_config
from stream_lpr.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_repo_config_yaml_equals_the_built_in_defaults():
    assert load_config(ROOT / "config.yaml") == Config()


def test_every_key_in_config_yaml_has_a_comment():
    for line in (ROOT / "config.yaml").read_text(encoding="utf-8").splitlines():
        if line.startswith("  ") and ":" in line:
            assert "#" in line, f"uncommented key: {line.strip()}"


def test_overrides_beat_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("voting:\n  min_reads: 5\noutput:\n  csv: a.csv\n")
    config = load_config(path, {"output.csv": "b.csv"})
    assert config.voting.min_reads == 5
    assert config.output.csv == "b.csv"


def test_region_of_interest_is_read_as_points():
    roi = load_config(None, {"detection.roi": [[0, 0.4], [1, 0.4], [1, 1], [0, 1]]}).detection.roi
    assert roi == ((0.0, 0.4), (1.0, 0.4), (1.0, 1.0), (0.0, 1.0))
    assert load_config(None, {"detection.roi": []}).detection.roi == ()


def test_integer_for_a_float_key_is_accepted():
    assert load_config(None, {"tracking.lost_track_s": 2}).tracking.lost_track_s == 2.0


@pytest.mark.parametrize("overrides, key_in_message", [
    ({"tracking.lost_s": 1}, "tracking.lost_s"),
    ({"bogus": 1}, "bogus"),
    ({"tracking.lost_track_s": -1}, "tracking.lost_track_s"),
    ({"detection.confidence": 1.5}, "detection.confidence"),
    ({"workers.count": 0}, "workers.count"),
    ({"workers.count": 1.5}, "workers.count"),
    ({"workers.count": "two"}, "workers.count"),
    ({"output.show": "yes"}, "output.show"),
    ({"models.device": "gpu"}, "models.device"),
    ({"output.video_codec": "h265"}, "output.video_codec"),
    ({"voting": 3}, "voting"),
    ({"models.detector": 5}, "models.detector"),
    ({"capture.reconnect_max_s": 0.5}, "capture.reconnect_max_s"),
    ({"detection.roi": [[0, 0], [1, 1]]}, "detection.roi"),  # a polygon needs 3 points
    ({"detection.roi": [[0, 0], [640, 0], [0, 360]]}, "detection.roi"),  # fractions, not pixels
    ({"detection.roi": "lower half"}, "detection.roi"),
])
def test_bad_values_name_the_key(overrides, key_in_message):
    with pytest.raises(ConfigError, match=f"'{key_in_message}'") as info:
        load_config(None, overrides)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, fragment", [
    ("voting: [1, 2", "not valid YAML"),
    ("- a\n- b\n", "mapping"),
    ("voting:\n  min_readz: 3\n", "voting.min_readz"),
])
def test_bad_files(tmp_path, text, fragment):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_config(path)


def test_missing_config_file():
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config("/nonexistent/c.yaml")


@pytest.mark.parametrize("argv", [
    ["--source", "x.mp4", "--set", "tracking.nope=1"],
    ["--source", "x.mp4", "--set", "voting.min_reads=-3"],
    ["--source", "x.mp4", "--set", "novalue"],
    ["--source", "x.mp4", "--config", "/nonexistent/c.yaml"],
    ["--source", "x.mp4", "--device", "tpu"],
])
def test_cli_config_errors_exit_2_with_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stream-lpr: error:") and "\n" not in err
