"""Rendered mp4 videos for synthetic datasets: one visual pattern per class, plus nuisance.

Each class is a disc of drifting oriented stripes in a class colour at a class position on a grey
background. Confusable classes share colour and orientation and differ a little in position and
hue; order-only classes look identical. Per video: brightness gain, colour tint and background
level; per frame: pixel (luminance) noise. Boundaries cross-fade like the features do. Frames are
written with PyAV (libx264, yuv420p), exactly one per label, and decord reads every one back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from svtas_ray.data.looks import ClassLooks, moving_average

PIXEL_NOISE = 0.08
"""Standard deviation of the per-pixel noise (intensities in [0, 1])."""
CHUNK = 256
"""Frames composed per matrix product: bounds memory for arbitrarily long videos."""


class Renderer:
    """Renders label sequences ``(T,)`` to mp4 files of ``size = (height, width)``.

    ``looks`` groups the classes as the features do; ``rng`` draws the class patterns.
    """

    def __init__(
        self,
        looks: ClassLooks,
        rng: np.random.Generator,
        size: tuple[int, int],
        fps: int,
        blur: int = 1,
    ) -> None:
        self.looks, self.size, self.fps, self.blur = looks, size, fps, blur
        centre, jitter = looks.centre, looks.jitter
        num = len(centre)
        h, w = size
        colour = rng.uniform(0.15, 0.95, (num, 3))
        angle = rng.uniform(0, np.pi, num)
        freq = rng.uniform(2.0, 5.0, num) * 2 * np.pi  # radians per image width
        self.omega = rng.uniform(0.1, 0.4, num)[centre]  # radians per frame
        self.phase = rng.uniform(0, 2 * np.pi, num)[centre]
        pos = rng.uniform(0.3, 0.7, (num, 2))
        radius = rng.uniform(0.2, 0.3, num)
        # Confusable classes: the group's look, slightly moved and tinted; order-only: identical.
        colour = colour[centre] + jitter[:, None] * rng.normal(0, 0.06, (num, 3))
        angle = angle[centre] + jitter * rng.normal(0, 0.15, num)
        pos = pos[centre] + jitter[:, None] * rng.normal(0, 0.07, (num, 2))
        freq, radius = freq[centre], radius[centre]

        y, x = np.meshgrid(np.arange(h) / w, np.arange(w) / w, indexing="ij")
        cy, cx = pos[:, 0, None, None] * h / w, pos[:, 1, None, None]
        mask = ((y - cy) ** 2 + (x - cx) ** 2 < radius[:, None, None] ** 2).astype(np.float32)
        wave = freq[:, None, None] * (
            x * np.cos(angle)[:, None, None] + y * np.sin(angle)[:, None, None]
        )
        paint = 0.5 * mask[..., None] * np.clip(colour, 0, 1)[:, None, None, :]  # (C, H, W, 3)
        # pattern(t) = paint * (1 + sin(wave + omega t)) = A + cos(omega t) B + sin(omega t) S,
        # so a chunk of frames is one product of per-frame coefficients with the stacked bases.
        basis = [paint - 0.4 * mask[..., None], paint * np.sin(wave)[..., None]]
        basis.append(paint * np.cos(wave)[..., None])
        self.basis = np.concatenate([b.reshape(num, -1) for b in basis]).astype(np.float32)

    def frames(self, labels: np.ndarray, rng: np.random.Generator) -> Iterator[np.ndarray]:
        """The frames of ``labels`` ``(T,)`` as uint8 chunks ``(n, H, W, 3)``, in order."""
        h, w = self.size
        weights = moving_average(self.looks.weights(labels, rng), self.blur)  # (T, C)
        gain = float(np.exp(rng.normal(0, 0.15)))
        tint = rng.normal(0, 0.04, 3).astype(np.float32)
        level = float(rng.uniform(0.35, 0.55))
        for start in range(0, len(labels), CHUNK):
            wt = weights[start : start + CHUNK].astype(np.float32)
            t = np.arange(start, start + len(wt))[:, None]
            angle = self.omega[None, :] * t + self.phase[None, :]
            coef = np.concatenate([wt, wt * np.cos(angle), wt * np.sin(angle)], axis=1)
            img = (coef.astype(np.float32) @ self.basis).reshape(len(wt), h, w, 3)
            img += level
            img *= gain
            img += tint
            img += PIXEL_NOISE * rng.standard_normal((len(wt), h, w, 1), dtype=np.float32)
            np.clip(img, 0.0, 1.0, out=img)
            yield (img * 255 + 0.5).astype(np.uint8)

    def write(self, path: Path, labels: np.ndarray, rng: np.random.Generator) -> None:
        """Render ``labels`` ``(T,)`` to ``path`` (mp4, exactly one frame per label)."""
        h, w = self.size
        with av.open(str(path), mode="w") as container:
            stream = container.add_stream("libx264", rate=self.fps)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            # Constant QP: with CRF, x264's mb-tree lookahead did not give the same bytes twice.
            stream.options = {"qp": "26", "preset": "superfast"}
            pts = 0
            for chunk in self.frames(labels, rng):
                for pixels in chunk:
                    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                    frame.pts, pts = pts, pts + 1
                    container.mux(stream.encode(frame))
            container.mux(stream.encode())
