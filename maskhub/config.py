"""Model configuration: YAML files -> typed dataclasses, validated once.

The config is the only source of prediction defaults (``defaults``) and valid option ranges (``ranges``):
``ModelConfig.options`` fills and checks them for every caller (API, CLI, serving, dashboard).
"""
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Tuple

import yaml

from maskhub.inference.postprocess import NMSParams

CONFIG_DIR = Path(__file__).parent / 'configs'


class ConfigError(ValueError):
    pass


class OptionError(ValueError):
    """A prediction option outside the model config's valid range; the message names the option."""


@dataclass(frozen=True)
class DetectorConfig:
    architecture: str
    prior_box: Tuple[Tuple[int, Tuple[float, ...]], ...]
    variances: Tuple[float, float, float, float] = (0.1, 0.1, 0.2, 0.2)
    mean_bgr: Tuple[float, float, float] = (0.407843, 0.458824, 0.482353)
    std: float = 0.5
    nms: NMSParams = NMSParams()
    context_blocks: int = 0     # residual blocks after the stride-4 fusion (PyramidBoxLiteCrowd only)
    # the network reads the image resized by shrink x input_scale: 2 for the server, whose image pyramid
    # (1x, 0.5x, 0.25x of its input) then has its finest path on the image's own pixels, not on an
    # upsampled shrunk image, at the same compute
    input_scale: float = 1.0
    # also run the detector on the mirrored image and merge both passes' boxes in one NMS (twice the compute)
    flip_test: bool = False
    # False: the official levels' landmark convs are left out (nothing reads landmarks; the landmark output is
    # zeros), the same boxes and scores for 8% less compute in mobile_crowd
    landmark_heads: bool = True

    @property
    def anchors_per_level(self):
        return tuple(len(sizes) for _, sizes in self.prior_box)

    def input_shrink(self, shrink):
        """The resize factor from the image to the network input at the caller's ``shrink``."""
        return shrink * self.input_scale


@dataclass(frozen=True)
class ClassifierConfig:
    architecture: str = 'MaskClassifier'
    input_size: int = 128
    crop_context: float = 1.5
    labels: Tuple[str, ...] = ('NO MASK', 'MASK')


@dataclass(frozen=True)
class Defaults:
    shrink: float = 0.5
    confs_threshold: float = 0.6
    multi_scale_shrinks: Tuple[float, ...] = (0.3, 0.6, 0.9)
    vote_iou: float = 0.3


@dataclass(frozen=True)
class Ranges:
    """Valid prediction options: ``low < shrink <= high`` and ``low <= confs_threshold <= high``."""
    shrink: Tuple[float, float] = (0.0, 4.0)
    confs_threshold: Tuple[float, float] = (0.0, 1.0)

    def check_shrink(self, value, name='shrink'):
        low, high = self.shrink
        value = _finite_number(name, value)
        if not low < value <= high:
            raise OptionError('%s must be in (%g, %g], got %g' % (name, low, high, value))
        return value

    def check_confs_threshold(self, value, name='confs_threshold'):
        low, high = self.confs_threshold
        value = _finite_number(name, value)
        if not low <= value <= high:
            raise OptionError('%s must be in [%g, %g], got %g' % (name, low, high, value))
        return value


def _finite_number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise OptionError('%s must be a finite number, got %r' % (name, value))
    return float(value)


