"""The plate reader: a rectified plate in, a probability distribution per field out.

One small CNN with a head per field (region, 3 class-number slots, kana, 4 designation slots,
plate type). The grammar is applied afterwards by plate_format.decode, so the voting across
frames can combine the raw distributions first. No threads here: the pipeline owns them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stream_lpr import plate_format as pf
from stream_lpr.errors import WeightsError
from stream_lpr.onnx_runtime import open_session
from stream_lpr.rectify import PLATE_SIZE

HEADS = {
    "region": len(pf.REGIONS),
    "class_number": pf.CLASS_SLOTS * len(pf.CLASS_CHARS),
    "kana": len(pf.KANA),
    "number": pf.NUMBER_SLOTS * len(pf.NUMBER_CHARS),
    "plate_type": len(pf.PLATE_TYPES),
}


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Residual(nn.Module):
    """x + a 3 x 3 convolution of x. The BatchNorm's scale starts at zero, so a trained network
    deepened with this block computes what it did before, and training grows the new layer
    from there (Net2Net's deepening; the ReLU before it made x non-negative already)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        nn.init.zeros_(self.bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.bn(self.conv(x)))


# Where the residual blocks of a deepened reader go: after these layers of `features` (the
# 16 x 32 layer, then the last 8 x 16 one), where the strokes of the region name are still
# a few cells apart.
_DEEPEN_AFTER = (3, 6)


class ReaderNet(nn.Module):
    """64 x 128 BGR plate -> logits per head. Width 16: about 50 M multiply-adds per plate;
    24: about 110 M; 28: about 150 M. Each residual block of `depth` (at most 2) adds about
    58 M at width 28: the shipped reader (width 28, depth 2, session 24) is about 265 M."""

    def __init__(self, width: int = 16, hidden: int = 384, depth: int = 0):
        super().__init__()
        if not 0 <= depth <= len(_DEEPEN_AFTER):
            raise ValueError(f"reader depth must be 0-{len(_DEEPEN_AFTER)}, not {depth}")
        w = width
        self.features = nn.Sequential(
            _block(3, w, stride=2),  # 32 x 64: plate strokes are several pixels wide at this size
            _block(w, 2 * w), nn.MaxPool2d(2),  # 16 x 32
            _block(2 * w, 4 * w), nn.MaxPool2d(2),  # 8 x 16
            _block(4 * w, 8 * w), _block(8 * w, 8 * w), nn.MaxPool2d(2),  # 4 x 8
        )
        # A separate list, not spliced into `features`: weights saved before deepening keep their names.
        self.extra = nn.ModuleList(_Residual(self.features[i][0].out_channels) for i in _DEEPEN_AFTER[:depth])
        # Flattening keeps where each feature is: the fields sit at fixed places on the plate.
        self.neck = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(8 * w * 4 * 8, hidden), nn.ReLU(inplace=True))
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, size) for name, size in HEADS.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        extra = dict(zip(_DEEPEN_AFTER, self.extra))
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in extra:
                x = extra[index](x)
        z = self.neck(x)
        return {name: head(z) for name, head in self.heads.items()}


def to_tensor(crops: list[np.ndarray] | np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, 64, 128, 3) BGR -> float (N, 3, 64, 128) in about -1..1, on the input's device."""
    if isinstance(crops, torch.Tensor):
        batch = crops
    else:
        batch = torch.from_numpy(np.ascontiguousarray(np.stack(crops) if isinstance(crops, list) else crops))
    return batch.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


# Pixel shifts (right, down) of the 128 x 64 crop that a plate is read at, the first `views` of
# them. The reader's last layers see each field at a fixed place, so a crop a pixel or two off
# (rectified from corners a few percent wrong) moves its guess; the mean over shifted copies is
# steadier than any one read: on the 2000 test plates 3 views read 0.85-2.2 points more exactly.
VIEW_SHIFTS = ((0, 0), (2, -1), (-2, 1), (2, 1), (-2, -1))


