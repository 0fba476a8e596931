"""Frozen parts of a training step, run through OpenVINO instead of Paddle's dygraph.

On these CPUs Paddle's eager convolutions are slow: at batch 8 x 320 x 320 the frozen backbone of
mobile_crowd took 0.75 s per forward pass in dygraph and 0.066 s compiled by OpenVINO (f32, same outputs
within 2e-6; measured 2026-12-01 on a 2-core AMD EPYC). When only new layers train, their frozen inputs
(the backbone's feature maps, or a teacher's outputs) need no graph for the backward pass, so they can come
from a compiled copy of the same weights.
"""
import tempfile
from pathlib import Path

import numpy as np
import paddle

from maskhub.inference.openvino_runner import OpenVINORunner


class _Call(paddle.nn.Layer):
    def __init__(self, fn, owner):
        super().__init__()
        self.owner = owner          # registers the weights, so jit.save stores them
        self.fn = fn

    def forward(self, image):
        return self.fn(image)


class CompiledForward:
    """``fn(image)`` (a method of ``owner``, a Layer whose weights stay fixed) compiled by OpenVINO: called on
    an NCHW float32 array (any batch and size), returns its outputs as paddle tensors without gradient.
    ``precision`` 'bf16' trades exactness for speed (for soft targets, where the last digits do not matter)."""

    def __init__(self, owner, fn, threads=None, precision='fp32'):
        frozen = [name for name, p in owner.named_parameters() if not p.stop_gradient]
        if frozen:
            raise ValueError('a compiled forward pass needs frozen weights; trainable: %s' % frozen[:3])
        was_training = owner.training
        owner.eval()
        self._dir = tempfile.TemporaryDirectory(prefix='maskhub_frozen_')
        prefix = Path(self._dir.name) / 'frozen'
        paddle.jit.save(_Call(fn, owner), str(prefix),
                        input_spec=[paddle.static.InputSpec([None, 3, None, None], 'float32', 'image')])
        if was_training:
            owner.train()
        self.runner = OpenVINORunner(prefix, precision=precision, threads=threads)

    def __call__(self, image):
        x = image.numpy() if isinstance(image, paddle.Tensor) else np.asarray(image, np.float32)
        return tuple(paddle.to_tensor(out) for out in self.runner(x))
