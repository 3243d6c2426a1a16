"""Decoding one image into RGB as the reference loaders do: PIL `Image.open(...).convert("RGB")`.

timm's ImageDataset (input_img_mode="RGB") and torchvision's ImageFolder `pil_loader` both convert
whatever the file holds (grayscale, 16-bit, CMYK, palette, alpha) with PIL's own `convert("RGB")`:
alpha is dropped (not composited), 16-bit values are converted PIL's way. Reported figures were
measured that way, so the harness decodes the same way (recorded as TransformSpec.decode).
"""

from __future__ import annotations

import io
import os

from PIL import Image

ImageSource = bytes | str | os.PathLike

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
    """`img.convert("RGB")`, exactly what timm's and torchvision's loaders do."""
    return img if img.mode == "RGB" else img.convert("RGB")