def shifted(crops: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """(N, H, W, 3) crops moved dx px right and dy px down, the edge pixels repeated into the gap."""
    if dx == 0 and dy == 0:
        return crops
    h, w = crops.shape[1:3]
    rows = np.clip(np.arange(h) - dy, 0, h - 1)
    cols = np.clip(np.arange(w) - dx, 0, w - 1)
    return crops[:, rows][:, :, cols]


def split_heads(logits: dict[str, np.ndarray], views: int = 1) -> list[pf.FieldScores]:
    """Softmax each head and cut the batch into one FieldScores per plate. With `views` > 1 the
    batch is that many blocks of the same plates (view after view): their distributions are averaged."""
    n = logits["region"].shape[0] // views
    shapes = {"class_number": (views, n, pf.CLASS_SLOTS, -1), "number": (views, n, pf.NUMBER_SLOTS, -1)}
    probs = {name: _softmax(np.asarray(v, np.float32).reshape(shapes.get(name, (views, n, -1)))).mean(axis=0)
             for name, v in logits.items()}
    return [pf.FieldScores(**{k: v[i] for k, v in probs.items()}) for i in range(n)]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class _Uint8Input(nn.Module):
    """ReaderNet behind to_tensor, so the ONNX file takes the crops as they come (uint8 NHWC BGR)."""

    def __init__(self, net: ReaderNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits = self.net(to_tensor(crops))
        return tuple(logits[name] for name in HEADS)


def export_onnx(weights: Path, out: Path) -> Path:
    """reader.pt -> reader.onnx: the same network, about 1.5x faster on CPU through onnxruntime."""
    net = _load_torch(weights).eval()
    example = torch.zeros((8, *PLATE_SIZE[::-1], 3), dtype=torch.uint8)
    torch.onnx.export(_Uint8Input(net).eval(), example, str(out), input_names=["crops"], output_names=list(HEADS),
                      dynamic_axes={"crops": {0: "batch"}}, opset_version=17, dynamo=False)
    return out


def network_shape(config: dict | None) -> dict:
    """The ReaderNet arguments a saved reader's `config` stands for, all of them: files written
    before an argument existed leave it out, and had its default."""
    return {"width": 16, "hidden": 384, "depth": 0, **(config or {})}


def _load_torch(path: Path) -> ReaderNet:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = ReaderNet(**network_shape(checkpoint.get("config")))
    model.load_state_dict(checkpoint["model"])
    return model


# How much a crop's colour may vary, against how much its brightness does, for it to count as
# grey. Grey pictures (an infrared camera at night, a black-and-white one) come to 0-0.02, the
# renderer's infrared plates with the camera's colour noise to 0.06; real colour plates 0.08
# (a white plate in shade) to 1.0 (yellow), also dark, small, blurred or as a poor JPEG. A ratio,
# not the channels' spread: a grey picture decoded from a video can keep a constant tint (MPEG-4
# gives blue 3 levels above green), so its channels need not be equal; they only move together.
COLOURLESS_RATIO = 0.05
# Below this a crop in colour has a white or green ground, never a yellow or black one: a yellow
# ground against black characters (kei, kei commercial) moves blue far from green. Of 1024
# synthetic test crops in colour no kei plate fell below 0.15 (median 1.08; kei commercial's 5th
# percentile 0.30), and private plates had a median of 0.22; the real white 世田谷 plate in
# shade is 0.06-0.08, and fine-tuned readers have typed it kei (sessions 34, 42).
PALE_RATIO = 0.15
_YELLOW_OR_BLACK = [pf.PLATE_TYPES.index(t) for t in ("kei", "kei_commercial")]


def colour_ratio(crop: np.ndarray) -> float:
    """How much blue and red vary against green, as a share of how much green (brightness)
    varies: 0 for a grey picture, about 1 for a yellow plate with black characters."""
    c = crop.astype(np.float32)
    green = c[..., 1]
    chroma = max(float((c[..., 0] - green).std()), float((c[..., 2] - green).std()))
    return chroma / max(float(green.std()), 1.0)


@dataclass(frozen=True)
class PlateRead:
    scores: pf.FieldScores  # per-field distributions, for voting across frames
    reading: pf.Reading  # the best legal plate for these scores alone; type "unknown" on a grey crop

    @classmethod
    def of(cls, scores: pf.FieldScores, crop: np.ndarray) -> PlateRead:
        """The plate type is its colours. On a grey crop the reader still names one (it learnt
        grey plates with their true types), but from the ground's brightness and the class
        number alone: on grey copies of the synthetic test plates it typed a sixth wrong, most
        kei plates private. So a grey crop's reading leaves the type unknown, and the voter
        takes no vote for it from that read. A pale crop in colour cannot be kei (PALE_RATIO):
        those two types are taken out of its type distribution, which the voter adds up."""
        ratio = colour_ratio(crop)
        if COLOURLESS_RATIO <= ratio < PALE_RATIO:  # a pale ground: not kei, whatever the shading suggests
            types = np.array(scores.plate_type, np.float64)
            types[_YELLOW_OR_BLACK] = 0.0
            if types.sum() > 0:
                scores = replace(scores, plate_type=types / types.sum())
        reading = pf.decode(scores)
        if ratio < COLOURLESS_RATIO:
            reading = replace(reading, text=replace(reading.text, plate_type=pf.UNKNOWN_TYPE), type_conf=0.0)
        return cls(scores, reading)


class _OnnxNet:
    """reader.onnx through onnxruntime: the fastest on CPU."""

    def __init__(self, path: Path, device: str, threads: int) -> None:
        self.session = open_session(path, device, threads)
        self.names = [o.name for o in self.session.get_outputs()]
        if sorted(self.names) != sorted(HEADS):
            raise WeightsError(f"{path} is not a plate reader export (outputs {self.names})")

    def __call__(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.names, self.session.run(None, {"crops": crops})))


class _TorchNet:
    """reader.pt through torch: GPUs, and what training writes."""

    def __init__(self, path: Path, device: str, threads: int) -> None:
        self.model, self.device = _load_torch(path).to(torch.device(device)).eval(), device
        torch.set_num_threads(threads)  # process-wide: the readers share the cores with the detector

    @torch.inference_mode()
    def __call__(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        logits = self.model(to_tensor(crops).to(self.device))
        return {k: v.float().cpu().numpy() for k, v in logits.items()}


class PlateReader:
    """Reads batches of rectified plates with reader.onnx (CPU) or reader.pt (any device).
    read() is safe to call from one thread at a time per reader."""

    def __init__(self, weights: str | Path, device: str = "cpu", threads: int = 1):
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"reader weights not found: {path}")
        try:
            self.net = (_OnnxNet if path.suffix == ".onnx" else _TorchNet)(path, device, threads)
        except WeightsError:
            raise
        except Exception as exc:  # any unpickling, protobuf or shape error means the file is not ours
            raise WeightsError(f"cannot load reader weights {path}: {exc.__class__.__name__}") from None

    def read(self, crops: list[np.ndarray], views: int = 1) -> list[PlateRead]:
        """Each crop read at the first `views` VIEW_SHIFTS (costing that many reads), averaged."""
        if not 1 <= views <= len(VIEW_SHIFTS):
            raise ValueError(f"views must be 1-{len(VIEW_SHIFTS)}, got {views}")
        if not crops:
            return []
        batch = np.stack(crops)
        batch = np.concatenate([shifted(batch, dx, dy) for dx, dy in VIEW_SHIFTS[:views]])
        scores = split_heads(self.net(np.ascontiguousarray(batch)), views)
        return [PlateRead.of(s, crop) for s, crop in zip(scores, crops)]
