"""``model_config.json``: everything an app needs to run the ``.nb`` files and cannot guess.

Built from the model's ``ModelConfig`` only, so every number here is the one maskhub itself uses. The
``lite_export.app_pipeline`` module reads nothing but this file and the ``.nb`` files, and verification
checks that it reproduces Paddle Inference: a field missing or wrong here fails verification.
"""
import json
from pathlib import Path

FORMAT = 'maskhub-lite-bundle/1'
CONFIG_NAME = 'model_config.json'


def detector_section(config):
    d, defaults = config.detector, config.defaults
    return {
        'input': {
            'name': 'image', 'dtype': 'float32', 'layout': 'NCHW', 'shape': [1, 3, 'h', 'w'],
            'channel_order': 'BGR',
            'input_scale': d.input_scale,
            'size': 'any h x w; h = int(H * shrink * input_scale), w = int(W * shrink * input_scale) of the H x W '
                    'image, at least 1',
            'resize': 'bilinear (OpenCV cv2.resize default, INTER_LINEAR)',
            'normalisation': {'formula': '(pixel / 255 - mean_bgr[channel]) / std',
                              'mean_bgr': list(d.mean_bgr), 'std': d.std},
        },
        'outputs': [
            {'index': 0, 'name': 'loc', 'shape': [1, 'P', 4], 'meaning': 'box offsets (dx, dy, dw, dh) per prior'},
            {'index': 1, 'name': 'conf', 'shape': [1, 'P', 2],
             'meaning': 'softmax probabilities per prior: [background, face]; the face score is column 1'},
            {'index': 2, 'name': 'landmarks', 'shape': [1, 'P', 10],
             'meaning': '5 landmark offsets per prior; not used by maskhub'},
        ],
        'in_graph': ['backbone and heads', 'softmax of conf'],
        'app_steps': ['priors', 'decode', 'nms', 'confs_threshold', 'to_image_pixels'],
        'priors': {
            'type': 'density prior boxes (density 1, aspect ratio 1), one square prior per size',
            'levels': [{'stride': s, 'sizes': list(z)} for s, z in d.prior_box],
            'feature_map_size': 'starting from (h, w), halve with rounding up (ceil) once per factor 2 of the stride',
            'order': 'levels in the order listed; within a level cells row-major (y then x); within a cell the '
                     'sizes in the order listed. P = sum over levels of fh * fw * len(sizes)',
            'box': 'centre ((x + 0.5) * stride, (y + 0.5) * stride); box = [cx - s/2, cy - s/2, cx + s/2, cy + s/2] '
                   'divided by [w, h, w, h] of the detector input and clamped to [0, 1]',
            'precision': 'compute in float64, store float32',
        },
        'decode': {
            'type': 'centre-size decoding (SSD box_coder decode_center_size), normalised coordinates',
            'variances': list(d.variances),
            'formula': 'pw, ph, pcx, pcy from the prior; cx = v0 * dx * pw + pcx; cy = v1 * dy * ph + pcy; '
                       'bw = exp(v2 * dw) * pw; bh = exp(v3 * dh) * ph; '
                       'box = [cx - bw/2, cy - bh/2, cx + bw/2, cy + bh/2]',
        },
        'nms': {
            'type': 'greedy NMS, one class (face)',
            'score': 'conf[:, 1]', 'score_threshold': d.nms.score_threshold,
            'score_rule': 'keep priors with score > score_threshold, sort by score descending (stable), '
                          'take the first nms_top_k',
            'nms_top_k': d.nms.nms_top_k, 'iou_threshold': d.nms.iou_threshold,
            'iou_rule': 'drop a box whose IoU with a kept box is > iou_threshold; IoU on normalised '
                        'coordinates without the +1 pixel convention',
            'keep_top_k': d.nms.keep_top_k, 'keep_rule': 'stop once keep_top_k boxes are kept',
            'box_vote_iou': d.nms.box_vote_iou,
            'vote_rule': 'when box_vote_iou > 0: every kept box is replaced by the score-weighted mean of all the '
                         'candidates (those above score_threshold, before NMS) whose IoU with it is >= box_vote_iou, '
                         'itself included; its score stays; 0: no voting. With flip_test only the final NMS '
                         'votes, not the per-pass ones',
        },
        'confs_threshold': {'default': defaults.confs_threshold, 'rule': 'report faces with score > threshold'},
        'to_image_pixels': 'left = trunc(clamp(x1 * w / (shrink * input_scale), 0, W)), '
                           'top = trunc(clamp(y1 * h / (shrink * input_scale), 0, H)), same for right (x2) and '
                           'bottom (y2); w, h: detector input size, W, H: image size',
        'flip_test': {
            'enabled': d.flip_test,
            'rule': 'when enabled: run the detector also on the input mirrored left-right; decode and NMS each '
                    'pass with score threshold max(nms.score_threshold, 2 * confs_threshold - 1) (a fused score is the mean '
                    'of the two passes, so a box below that cannot reach confs_threshold); mirror the second pass back '
                    '(x1, x2 = 1 - x2, 1 - x1); fuse: a box whose best IoU with the other pass is >= 0.3 becomes '
                    'the score-weighted mean of the pair with their mean score, an unmatched box keeps its box at '
                    'half its score (both passes contribute their boxes); then one NMS with score threshold '
                    'max(nms.score_threshold, confs_threshold), then to_image_pixels',
        },
    }


