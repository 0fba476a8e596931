"""maskhub: face-mask detection (PyramidBox-lite detector + mask classifier) on PaddlePaddle."""
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
