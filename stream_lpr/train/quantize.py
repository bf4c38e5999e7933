"""int8 models: the float ONNX exports quantized with onnxruntime, calibrated on what each model
sees (composed scenes for the detector, rendered plate crops for the reader).

On CPUs with VNNI (this machine's Xeon) int8 convolutions run about 1.6x faster than float.
Some nodes stay float where 8 bits cost accuracy:
- each model's first convolution, whose input is the raw image: quantized, it cost the reader
  3.5 points of exact match, and the detector fine-tuned in session 9 lost whole frames (a
  plate the float model found at 0.9 went to 0.1-0.4, 12 of 144 plates on 150 test frames);
- the detection head's last convolutions and everything after them (box and corner decoding,
  whose values span the whole frame in pixels): at 8 bits a corner would move by pixels, which
  is the reader's rectification error;
- the reader's fully connected layers, which are faster in float.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm


def _detector_float_nodes(graph) -> list[str]:
    """All of the head module but its inner (feature) convolutions."""
    producer = next(n for n in graph.node if graph.output[0].name in n.output)
    match = re.match(r"(/model\.\d+/)", producer.name)
    if match is None:
        raise ValueError(f"cannot find the detection head (the output comes from {producer.name})")
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


def _quantize(onnx_path: Path, out_path: Path, inputs: list[dict[str, np.ndarray]], keep_float) -> Path:
    """Static QDQ quantization (int8 weights per channel, uint8 activations, min/max calibrated
    on `inputs`). The first convolution stays float in every model; keep_float(graph) names the
    model's other float nodes."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Inputs(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter(inputs)

        def get_next(self):
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
        graph = onnx.load(str(prepared)).graph
        first_conv = next(n.name for n in graph.node if n.op_type == "Conv")
        quantize_static(str(prepared), str(out_path), Inputs(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=[first_conv] + keep_float(graph), calibrate_method=CalibrationMethod.MinMax)
    return out_path


def quantize_detector(onnx_path: Path, out_path: Path, frames: int = 64, seed: int = 0) -> Path:
    from stream_lpr.detection import OnnxPoseModel

    model = OnnxPoseModel(onnx_path)
    feeds = [{model.input_name: model.letterbox(image)[0]} for image in calibration_frames(frames, seed)]
    return _quantize(onnx_path, out_path, feeds, _detector_float_nodes)


def _reader_float_nodes(graph) -> list[str]:
    return [n.name for n in graph.node if n.op_type == "Gemm"]


def quantize_reader(onnx_path: Path, out_path: Path, plates: int = 512, seed: int = 0) -> Path:
    """reader.onnx -> reader.int8.onnx, calibrated on rendered crops of the training scenes."""
    from stream_lpr.synth.compose import load_scenes
    from stream_lpr.synth.crops import reader_sample

    rng = np.random.default_rng(seed)
    scenes = load_scenes(split="train")
    crops = np.stack([reader_sample(rng, scenes).crop for _ in tqdm(range(plates), desc="calibration plates")])
    feeds = [{"crops": crops[i : i + 32]} for i in range(0, plates, 32)]
    return _quantize(onnx_path, out_path, feeds, _reader_float_nodes)