def classifier_section(config):
    c = config.classifier
    return {
        'input': {'name': 'crops', 'dtype': 'float32', 'layout': 'NCHW', 'shape': ['N', 3, c.input_size, c.input_size],
                  'channel_order': 'BGR',
                  'normalisation': {'formula': 'pixel / 256 - 0.5'}},
        'crop': {
            'context': c.crop_context, 'size': c.input_size,
            'recipe': 'square of side context * max(right - left, bottom - top) centred on the box centre '
                      '((left + right) / 2, (top + bottom) / 2) of the integer face box, mapped to size x size '
                      'by an affine warp (cv2.warpAffine, bilinear, black outside the image)',
        },
        'output': {'index': 0, 'name': 'probabilities', 'shape': ['N', len(c.labels)], 'meaning': 'softmax'},
        'labels': list(c.labels),
        'label_rule': 'label = labels[argmax(probabilities)]; confidence = max(probabilities)',
        'batch': 'any N; maskhub runs one face per call on Paddle-Lite',
    }


def build_app_config(config, files, paddle_lite, source=None, graph_rewrites=None, int8=None):
    """The ``model_config.json`` dict.

    Args:
        config: the model's ``ModelConfig``.
        files: {variant: {'detector': relative path, 'classifier': relative path}}, variants like 'arm', 'x86'.
        paddle_lite: {'opt_version': ..., 'python_package': ...}.
        source: where the model came from (model dir, name).
        graph_rewrites: {network: [rewrites applied before opt]}.
        int8: the INT8 decision and measurements, if an INT8 variant was tried.
    """
    defaults = config.defaults
    out = {
        'format': FORMAT,
        'model': {'name': config.name, 'description': config.description, **(source or {})},
        'paddle_lite': {**paddle_lite,
                        'note': 'load the .nb files with a Paddle-Lite runtime of the same version '
                                '(MobileConfig.set_model_from_file); other versions may refuse them'},
        'files': files,
        'pipeline': ['resize by shrink x input_scale + normalise', 'detector', 'priors, decode, NMS (app)',
                     'confs_threshold', 'crop each face + normalise', 'classifier', 'argmax label'],
        'defaults': {'shrink': defaults.shrink, 'confs_threshold': defaults.confs_threshold,
                     'multi_scale_shrinks': list(defaults.multi_scale_shrinks), 'vote_iou': defaults.vote_iou,
                     'multi_scale_rule': 'optional (the official module\'s multi-scale mode): detect at each '
                                         'multi_scale_shrink (not at shrink) with confs_threshold, pool the integer '
                                         'pixel boxes, then box voting: take the best-scored box, gather every box '
                                         'with IoU >= vote_iou (pixel IoU with the +1 convention) into a cluster; '
                                         'a cluster of two or more becomes the score-weighted mean box scored by '
                                         'its best, a lone box is dropped unless it is the last one left; repeat '
                                         'on the rest; keep at most keep_top_k, then score >= confs_threshold'},
        'detector': detector_section(config),
        'classifier': classifier_section(config),
        'runtime_notes': [
            'paddlelite 2.13rc0 on x86: never run one predictor on an input smaller than a previous one '
            '(heap corruption); use one predictor per input shape (maskhub.inference.lite_runner)',
        ],
    }
    if graph_rewrites:
        out['graph_rewrites'] = graph_rewrites
    if int8 is not None:
        out['int8'] = int8
    return out


def write_app_config(app_config, bundle_dir):
    path = Path(bundle_dir) / CONFIG_NAME
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(app_config, f, indent=2, ensure_ascii=False)
        f.write('\n')
    return path


def read_app_config(bundle_dir):
    with open(Path(bundle_dir) / CONFIG_NAME, encoding='utf-8') as f:
        app_config = json.load(f)
    if app_config.get('format') != FORMAT:
        raise ValueError('%s: not a %s file (format %r)' % (bundle_dir, FORMAT, app_config.get('format')))
    return app_config