@dataclass(frozen=True)
class ModelConfig:
    name: str
    detector: DetectorConfig
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    defaults: Defaults = field(default_factory=Defaults)
    description: str = ''
    ranges: Ranges = field(default_factory=Ranges)

    def options(self, shrink=None, confs_threshold=None):
        """(shrink, confs_threshold): the config's defaults for None, validated against its ranges
        (``OptionError``, a ValueError naming the option, when outside)."""
        shrink = self.defaults.shrink if shrink is None else shrink
        confs_threshold = self.defaults.confs_threshold if confs_threshold is None else confs_threshold
        return self.ranges.check_shrink(shrink), self.ranges.check_confs_threshold(confs_threshold)

    @classmethod
    def from_dict(cls, raw):
        try:
            det = dict(raw['detector'])
            levels = tuple((int(l['stride']), tuple(float(s) for s in l['sizes'])) for l in det.pop('prior_box'))
            detector = DetectorConfig(
                architecture=det.pop('architecture'), prior_box=levels,
                variances=tuple(float(v) for v in det.pop('variances', (0.1, 0.1, 0.2, 0.2))),
                mean_bgr=tuple(float(v) for v in det.pop('mean_bgr', DetectorConfig.mean_bgr)),
                std=float(det.pop('std', 0.5)), nms=NMSParams(**det.pop('nms', {})),
                context_blocks=int(det.pop('context_blocks', 0)), input_scale=float(det.pop('input_scale', 1.0)),
                flip_test=bool(det.pop('flip_test', False)), landmark_heads=bool(det.pop('landmark_heads', True)))
            if det:
                raise ConfigError('unknown detector keys: %s' % sorted(det))
            if not 0 <= detector.nms.box_vote_iou < 1:
                raise ConfigError('nms.box_vote_iou must be in [0, 1), got %g' % detector.nms.box_vote_iou)
            if detector.context_blocks < 0:
                raise ConfigError('context_blocks must be >= 0, got %d' % detector.context_blocks)
            if not detector.input_scale > 0:
                raise ConfigError('input_scale must be > 0, got %s' % detector.input_scale)
            cls_raw = dict(raw.get('classifier', {}))
            if 'labels' in cls_raw:
                cls_raw['labels'] = tuple(cls_raw['labels'])
            defaults = dict(raw.get('defaults', {}))
            if 'multi_scale_shrinks' in defaults:
                defaults['multi_scale_shrinks'] = tuple(defaults['multi_scale_shrinks'])
            ranges = Ranges(**{k: tuple(float(v) for v in pair) for k, pair in dict(raw.get('ranges', {})).items()})
            config = cls(name=str(raw['name']), description=str(raw.get('description', '')), detector=detector,
                         classifier=ClassifierConfig(**cls_raw), defaults=Defaults(**defaults), ranges=ranges)
            config.options()
            for s in config.defaults.multi_scale_shrinks:
                config.ranges.check_shrink(s, 'multi_scale_shrinks')
            return config
        except OptionError as err:
            raise ConfigError('invalid model config defaults: %s' % err) from err
        except (KeyError, TypeError) as err:
            raise ConfigError('invalid model config: %s' % err) from err

    @classmethod
    def from_yaml(cls, path):
        return cls.from_dict(read_yaml_config(path))

    def to_dict(self):
        d = self.detector
        detector = {'architecture': d.architecture,
                    'prior_box': [{'stride': s, 'sizes': list(z)} for s, z in d.prior_box],
                    'variances': list(d.variances), 'mean_bgr': list(d.mean_bgr), 'std': d.std,
                    'nms': dict(score_threshold=d.nms.score_threshold, nms_top_k=d.nms.nms_top_k,
                                iou_threshold=d.nms.iou_threshold, keep_top_k=d.nms.keep_top_k)}
        if d.nms.box_vote_iou:
            detector['nms']['box_vote_iou'] = d.nms.box_vote_iou
        if d.context_blocks:
            detector['context_blocks'] = d.context_blocks
        if d.input_scale != 1.0:
            detector['input_scale'] = d.input_scale
        if d.flip_test:
            detector['flip_test'] = True
        if not d.landmark_heads:
            detector['landmark_heads'] = False
        return {
            'name': self.name, 'description': self.description,
            'detector': detector,
            'classifier': {'architecture': self.classifier.architecture, 'input_size': self.classifier.input_size,
                           'crop_context': self.classifier.crop_context, 'labels': list(self.classifier.labels)},
            'defaults': {'shrink': self.defaults.shrink, 'confs_threshold': self.defaults.confs_threshold,
                         'multi_scale_shrinks': list(self.defaults.multi_scale_shrinks),
                         'vote_iou': self.defaults.vote_iou},
            'ranges': {'shrink': list(self.ranges.shrink), 'confs_threshold': list(self.ranges.confs_threshold)},
        }

    def to_yaml(self, path):
        with open(path, 'w', encoding='utf-8') as f:
            yaml.safe_dump(self.to_dict(), f, sort_keys=False)


def merge_config(base, override):
    """``base`` with ``override`` laid over it, mappings merged key by key (lists and values replaced)."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = (merge_config(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict)
                       else value)
    return merged


def read_yaml_config(path):
    """A YAML config as a dict; ``_BASE_: other.yml`` (relative to this file) makes it the overrides of that
    config, as in PaddleDetection."""
    path = Path(path)
    with open(path, encoding='utf-8') as f:
        cfg = yaml.safe_load(f) or {}
    base = cfg.pop('_BASE_', None)
    return merge_config(read_yaml_config(path.parent / base), cfg) if base else cfg


def load_builtin_config(name):
    """'pyramidbox_lite_mobile' -> ModelConfig from maskhub/configs/<name>.yml."""
    path = CONFIG_DIR / ('%s.yml' % name)
    if not path.exists():
        raise ConfigError('no config %s (have: %s)' % (path, sorted(p.stem for p in CONFIG_DIR.glob('*.yml'))))
    return ModelConfig.from_yaml(path)
