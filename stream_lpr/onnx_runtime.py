"""One way to open an ONNX model with onnxruntime, shared by the detector and the reader."""

from __future__ import annotations

from pathlib import Path

from stream_lpr.errors import WeightsError


def open_session(path: Path, device: str, threads: int = 0):
    """An onnxruntime session on CPU, or on CUDA when `device` asks for it and this onnxruntime
    has it (else a WeightsError pointing to the .pt file). threads 0: onnxruntime's default."""
    import onnxruntime as ort

    providers: list = ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise WeightsError(f"{path.name} is an ONNX file and this onnxruntime has no CUDA; "
                               f"for {device} use the .pt weights")
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": int(device.partition(":")[2] or 0)}))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    # Idle onnxruntime threads busy-wait by default: in the pipeline that takes the cores the
    # decoder, the other model and the encoder need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=providers)
