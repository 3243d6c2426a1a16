"""Decoding one image into RGB, whatever the file holds: grayscale, 16-bit, CMYK, palette, alpha."""

from __future__ import annotations

import io
import os
from typing import Union

from PIL import Image

ImageSource = Union[bytes, str, os.PathLike]

# PIL raises DecompressionBombError above 2x this; we refuse anything above it (a 178-megapixel
# default is far beyond any ImageNet photo and a decompression bomb costs GBs of memory).
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485


def open_rgb(src: ImageSource) -> Image.Image:
    """Decode fully (truncated files fail here, not later) and convert to 8-bit RGB."""
    if isinstance(src, (bytes, bytearray)):
        if not src:
            raise ValueError("empty image (0 bytes)")
        img = Image.open(io.BytesIO(src))
    else:
        if os.path.getsize(src) == 0:
            raise ValueError("empty image file (0 bytes)")
        img = Image.open(src)
    if img.width * img.height > MAX_PIXELS:
        raise ValueError(f"image of {img.width}x{img.height} pixels exceeds the {MAX_PIXELS}-pixel decompression-bomb guard")
    img.load()
    return to_rgb(img)


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB the way a viewer would show it: alpha composited on white, 16-bit scaled, CMYK converted."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        import numpy as np

        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        return Image.fromarray(np.clip(a / hi * 255.0 + 0.5, 0, 255).astype("uint8"), "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")
