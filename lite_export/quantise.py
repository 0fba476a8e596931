"""INT8 variant of a bundle: post-training quantisation (Paddle's built-in ``PostTrainingQuantization``,
the engine PaddleSlim's ``quant_post_static`` wraps), then ``opt`` for ARM and x86, then accuracy on the
validation splits against the FP32 ``.nb``.

    python -m lite_export quantise build/lite/mobile [--calibration-images 48] [--eval-images 50]

Calibration uses training images only: detector inputs at the default shrink, classifier crops of the
faces the FP32 model finds. The INT8 files are listed in ``model_config.json`` only when the accuracy
loss is within ``MAX_AP_LOSS``; the measurements are recorded either way (``int8`` section).
"""
import argparse
import json
import logging
import shutil
from pathlib import Path

from lite_export.app_config import read_app_config, write_app_config
from lite_export.convert import run_opt
from lite_export.export import lite_files
from lite_export.verify import spread
from maskhub.inference.quantise import calibration_inputs as runtime_calibration_inputs

log = logging.getLogger(__name__)

MAX_AP_LOSS = 0.01          # absolute AP (0..1) the INT8 files may lose on any validation metric
# the ONNX-style quantize_linear format makes PTQ fail at random ('graph shouldn't contain cycle',
# depending on PYTHONHASHSEED) on these graphs; the fake_quantize format converts reliably
ONNX_FORMAT = False
# Only conv2d is quantised: Paddle-Lite 2.13's x86 int8 depthwise_conv2d segfaults and its int8
# matmul_v2 (the classifier's fc) returns wrong probabilities (0/1 or NaN); the x86 file must be the
# same graph as the ARM one to be checked. Depthwise convs and the fc are ~3% of the classifier's MACs.
QUANTIZABLE_OPS = ['conv2d']


def calibration_inputs(fp32_detector, n_images):
    """(detector inputs [1,3,h,w] list, classifier crops [1,3,S,S] list): the runtime quantiser's calibration
    set, with the crops one per input as Paddle's quantiser feeds them."""
    det_inputs, crop_batches = runtime_calibration_inputs(fp32_detector, n_images)
    return det_inputs, [crop[None] for batch in crop_batches for crop in batch]


class _Samples:
    """Calibration arrays [1, ...] as a map-style dataset of one-array samples."""

    def __init__(self, arrays):
        self.arrays = arrays

    def __getitem__(self, index):
        return (self.arrays[index][0],)

    def __len__(self):
        return len(self.arrays)


def end_conv_filters(program):
    """Filter names of the convs that read the network input and of the detector's head convs (those whose
    biased output is transposed to NHWC): the layers whose int8 error reaches the outputs unfiltered."""
    block = program.global_block()
    producer = {name: op for op in block.ops for name in op.output_arg_names}
    feeds = {op.output('Out')[0] for op in block.ops if op.type == 'feed'}
    filters = [op.input('Filter')[0] for op in block.ops
               if op.type in ('conv2d', 'depthwise_conv2d') and op.input('Input')[0] in feeds]
    for op in block.ops:
        if op.type != 'transpose2':
            continue
        source = producer.get(op.input('X')[0])
        if source is not None and source.type == 'elementwise_add':
            source = producer.get(source.input('X')[0])
        if source is not None and source.type in ('conv2d', 'depthwise_conv2d'):
            filters.append(source.input('Filter')[0])
    return filters


