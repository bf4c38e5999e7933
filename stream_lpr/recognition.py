"""The plate reader: a rectified plate in, a probability distribution per field out.

One small CNN with a head per field (region, 3 class-number slots, kana, 4 designation slots,
plate type). The grammar is applied afterwards by plate_format.decode, so the voting across
frames can combine the raw distributions first. No threads here: the pipeline owns them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stream_lpr import plate_format as pf
from stream_lpr.errors import WeightsError
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


class ReaderNet(nn.Module):
    """64 x 128 BGR plate -> logits per head. About 50 M multiply-adds per plate."""

    def __init__(self, width: int = 16, hidden: int = 384):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _block(3, w, stride=2),  # 32 x 64: plate strokes are several pixels wide at this size
            _block(w, 2 * w), nn.MaxPool2d(2),  # 16 x 32
            _block(2 * w, 4 * w), nn.MaxPool2d(2),  # 8 x 16
            _block(4 * w, 8 * w), _block(8 * w, 8 * w), nn.MaxPool2d(2),  # 4 x 8
        )
        # Flattening keeps where each feature is: the fields sit at fixed places on the plate.
        self.neck = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(8 * w * 4 * 8, hidden), nn.ReLU(inplace=True))
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, size) for name, size in HEADS.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.neck(self.features(x))
        return {name: head(z) for name, head in self.heads.items()}


def to_tensor(crops: list[np.ndarray] | np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, 64, 128, 3) BGR -> float (N, 3, 64, 128) in about -1..1, on the input's device."""
    if isinstance(crops, torch.Tensor):
        batch = crops
    else:
        batch = torch.from_numpy(np.ascontiguousarray(np.stack(crops) if isinstance(crops, list) else crops))
    return batch.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def split_heads(logits: dict[str, torch.Tensor]) -> list[pf.FieldScores]:
    """Softmax each head and cut the batch into one FieldScores per plate."""
    n = logits["region"].shape[0]
    probs = {
        "region": logits["region"].softmax(-1),
        "class_number": logits["class_number"].view(n, pf.CLASS_SLOTS, -1).softmax(-1),
        "kana": logits["kana"].softmax(-1),
        "number": logits["number"].view(n, pf.NUMBER_SLOTS, -1).softmax(-1),
        "plate_type": logits["plate_type"].softmax(-1),
    }
    arrays = {k: v.numpy() for k, v in probs.items()}
    return [pf.FieldScores(**{k: v[i] for k, v in arrays.items()}) for i in range(n)]


@dataclass(frozen=True)
class PlateRead:
    scores: pf.FieldScores  # per-field distributions, for voting across frames
    reading: pf.Reading  # the best legal plate for these scores alone


class PlateReader:
    """Loads reader weights once; read() is safe to call from one thread at a time per reader."""

    def __init__(self, weights: str | Path, device: str = "cpu"):
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"reader weights not found: {path}")
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
            self.model = ReaderNet(**checkpoint.get("config", {}))
            self.model.load_state_dict(checkpoint["model"])
        except Exception as exc:  # any unpickling or shape error means the file is not ours
            raise WeightsError(f"cannot load reader weights {path}: {exc.__class__.__name__}") from None
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        self.input_size = PLATE_SIZE

    @torch.inference_mode()
    def read(self, crops: list[np.ndarray]) -> list[PlateRead]:
        if not crops:
            return []
        logits = self.model(to_tensor(crops).to(self.device))
        scores = split_heads({k: v.float().cpu() for k, v in logits.items()})
        return [PlateRead(s, pf.decode(s)) for s in scores]
