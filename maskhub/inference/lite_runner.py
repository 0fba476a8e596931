"""Runner for Paddle-Lite optimised models (``.nb``): the ``lite`` backend of ``maskhub.inference.runtimes``.

    runner = PaddleLiteRunner('build/lite/mobile/x86/detector.nb')
    loc, conf, landmarks = runner(image_nchw)

Shape safety: with paddlelite 2.13rc0 on x86, running one predictor on an input smaller than an earlier
one corrupts the heap (``double free or corruption``, ``free(): invalid next size``, or silently bad
memory), because buffers planned for the first shape are reused. So a predictor here only ever sees one
input shape: the runner keeps one predictor per distinct input shape (a small LRU cache) and builds a
fresh one for a new shape. Creating a predictor from an ``.nb`` file costs ~15 ms for the mobile
detector, far below one detector run, and nothing when the shape repeats (video, fixed camera size).
Padding to a never-shrinking size was rejected: it changes the detector's outputs (the squeeze-excitation
global pooling and the prior layout depend on the true input size).

Optionally ``batch_size`` splits the leading axis into chunks of exactly that many rows (the last one
zero-padded, its extra rows dropped): every call then reuses one shape, which suits the classifier.
"""
from collections import OrderedDict
from pathlib import Path

import numpy as np


class PaddleLiteRunner:
    """Paddle-Lite ``MobileConfig`` predictors over one ``.nb`` file, one predictor per input shape.

    Args:
        nb_path: optimised model file written by Paddle-Lite ``opt`` for the running target (x86 on a PC).
        max_shapes: predictors kept alive at once (least recently used ones are dropped).
        batch_size: if set, run the leading axis in fixed chunks of this size (see module docstring).
        precision: what the file holds ('fp32', or 'int8' for a quantised bundle variant), for reports.
    """

    def __init__(self, nb_path, max_shapes=4, batch_size=None, precision='fp32'):
        from paddlelite import lite
        self._lite = lite
        self.nb_path = Path(nb_path)
        if not self.nb_path.is_file():
            raise FileNotFoundError('Paddle-Lite model not found: %s' % self.nb_path)
        self.max_shapes = max(1, int(max_shapes))
        self.batch_size = int(batch_size) if batch_size else None
        self.precision = precision
        self._predictors = OrderedDict()
        self.predictors_created = 0
        probe = self._new_predictor()
        self._unused = probe            # serves the first input shape
        self.input_names = list(probe.get_input_names())
        self.output_names = list(probe.get_output_names())
        self.runtime_version = probe.get_version()
        self.description = 'paddle-lite %s (%s, predictor per input shape%s)' % (
            self.runtime_version, self.nb_path.name, ', batch %d' % self.batch_size if self.batch_size else '')

    def _new_predictor(self):
        config = self._lite.MobileConfig()
        config.set_model_from_file(str(self.nb_path))
        self.predictors_created += 1
        return self._lite.create_paddle_predictor(config)

    def _predictor_for(self, shapes):
        predictor = self._predictors.pop(shapes, None)
        if predictor is None:
            if self._unused is not None:
                predictor, self._unused = self._unused, None
            else:
                predictor = self._new_predictor()
            if len(self._predictors) >= self.max_shapes:
                self._predictors.popitem(last=False)
        self._predictors[shapes] = predictor
        return predictor

    def _run_once(self, inputs):
        shapes = tuple(a.shape for a in inputs)
        predictor = self._predictor_for(shapes)
        for i, array in enumerate(inputs):
            predictor.get_input(i).from_numpy(array)
        predictor.run()
        # copies: the predictor's output buffers are overwritten by its next run
        return [np.array(predictor.get_output(i).numpy(), copy=True) for i in range(len(self.output_names))]

    def __call__(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise ValueError('%s takes %d inputs, got %d' % (self.nb_path.name, len(self.input_names), len(inputs)))
        inputs = [np.ascontiguousarray(a, np.float32) for a in inputs]
        if not self.batch_size:
            return self._run_once(inputs)
        n = inputs[0].shape[0]
        chunks = []
        for start in range(0, n, self.batch_size):
            part = [a[start:start + self.batch_size] for a in inputs]
            rows = part[0].shape[0]
            if rows < self.batch_size:
                part = [np.concatenate([a, np.zeros((self.batch_size - rows,) + a.shape[1:], np.float32)])
                        for a in part]
            chunks.append([out[:rows] for out in self._run_once(part)])
        if not chunks:
            raise ValueError('%s: empty batch' % self.nb_path.name)
        return [np.concatenate(outs) for outs in zip(*chunks)]