def quantise_graph(prefix, out_prefix, input_name, samples, algo, keep_ends_float=False):
    """Post-training quantisation of ``<prefix>.pdmodel``, calibrated on ``samples`` (arrays with a batch
    axis of 1) fed to its input ``input_name``. ``keep_ends_float``: leave ``end_conv_filters`` in float."""
    import paddle
    from paddle.static.quantization import PostTrainingQuantization
    prefix, out_prefix = Path(prefix), Path(out_prefix)
    paddle.enable_static()
    try:
        with paddle.static.program_guard(paddle.static.Program()):
            feed = paddle.static.data(name=input_name, shape=[None] + [None] * (samples[0].ndim - 1), dtype='float32')
        loader = paddle.io.DataLoader(_Samples(samples), feed_list=[feed], places=paddle.CPUPlace(),
                                      return_list=False, batch_size=1, shuffle=False)
        skip = None
        if keep_ends_float:
            program, _, _ = paddle.static.load_inference_model(str(prefix), paddle.static.Executor(paddle.CPUPlace()))
            skip = end_conv_filters(program)
            log.info('%s: keeping %d convs in float', prefix.name, len(skip))
        ptq = PostTrainingQuantization(
            executor=paddle.static.Executor(paddle.CPUPlace()), model_dir=str(prefix.parent),
            model_filename=prefix.name + '.pdmodel', params_filename=prefix.name + '.pdiparams',
            data_loader=loader, batch_size=1, batch_nums=len(samples), algo=algo,
            quantizable_op_type=QUANTIZABLE_OPS, weight_quantize_type='channel_wise_abs_max', onnx_format=ONNX_FORMAT,
            skip_tensor_list=skip)
        ptq.quantize()
        ptq.save_quantized_model(str(out_prefix.parent), model_filename=out_prefix.name + '.pdmodel',
                                 params_filename=out_prefix.name + '.pdiparams')
    finally:
        paddle.disable_static()
    return out_prefix


def lite_detector(model_dir, bundle_dir, variant):
    """The ``MaskDetector`` of the bundle's ``variant`` .nb files (for maskhub.evaluation)."""
    from lite_export.app_pipeline import lite_app_detector
    return lite_app_detector(bundle_dir, variant)


def accuracy(detector, eval_images):
    """Face AP on WIDER val, mask AP + classifier accuracy on GT crops of mask val (maskhub.evaluation)."""
    from maskhub.data.splits import mask_samples, wider_samples
    from maskhub.evaluation.coco import FACE
    from maskhub.evaluation.evaluate import evaluate
    shrink = detector.config.defaults.shrink
    wider, _ = evaluate(detector, spread(wider_samples('val'), eval_images), shrink, progress=False)
    mask, _ = evaluate(detector, spread(mask_samples('val'), eval_images), shrink, progress=False)
    return {'wider_val_face_ap': wider['ap'][FACE]['ap'], 'mask_val_face_ap': mask['ap'][FACE]['ap'],
            'mask_val_map': mask.get('mask_map'),
            'mask_val_gt_crop_accuracy': mask.get('classifier_on_gt', {}).get('accuracy'),
            'images_each': eval_images, 'shrink': shrink}


def file_sizes(bundle_dir, files):
    return {net: (Path(bundle_dir) / rel).stat().st_size for net, rel in files.items()}


# which validation metrics each network alone decides (face AP ignores labels; GT-crop accuracy ignores
# the detector); mask_val_map depends on both and is reported only
NETWORK_METRICS = {'detector': ('wider_val_face_ap', 'mask_val_face_ap'),
                   'classifier': ('mask_val_gt_crop_accuracy',)}


def simulated_detector(model_dir, int8_dir):
    """The quantised graphs run by Paddle Inference as float fake-quant programs (oneDNN off, so no int8
    kernels): the accuracy the quantisation itself allows, apart from any runtime's int8 kernels."""
    from maskhub.config import ModelConfig
    from maskhub.inference.pipeline import MaskDetector
    from maskhub.inference.predictor import PaddleInferenceRunner
    config = ModelConfig.from_yaml(Path(model_dir) / 'model.yml')
    return MaskDetector.from_runners(config, PaddleInferenceRunner(Path(int8_dir) / 'detector', use_mkldnn=False),
                                     PaddleInferenceRunner(Path(int8_dir) / 'classifier', use_mkldnn=False),
                                     name='%s[int8 simulated]' % config.name, model_dir=model_dir,
                                     reason='fake-quant graphs on Paddle Inference without oneDNN')


