"""maskhub: face-mask detection (PyramidBox-lite detector + mask classifier) on PaddlePaddle."""
# Bind the system zlib before Paddle loads (maskhub.io.zlib_order explains the clash): libpaddle.so
# exports a zlib of its own and also needs libz.so.1; when libpaddle comes first, libz.so.1 joins
# libpaddle's symbol scope and its internal calls land in libpaddle's copy (SIGSEGV in PNG decoding).
import zlib as _zlib  # noqa: F401  (must stay the first import)

__version__ = '0.1.0'


def __getattr__(name):   # keep `import maskhub` light: Paddle loads on first use
    if name == 'MaskDetector':
        from maskhub.inference.pipeline import MaskDetector
        return MaskDetector
    if name == 'load_detector':
        from maskhub.inference.loader import load_detector
        return load_detector
    raise AttributeError(name)


__all__ = ['MaskDetector', 'load_detector']
