"""Corner refinement: a second, closer look at each plate the detector found.

The detector sees a whole frame at 640 px and draws a plate seen from the side as a
near-rectangle inside its box (the worst corner 9-13 % of the plate's width off at 45 degrees),
and a plate rectified from those corners reads worse than from the true ones. The refiner sees
only the plate's neighbourhood, rectified from the detector's corners with a margin around it,
and says where the true corners lie in it: a small CNN, less than half a reader's cost.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from stream_lpr.errors import WeightsError
from stream_lpr.onnx_runtime import open_session
from stream_lpr.readpolicy import edge_gap
from stream_lpr.rectify import rectify_around

# Width x height of what the refiner sees, and where the detector's corners land in it: a
# 96 x 48 plate with a sixth of its width to each side and a third of its height above and
# below, room for corners as far off as the detector draws them.
CONTEXT_SIZE = (128, 80)
PLATE_IN_CONTEXT = np.float32([[16, 16], [112, 16], [112, 64], [16, 64]])
_PLATE_WIDTH = 96.0  # offsets are predicted in plate widths


def context(image: np.ndarray, corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The plate's neighbourhood as the refiner sees it (CONTEXT_SIZE, BGR uint8), and the
    homography from image points to it."""
    return rectify_around(image, corners, PLATE_IN_CONTEXT, CONTEXT_SIZE)


def to_offsets(points: np.ndarray) -> np.ndarray:
    """(..., 4, 2) context points -> (..., 8) the network's targets: plate widths from PLATE_IN_CONTEXT."""
    return ((np.asarray(points, np.float32) - PLATE_IN_CONTEXT) / _PLATE_WIDTH).reshape(*np.shape(points)[:-2], 8)


def from_offsets(offsets: np.ndarray) -> np.ndarray:
    return PLATE_IN_CONTEXT + np.asarray(offsets, np.float32).reshape(-1, 4, 2) * _PLATE_WIDTH


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class RefinerNet(nn.Module):
    """(N, 80, 128, 3) BGR uint8 contexts -> (N, 8) corner offsets. A small encoder-decoder:
    each corner is a heatmap over a 20 x 32 grid (4 context pixels a cell) whose expected
    position is the corner (soft-argmax), seen through features that span the whole plate, so a
    corner under a holder frame is placed from the plate's other edges. A plain regression from
    the coarsest features (session 21's first try) placed corners less than half as precisely
    and read no better than the detector's corners. About 57 M multiply-adds, 0.4 of the reader's."""

    def __init__(self, width: int = 16):
        super().__init__()
        w = width
        self.down1 = nn.Sequential(_block(3, w, 2), _block(w, 2 * w, 2), _block(2 * w, 2 * w, 1))  # 20 x 32
        self.down2 = nn.Sequential(_block(2 * w, 4 * w, 2), _block(4 * w, 4 * w, 1))  # 10 x 16
        self.down3 = nn.Sequential(_block(4 * w, 6 * w, 2), _block(6 * w, 6 * w, 1))  # 5 x 8
        self.up2 = _block(10 * w, 4 * w, 1)
        self.up1 = nn.Sequential(_block(6 * w, 2 * w, 1), nn.Conv2d(2 * w, 4, 1))
        h, w_ = CONTEXT_SIZE[1] // 4, CONTEXT_SIZE[0] // 4
        ys, xs = torch.meshgrid(torch.arange(h) * 4.0 + 2, torch.arange(w_) * 4.0 + 2, indexing="ij")
        self.register_buffer("grid", torch.stack([xs.reshape(-1), ys.reshape(-1)], 1), persistent=False)
        self.register_buffer("nominal", torch.from_numpy(PLATE_IN_CONTEXT.reshape(1, 4, 2)), persistent=False)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        x = crops.permute(0, 3, 1, 2).float() * (2 / 255) - 1
        a = self.down1(x)
        b = self.down2(a)
        c = self.down3(b)
        b = self.up2(torch.cat([b, nn.functional.interpolate(c, scale_factor=2.0, mode="nearest")], 1))
        heat = self.up1(torch.cat([a, nn.functional.interpolate(b, scale_factor=2.0, mode="nearest")], 1))
        weights = torch.softmax(heat.flatten(2), dim=2)  # (N, 4, cells)
        points = weights @ self.grid  # (N, 4, 2): each corner's expected position, context pixels
        return ((points - self.nominal) / _PLATE_WIDTH).flatten(1)