def quantise_bundle(bundle_dir, calibration_images=48, eval_images=50, algo='hist', keep_ends_float=True):
    """Quantise both networks, measure, and keep each network's INT8 file only if its metrics lose at most
    ``MAX_AP_LOSS``; the ``int8_arm`` / ``int8_x86`` variants then use INT8 for the kept networks."""
    from maskhub.inference.pipeline import MaskDetector
    from lite_export.verify import reference_model_dir
    bundle_dir = Path(bundle_dir)
    app_config = read_app_config(bundle_dir)
    for variant in [v for v in app_config['files'] if v.startswith('int8_')]:
        app_config['files'].pop(variant)
    model_dir = reference_model_dir(bundle_dir, app_config)
    det_inputs, crops = calibration_inputs(MaskDetector(str(model_dir), backend='paddle', precision='fp32'),
                                           calibration_images)
    log.info('calibration: %d detector inputs, %d face crops', len(det_inputs), len(crops))
    ready, int8_dir = bundle_dir / 'paddle' / 'lite_ready', bundle_dir / 'paddle' / 'int8'
    shutil.rmtree(bundle_dir / 'int8', ignore_errors=True)
    for net, input_name, samples in (('detector', 'image', det_inputs), ('classifier', 'crops', crops)):
        quantise_graph(ready / net, int8_dir / net, input_name, samples, algo, keep_ends_float and net == 'detector')
        for target in ('arm', 'x86'):
            run_opt(int8_dir / net, target, bundle_dir / 'int8' / target / ('%s.nb' % net))
    int8_files = lite_files(('arm', 'x86'), prefix='int8_')
    app_config['files'].update(int8_files)
    write_app_config(app_config, bundle_dir)        # so lite_detector can find the int8 files
    fp32 = accuracy(lite_detector(model_dir, bundle_dir, 'x86'), eval_images)
    int8 = accuracy(lite_detector(model_dir, bundle_dir, 'int8_x86'), eval_images)
    simulated = accuracy(simulated_detector(model_dir, int8_dir), eval_images)
    losses = {k: fp32[k] - int8[k] for k in fp32 if k.startswith(('wider', 'mask')) and fp32[k] is not None}
    kept = {net: all(losses[m] <= MAX_AP_LOSS for m in metrics if m in losses)
            for net, metrics in NETWORK_METRICS.items()}
    record = {
        'method': 'post-training quantisation (paddle.static.quantization.PostTrainingQuantization, algo %s, '
                  'channel-wise int8 weights, int8 activations of conv2d%s; %d calibration images from the '
                  'train splits, %d face crops)' % (algo, ' except the input and head convs' if keep_ends_float else '',
                                                    len(det_inputs), len(crops)),
        'kept': kept, 'rule': 'a network\'s INT8 file is kept when none of its metrics drops by more than %.3f '
                              '(detector: %s; classifier: %s)' % (MAX_AP_LOSS, ', '.join(NETWORK_METRICS['detector']),
                                                                   ', '.join(NETWORK_METRICS['classifier'])),
        'decided_on': 'Paddle-Lite x86 .nb (fp32 vs int8_x86)',
        'fp32': fp32, 'int8': int8, 'loss': losses, 'int8_graph_simulated_in_paddle': simulated,
        'sizes_bytes': {'fp32_arm': file_sizes(bundle_dir, app_config['files']['arm']),
                        'int8_arm': file_sizes(bundle_dir, int8_files['int8_arm'])},
    }
    rejected = bundle_dir / 'paddle' / 'int8_rejected'
    shutil.rmtree(rejected, ignore_errors=True)
    for target in ('arm', 'x86'):
        for net in NETWORK_METRICS:
            if not kept[net]:
                app_config['files']['int8_' + target][net] = app_config['files'][target][net]
                (rejected / target).mkdir(parents=True, exist_ok=True)
                shutil.move(str(bundle_dir / 'int8' / target / ('%s.nb' % net)), str(rejected / target))
    if not any(kept.values()):
        for variant in int8_files:
            app_config['files'].pop(variant)
    app_config['int8'] = record
    write_app_config(app_config, bundle_dir)
    return record


def main(argv):
    parser = argparse.ArgumentParser(prog='python -m lite_export quantise',
                                     description='INT8 post-training quantisation of a bundle, with accuracy check')
    parser.add_argument('bundle')
    parser.add_argument('--calibration-images', type=int, default=48)
    parser.add_argument('--eval-images', type=int, default=50)
    parser.add_argument('--algo', default='hist',
                        help='PostTrainingQuantization algo: hist, avg, KL (slow), mse, abs_max')
    parser.add_argument('--quantise-ends', action='store_true',
                        help='also quantise the detector\'s input conv and head convs (kept float by default)')
    args = parser.parse_args(argv)
    record = quantise_bundle(args.bundle, args.calibration_images, args.eval_images, args.algo,
                             keep_ends_float=not args.quantise_ends)
    print(json.dumps(record, indent=2))
    return 0
