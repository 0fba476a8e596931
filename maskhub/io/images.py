"""Reading images safely: every failure is an ``ImageError`` that names the item and the reason.

Greyscale, RGBA / palette and 16-bit images are converted to 8-bit BGR. Images above
``max_pixels`` are decoded at a reduced size (JPEG decodes at 1/2, 1/4 or 1/8 scale directly,
keeping memory bounded) and ``LoadedImage.scale`` maps boxes back to original pixels; images
above ``refuse_pixels`` are refused outright. In a process that loaded Paddle before maskhub (``hub
serving``, ``hub run``) zlib is unsafe (``maskhub.io.zlib_order``): there every image but a JPEG is
decoded by a clean helper process, with the same limits and answers.
"""
import io
import struct
import zlib
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from maskhub.io.errors import ItemError
from maskhub.io.clean_decoder import clean_decoder
from maskhub.io.paths import input_problem
from maskhub.io.zlib_order import zlib_bound_to_paddle

JPEG_MAGIC = b'\xff\xd8\xff'      # JPEG decoding never touches zlib
DEFAULT_MAX_PIXELS = 16_000_000
DEFAULT_REFUSE_PIXELS = 400_000_000
Image.MAX_IMAGE_PIXELS = None       # we enforce our own limits from the header


class ImageError(ItemError):
    pass


@dataclass
class LoadedImage:
    image: np.ndarray       # uint8 HxWx3 BGR
    scale: float = 1.0      # original pixels per decoded pixel
    original_size: tuple = None   # (width, height)


def _header_size(data, item):
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size, im.format
    except Exception as err:  # PIL raises many types for non-images
        raise ImageError(item, 'not an image (%s)' % type(err).__name__) from None


def _looks_truncated(data, fmt):
    tail = data.rstrip(b'\x00')[-16:]
    if fmt == 'JPEG':
        return b'\xff\xd9' not in tail
    if fmt == 'PNG':
        return b'IEND' not in tail
    return False


def to_bgr8(image, item):
    """Any decoded array (grey, BGRA, 16-bit) -> uint8 HxWx3 BGR."""
    if image is None or image.size == 0:
        raise ImageError(item, 'could not decode image')
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        image = np.clip(image * 255.0, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError(item, 'unsupported pixel type %s' % image.dtype)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    return image


def png_header_only(width, height):
    """The bytes of a PNG whose header claims ``width`` x ``height`` but holds no such pixels: what a
    decompression bomb looks like to the size check (used by the fault and soak tests)."""
    def chunk(kind, payload):
        return struct.pack('>I', len(payload)) + kind + payload + struct.pack('>I', zlib.crc32(kind + payload))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(b'\x00' * 64)) + chunk(b'IEND', b''))


def decode_image(data, item='<bytes>', max_pixels=DEFAULT_MAX_PIXELS, refuse_pixels=DEFAULT_REFUSE_PIXELS):
    """Encoded bytes -> LoadedImage, or ImageError(item, reason)."""
    if not data:
        raise ImageError(item, 'empty file (0 bytes)')
    if not data.startswith(JPEG_MAGIC) and zlib_bound_to_paddle():
        # PNG, TIFF, ... inflate with zlib, unusable in this process (Paddle loaded before maskhub)
        status, value = clean_decoder().decode(bytes(data), item, max_pixels, refuse_pixels)
        if status != 'ok':
            raise ImageError(item, value)
        return LoadedImage(*value)
    (width, height), fmt = _header_size(data, item)
    pixels = width * height
    if pixels > refuse_pixels:
        raise ImageError(item, 'image too large: %dx%d = %.0f MP (limit %.0f MP)'
                         % (width, height, pixels / 1e6, refuse_pixels / 1e6))
    if _looks_truncated(data, fmt):
        raise ImageError(item, 'truncated %s file (no end marker)' % fmt)
    buf = np.frombuffer(data, np.uint8)
    if pixels > max_pixels:
        reduction = next((r for r in (2, 4, 8) if pixels / (r * r) <= max_pixels), 8)
        flag = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}[reduction]
        image = cv2.imdecode(buf, flag)
        if image is None:
            raise ImageError(item, 'could not decode %s image' % fmt)
        scale = width / image.shape[1]
    else:
        image = to_bgr8(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED), item)
        scale = 1.0
    if image is None or image.ndim < 2:
        raise ImageError(item, 'could not decode %s image' % fmt)
    return LoadedImage(to_bgr8(image, item), scale, (width, height))


def read_image(path, max_pixels=DEFAULT_MAX_PIXELS, refuse_pixels=DEFAULT_REFUSE_PIXELS):
    """Image file -> LoadedImage (uint8 BGR), or ImageError naming the file."""
    path = str(path)
    problem = input_problem(path)
    if problem:
        raise ImageError(path, problem)
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as err:
        raise ImageError(path, 'cannot read file (%s)' % err.strerror) from None
    return decode_image(data, path, max_pixels, refuse_pixels)