def export_onnx(weights: Path, out: Path) -> Path:
    checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    net = RefinerNet(**checkpoint.get("config", {}))
    net.load_state_dict(checkpoint["model"])
    example = torch.zeros((4, CONTEXT_SIZE[1], CONTEXT_SIZE[0], 3), dtype=torch.uint8)
    torch.onnx.export(net.eval(), example, str(out), input_names=["contexts"], output_names=["offsets"],
                      dynamic_axes={"contexts": {0: "batch"}}, opset_version=17, dynamo=False)
    return out


class CornerRefiner:
    """Moves detected corners onto the plate: refiner.onnx through onnxruntime, on the CPU
    whatever the other models run on (it costs a fraction of a millisecond a plate there)."""

    # A refined corner farther than this (plate widths) from the detector's is not trusted:
    # the refiner has seen no detector error that large, so such a guess is about something else.
    MAX_MOVE = 0.3
    # A plate whose corners the first look moved farther than this (plate widths) gets a second
    # look from its refined corners: the detector drew it far off, mostly a plate seen from
    # the side, and one look leaves part of the way. 10-17 % of the detections in the composed
    # test scenes (held-out / synthetic).
    # Not a plate the first look extended past the frame's edge: that one is cut, and a second
    # look would only guess farther into what the frame does not show (and read_policy.min_inside
    # would then leave it unread: 6 of the composed photos' cut plates, 2 of them read right).
    SECOND_LOOK = 0.1
    # A plate whose refined corners run past the frame's edge by more than this (plate widths)
    # is cut by it: the refiner puts its corners where the plate would go on, and
    # read_policy.min_inside would leave it unread. It keeps the detector's corners, along the
    # edge: the reader learnt cut plates cropped so (train reader --cut) and judges what it sees.
    CUT = 0.02

    def __init__(self, weights: str | Path, threads: int = 1):
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"corner refiner weights not found: {path}")
        try:
            self.session = open_session(path, "cpu", threads)
            if [o.name for o in self.session.get_outputs()] != ["offsets"]:
                raise WeightsError(f"{path} is not a corner refiner export")
        except WeightsError:
            raise
        except Exception as exc:
            raise WeightsError(f"cannot load corner refiner weights {path}: {exc.__class__.__name__}") from None

    def refine(self, image: np.ndarray, corners: np.ndarray) -> np.ndarray:
        """(N, 4, 2) corners in image pixels -> the same, refined."""
        corners = np.asarray(corners, np.float32).reshape(-1, 4, 2)
        if not len(corners):
            return corners
        refined = self._look(image, corners)
        widths = _widths(corners)
        far = np.linalg.norm(refined - corners, axis=2).max(axis=1) > self.SECOND_LOOK * widths
        far &= _edge_gaps(refined, image.shape) >= 0  # not cut by the frame's edge
        if far.any():
            refined[far] = self._look(image, refined[far])
        # After either look: a second look can run past the edge that the first stopped at.
        cut = _edge_gaps(refined, image.shape) < -self.CUT * widths
        refined[cut] = corners[cut]
        return refined

    def _look(self, image: np.ndarray, corners: np.ndarray) -> np.ndarray:
        """One pass: each quad's context through the network, its corners moved where trusted."""
        seen = [context(image, c) for c in corners]
        offsets = self.session.run(None, {"contexts": np.stack([crop for crop, _ in seen])})[0]
        refined = np.stack([
            cv2.perspectiveTransform(points.reshape(-1, 1, 2), np.linalg.inv(matrix)).reshape(4, 2)
            for points, (_, matrix) in zip(from_offsets(offsets), seen)])
        return np.where(self._trusted(corners, refined)[:, None, None], refined, corners).astype(np.float32)

    def _trusted(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        moved = np.linalg.norm(after - before, axis=2).max(axis=1)
        convex = np.array([cv2.isContourConvex(q.reshape(-1, 1, 2)) for q in after])
        return convex & np.isfinite(after).all(axis=(1, 2)) & (moved <= self.MAX_MOVE * _widths(before))


def _edge_gaps(quads: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.array([edge_gap(quad, shape) for quad in quads])


def _widths(quads: np.ndarray) -> np.ndarray:
    """(N, 4, 2) TL, TR, BR, BL quads -> (N,) the mean of their top and bottom edges' lengths."""
    return (np.linalg.norm(quads[:, 1] - quads[:, 0], axis=1) + np.linalg.norm(quads[:, 2] - quads[:, 3], axis=1)) / 2
