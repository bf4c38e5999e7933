"""int8 detector: the float ONNX export quantized with onnxruntime, calibrated on composed scenes.

On CPUs with VNNI (this machine's Xeon) int8 convolutions run about 1.6x faster than float.
The detection head's last convolutions and everything after them (box and corner decoding,
whose values span the whole frame in pixels) stay in float: at 8 bits a corner would move by
pixels, which is the reader's rectification error.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm


def _float_nodes(model_path: Path) -> list[str]:
    """Nodes of the head module that stay float: all but its inner (feature) convolutions."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    producer = next(n for n in graph.node if graph.output[0].name in n.output)
    match = re.match(r"(/model\.\d+/)", producer.name)
    if match is None:
        raise ValueError(f"cannot find the detection head in {model_path}")
    head = match.group(1)
    # Inner head convs end in '/conv/Conv' (so does the box decoder's fixed 'dfl' conv); the
    # final 1x1 ones in '.2/Conv'.
    inner = lambda n: n.op_type == "Conv" and n.name.endswith("/conv/Conv") and "/dfl/" not in n.name  # noqa: E731
    return [n.name for n in graph.node if n.name.startswith(head) and not inner(n)]


def calibration_frames(count: int, seed: int) -> list[np.ndarray]:
    """Composed scenes from the training drives, as the detector sees them."""
    from stream_lpr.synth.compose import compose, load_scenes

    rng = np.random.default_rng(seed)
    scenes = load_scenes(split="train")
    return [compose(rng, scenes, (1280, 720), None).image for _ in tqdm(range(count), desc="calibration frames")]


def quantize_detector(onnx_path: Path, out_path: Path, frames: int = 64, seed: int = 0) -> Path:
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from stream_lpr.detection import OnnxPoseModel

    model = OnnxPoseModel(onnx_path)
    blobs = [model.letterbox(image)[0] for image in calibration_frames(frames, seed)]

    class Frames(CalibrationDataReader):
        def __init__(self):
            self.blobs = iter(blobs)

        def get_next(self):
            blob = next(self.blobs, None)
            return None if blob is None else {model.input_name: blob}

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out_path), Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=_float_nodes(prepared), calibrate_method=CalibrationMethod.MinMax)
    return out_path
