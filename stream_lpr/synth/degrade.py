"""What the light and the camera do to a picture: uneven light, shadow bands, glare, colour
casts, night and infrared, then blur, low resolution, sensor noise, the image processor's noise
reduction and sharpening, and JPEG artefacts."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def _gradient(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (xs * np.cos(angle) + ys * np.sin(angle)) / max(h, w)
    return ramp - ramp.mean()


@dataclass(frozen=True)
class Lighting:
    """A scene's light, drawn by lighting() from the picture's size alone, so that every frame
    of a video can share it (drawing the light costs more than applying it)."""

    gain: np.ndarray  # (h, w) brightness factor: uneven light, shadow bands
    glare: np.ndarray | None  # (h, w) brightness added by a bright soft spot
    cast: np.ndarray | None  # (3,) BGR factors: white balance, sodium lamps, tinted glass
    night: tuple[float, float] | None  # (gamma, scale): dark, crushed
    infrared: float | None  # gamma of an infrared camera's grey picture

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Returns float32 BGR."""
        out = image.astype(np.float32)
        out *= self.gain[..., None]
        if self.glare is not None:
            out += self.glare[..., None]
        if self.cast is not None:
            out *= self.cast
        if self.night is not None:
            gamma, scale = self.night
            out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** gamma * scale
        elif self.infrared is not None:  # grey, the plate bright against a darker scene
            grey = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
            grey = 255.0 * (grey / 255.0) ** self.infrared
            out = np.repeat(grey[..., None], 3, axis=2)
        return out


def lighting(rng: np.random.Generator, shape: tuple[int, ...]) -> Lighting:
    """A random light for a picture of `shape` (height, width, ...)."""
    h, w = shape[:2]
    gain = np.ones((h, w), np.float32) * rng.uniform(0.6, 1.2)
    if rng.random() < 0.6:  # uneven light
        gain += _gradient(h, w, rng) * rng.uniform(0.2, 0.9)
    if rng.random() < 0.25:  # a shadow band (pole, sign, another car) across the picture
        mask = np.zeros((h, w), np.float32)
        x = rng.uniform(0, w)
        width = rng.uniform(0.05, 0.4) * w
        slope = rng.uniform(-1.0, 1.0)
        pts = np.array([[x, 0], [x + width, 0], [x + width + slope * h, h], [x + slope * h, h]], np.int32)
        cv2.fillPoly(mask, [pts], 1.0)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, width * 0.1))
        gain *= 1 - mask * rng.uniform(0.3, 0.7)
    glare = None
    if rng.random() < 0.2:  # glare: a bright soft spot
        spot = np.zeros((h, w), np.float32)
        centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        axes = (int(rng.uniform(0.05, 0.4) * w) + 1, int(rng.uniform(0.05, 0.3) * h) + 1)
        cv2.ellipse(spot, centre, axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
        spot = cv2.GaussianBlur(spot, (0, 0), max(1.0, axes[0] * 0.5))
        glare = spot * rng.uniform(60, 220)
    cast = rng.uniform(0.8, 1.2, 3).astype(np.float32) if rng.random() < 0.5 else None
    roll, night, infrared = rng.random(), None, None
    if roll < 0.1:
        night = (rng.uniform(1.3, 2.0), rng.uniform(0.5, 0.9))
    elif roll < 0.17:
        infrared = rng.uniform(0.6, 1.0)
    return Lighting(np.clip(gain, 0.05, 2.0), glare, cast, night, infrared)


def light(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lighting on the scene: returns float32 BGR."""
    return lighting(rng, image.shape).apply(image)


def motion_kernel(length: int, angle: float) -> np.ndarray:
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    dx, dy = np.cos(angle) * c, np.sin(angle) * c
    cv2.line(k, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1.0, 1)
    return k / max(k.sum(), 1e-6)


def heavy_blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur past what camera() draws: a car passing at dusk, a lens out of focus."""
    if rng.random() < 0.5:
        return cv2.GaussianBlur(image, (0, 0), rng.uniform(0.8, 2.2))
    return cv2.filter2D(image, -1, motion_kernel(int(rng.integers(4, 13)), rng.uniform(0, np.pi)))


def _usual_blur(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    h, w = image.shape[:2]
    roll = rng.random()
    if roll < 0.3 * strength:
        return cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.2) * strength)
    if roll < 0.5 * strength:
        length = int(rng.integers(2, 3 + int(4 * strength)))
        return cv2.filter2D(image, -1, motion_kernel(length, rng.uniform(0, np.pi)))
    if rng.random() < 0.3 * strength:  # a low-resolution sensor or a digital zoom
        f = rng.uniform(0.5, 0.85)
        small = cv2.resize(image, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return image


def processor(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a phone's or dashcam's image processor does between the sensor and the codec (float
    BGR in and out): noise reduction that smooths fine detail away, then sharpening that draws a
    light rim beside every dark stroke and a dark one beside every light stroke, as the real
    reference photos show around the plates' characters."""
    if rng.random() < 0.3:
        image = cv2.bilateralFilter(image, 5, rng.uniform(10, 40), rng.uniform(1, 3))
    if rng.random() < 0.6:
        amount = rng.uniform(0.3, 1.3)
        soft = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.6, 1.6))
        image = cv2.addWeighted(image, 1 + amount, soft, -amount, 0)
    return image


def camera(image: np.ndarray, rng: np.random.Generator, strength: float = 1.0, blur: float = 0.0) -> np.ndarray:
    """The sensor, its image processor and the codec: takes float or uint8 BGR, returns uint8
    BGR. `blur`: the share of pictures given heavy_blur() instead of the usual blur (at 0 the
    draws are as they always were, so a seed gives the same pictures)."""
    out = np.clip(image.astype(np.float32), 0, 255)
    if blur and rng.random() < blur:
        out = heavy_blur(out, rng)
    else:
        out = _usual_blur(out, rng, strength)
    if rng.random() < 0.8:  # read noise plus shot noise that grows with brightness
        sigma = rng.uniform(1, 7) * strength + np.sqrt(np.maximum(out, 0)) * rng.uniform(0, 0.5)
        out = out + rng.standard_normal(out.shape, dtype=np.float32) * sigma
    # Its own stream of draws (spawned: the parent's next draws stay what they were), so a seed
    # still draws the same plates and scenes as before this step was added, only processed.
    out = processor(np.clip(out, 0, 255).astype(np.float32), rng.spawn(1)[0])
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        quality = int(rng.uniform(35, 95) if strength >= 1 else rng.uniform(60, 95))
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return out
