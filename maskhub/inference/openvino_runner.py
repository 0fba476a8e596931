"""Runner for OpenVINO's CPU plugin, reading the Paddle inference graph (``.pdmodel``/``.pdiparams``) through
OpenVINO's Paddle frontend: the same files Paddle Inference runs, no conversion step.

    runner = OpenVINORunner('hub_modules/pyramidbox_lite_mobile_mask/model/detector', precision='bf16')
    loc, conf, landmarks = runner(image_nchw)

The model keeps its dynamic input shape (batch, height, width), so one compiled model serves every image
size. ``precision`` maps to the plugin's ``INFERENCE_PRECISION_HINT``: 'fp32' -> f32 (set explicitly: on a
CPU with AMX the plugin's own default is bf16), 'bf16' -> bf16, 'int8' -> a post-training-quantised IR
written by ``python -m maskhub.inference.quantise`` (``model_file``; its non-quantised layers in f32).
"""
import os
import weakref
from pathlib import Path

import numpy as np

from maskhub.inference.cpu import has_bf16

HINTS = {'fp32': 'f32', 'bf16': 'bf16'}

# Fork safety: freeing a compiled model that a parent process created aborts a forked child ("terminate
# called after throwing std::system_error: No such process": its thread pool belongs to the parent).
# Servers that fork workers after loading (gunicorn under `hub serving --use_multiprocess`) replace the
# parent's runners in each child, so in a child the parent's OpenVINO objects are kept alive for good.
_LIVE = weakref.WeakSet()
_INHERITED = []


def _keep_inherited_alive():
    _INHERITED.extend((r.compiled, r.request) for r in list(_LIVE) if r.pid != os.getpid())


os.register_at_fork(after_in_child=_keep_inherited_alive)


class OpenVINORunner:
    """One compiled OpenVINO model and one infer request (not thread-safe: the pipeline serialises calls).

    Args:
        prefix: graph path without suffix (``<prefix>.pdmodel`` + ``.pdiparams``).
        precision: 'fp32', 'bf16' or 'int8'.
        threads: ``INFERENCE_NUM_THREADS``.
        flags: CPU flags to decide on (default: this CPU's).
        model_file: the model to read instead of ``<prefix>.pdmodel`` (the INT8 IR ``.xml``).
    """

    def __init__(self, prefix, precision='fp32', threads=None, flags=None, model_file=None):
        import openvino as ov
        from maskhub.inference.predictor import default_threads
        prefix = Path(prefix)
        if precision == 'int8':
            model_file = Path(model_file) if model_file else None
            if model_file is None or not model_file.is_file():
                raise FileNotFoundError('no INT8 model %s: quantise it first (python -m maskhub.inference.quantise '
                                        '<model>)' % model_file)
            # f32 for the layers NNCF left in float: with the bf16 hint this INT8 graph's outputs are wrong
            # (face scores near 1 everywhere, measured), with f32 they stay close to the fp32 model
            hint = 'f32'
        elif precision in HINTS:
            model_file = prefix.with_suffix('.pdmodel')
            if not model_file.is_file() or not prefix.with_suffix('.pdiparams').is_file():
                raise FileNotFoundError('inference model not found: %s(.pdmodel/.pdiparams)' % prefix)
            if precision == 'bf16' and not has_bf16(flags):
                raise ValueError('precision bf16 needs a CPU with AVX512-BF16 or AMX-BF16; this one has neither')
            hint = HINTS[precision]
        else:
            raise ValueError("OpenVINO precision must be 'fp32', 'bf16' or 'int8', got %r" % (precision,))
        self.threads = int(threads or default_threads())
        core = ov.Core()
        model = core.read_model(str(model_file))
        # no CPU pinning: the detector and the classifier alternate, often on a CPU shared with other jobs,
        # and threads bound to cores that are busy wait for them (measured: lower, steadier latency)
        self.compiled = core.compile_model(model, 'CPU', {'INFERENCE_NUM_THREADS': self.threads,
                                                          'INFERENCE_PRECISION_HINT': hint,
                                                          'PERFORMANCE_HINT': 'LATENCY',
                                                          'ENABLE_CPU_PINNING': False})
        self.request = self.compiled.create_infer_request()
        self.pid = os.getpid()
        _LIVE.add(self)
        self.input_names = [i.get_any_name() for i in self.compiled.inputs]
        self.output_names = [o.get_any_name() for o in self.compiled.outputs]
        self.precision = precision
        self.description = 'openvino %s (%s, %s, x%d)' % (ov.__version__.split('-')[0], model_file.name, hint,
                                                         self.threads)

    def __call__(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise ValueError('%s takes %d inputs, got %d' % (self.description, len(self.input_names), len(inputs)))
        self.request.infer([np.ascontiguousarray(a, np.float32) for a in inputs])
        # copies: the request's output buffers are overwritten by its next run
        return [np.array(self.request.get_output_tensor(i).data, copy=True) for i in range(len(self.output_names))]
