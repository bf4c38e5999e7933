"""stream_lpr: real-time Japanese license plate recognition for video streams."""

__version__ = "0.1.0"
