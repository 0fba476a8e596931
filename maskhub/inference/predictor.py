"""Runners for exported networks: Paddle Inference (oneDNN fp32 / bf16 on CPU, or GPU) and dygraph
(eager Paddle, for tests and training checks). ``maskhub.inference.runtimes`` chooses among these, OpenVINO
and Paddle-Lite.

A runner maps float32 inputs to a list of output arrays. Runners are not thread-safe: the
pipeline serialises calls, and each serving worker process builds its own.
"""
import logging
import os
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def default_threads():
    return max(1, min(int(os.environ.get('MASKHUB_THREADS', os.cpu_count() or 1)), 16))


class PaddleInferenceRunner:
    """One ``paddle.inference`` predictor over ``<prefix>.pdmodel`` / ``<prefix>.pdiparams``.

    CPU uses oneDNN (MKLDNN) with a bounded shape cache, since every new input size creates kernels.
    ``precision='bf16'`` turns on oneDNN's bfloat16 kernels (``enable_mkldnn_bfloat16``); it needs a CPU
    with AVX512-BF16 or AMX (``maskhub.inference.cpu.has_bf16``) and oneDNN.
    """

    def __init__(self, prefix, threads=None, use_gpu=False, use_mkldnn=True, mkldnn_cache=8, precision='fp32',
                 flags=None):
        from paddle import inference

        from maskhub.inference.cpu import has_bf16
        if precision not in ('fp32', 'bf16'):
            raise ValueError("Paddle Inference precision must be 'fp32' or 'bf16', got %r" % (precision,))
        if precision == 'bf16' and (use_gpu or not use_mkldnn or not has_bf16(flags)):
            raise ValueError('Paddle Inference bf16 needs the CPU with oneDNN and AVX512-BF16 or AMX-BF16')
        prefix = Path(prefix)
        model, params = prefix.with_suffix('.pdmodel'), prefix.with_suffix('.pdiparams')
        if not model.exists() or not params.exists():
            raise FileNotFoundError('inference model not found: %s(.pdmodel/.pdiparams)' % prefix)
        config = inference.Config(str(model), str(params))
        if use_gpu:
            config.enable_use_gpu(256, 0)
        else:
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(threads or default_threads())
            if use_mkldnn:
                config.enable_mkldnn()
                config.set_mkldnn_cache_capacity(mkldnn_cache)
                if precision == 'bf16':
                    config.enable_mkldnn_bfloat16()
        config.switch_ir_optim(True)
        config.enable_memory_optim()
        config.disable_glog_info()
        self.predictor = inference.create_predictor(config)
        self.input_names = self.predictor.get_input_names()
        self.output_names = self.predictor.get_output_names()
        self.precision = precision
        self.description = 'paddle-inference(%s, %s)' % (prefix.name, 'gpu' if use_gpu else
                                                         'cpu%s %s x%d' % ('+onednn' if use_mkldnn else '', precision,
                                                                           threads or default_threads()))

    def __call__(self, *inputs):
        for name, array in zip(self.input_names, inputs):
            handle = self.predictor.get_input_handle(name)
            handle.reshape(array.shape)
            handle.copy_from_cpu(np.ascontiguousarray(array, np.float32))
        self.predictor.run()
        return [self.predictor.get_output_handle(n).copy_to_cpu() for n in self.output_names]


class DygraphRunner:
    """Runs a ``paddle.nn.Layer`` (e.g. ``DetectorForInference``) eagerly, without gradients."""

    def __init__(self, layer, threads=None):
        if threads:
            from paddle.base import core
            core.set_num_threads(threads)     # eager CPU kernels' math-library threads (process-wide)
        self.layer = layer
        self.layer.eval()
        self.precision = 'fp32'
        self.description = 'dygraph(%s)' % type(layer).__name__

    def __call__(self, *inputs):
        import paddle
        with paddle.no_grad():
            outs = self.layer(*[paddle.to_tensor(np.ascontiguousarray(a, np.float32)) for a in inputs])
        outs = outs if isinstance(outs, (tuple, list)) else [outs]
        return [o.numpy() for o in outs]
