"""Runtimes behind one interface, and the factory that builds a model's two runners.

A *runner* is a callable ``runner(*float32 arrays) -> [output arrays]`` with ``input_names``, ``precision``
and ``description``; the pipeline (``maskhub.inference.pipeline.MaskDetector``) never needs to know which
runtime is behind it. Backends:

- ``paddle``: Paddle Inference on the ``.pdmodel/.pdiparams`` graphs (CPU oneDNN fp32 / bf16, or GPU);
- ``openvino``: OpenVINO's CPU plugin reading the same ``.pdmodel/.pdiparams`` (fp32 / bf16 / int8);
- ``lite``: Paddle-Lite x86 ``.nb`` files (a bundle written by ``python -m lite_export export``);
- ``dygraph``: eager Paddle on the ``.pdparams`` weights (checks and training only, never chosen by auto);
- ``auto``: the fastest runtime and precision that passed the parity rule, for the CPU found (below).

``auto`` on a CPU (the ranking measured by ``python -m maskhub bench``, reports/benchmark.md): OpenVINO
(faster than Paddle Inference at fp32 on the graphs of every model), in bf16 where the CPU has AVX512-BF16
or AMX-BF16 *and* bf16 passed the parity rule, else fp32; Paddle Inference fp32 when OpenVINO is not
installed; Paddle Inference on GPU 0 when one is present (a CUDA build of Paddle and an NVIDIA device;
``use_gpu=False`` keeps the CPU, ``use_gpu=True`` insists). A reduced precision is only ever chosen if it
is listed in ``PARITY_PASSED``: same faces at IoU >= 0.9 with detector scores within 5e-3 of fp32 on real
images, and WIDER val face AP within 0.3 points (``maskhub.inference.parity``; the benchmark re-measures it).
Measured (reports/benchmark.md): OpenVINO bf16 and Paddle bf16 keep the face AP but move some face scores
by 5.2e-3 to 8.6e-3 on the reference + validation images, INT8 (NNCF) by about 5e-2, so none is listed and
``auto`` runs OpenVINO fp32; ``precision='bf16'`` / ``'int8'`` remain available on request.
"""
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from maskhub.inference.cpu import cpu_flags, has_bf16, has_int8

log = logging.getLogger(__name__)

BACKENDS = ('auto', 'paddle', 'openvino', 'lite', 'dygraph')
PRECISIONS = ('fp32', 'bf16', 'int8')
NETWORKS = ('detector', 'classifier')

# (backend, precision) below fp32 that met the parity rule on real images (reports/benchmark.md); auto uses
# no other reduced precision. Empty: bf16 misses the 5e-3 score tolerance (up to 8.6e-3), INT8 by ~5e-2.
PARITY_PASSED = frozenset()


class RuntimeUnavailable(RuntimeError):
    """The requested backend / precision cannot run here (package missing, files missing, CPU lacks it)."""


@dataclass(frozen=True)
class RuntimeChoice:
    backend: str
    precision: str
    reason: str


def openvino_available():
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def gpu_available():
    """A CUDA build of Paddle (``paddlepaddle-gpu``) and an NVIDIA device node: checked without importing Paddle."""
    import glob
    from importlib.metadata import PackageNotFoundError, version
    try:
        version('paddlepaddle-gpu')
    except PackageNotFoundError:
        return False
    return bool(glob.glob('/dev/nvidia[0-9]*'))


def choose_runtime(flags=None, use_gpu=False, openvino_installed=None):
    """The (backend, precision) ``auto`` picks for a CPU with ``flags`` (default: this CPU's).

    Args:
        flags: set of CPU flag names as ``/proc/cpuinfo`` spells them (inject another CPU's for checks).
        use_gpu: True: Paddle Inference on GPU 0, fp32; None: the same when ``gpu_available()``; False: CPU.
        openvino_installed: default: whether ``import openvino`` works.
    """
    flags = cpu_flags() if flags is None else frozenset(flags)
    if use_gpu:
        return RuntimeChoice('paddle', 'fp32', 'GPU requested: Paddle Inference on GPU')
    if use_gpu is None and gpu_available():
        return RuntimeChoice('paddle', 'fp32', 'GPU present: Paddle Inference on GPU')
    if openvino_installed is None:
        openvino_installed = openvino_available()
    if not openvino_installed:
        return RuntimeChoice('paddle', 'fp32', 'openvino not installed: Paddle Inference oneDNN fp32')
    if has_bf16(flags) and ('openvino', 'bf16') in PARITY_PASSED:
        return RuntimeChoice('openvino', 'bf16', 'CPU has %s: OpenVINO bf16'
                             % '/'.join(sorted(f for f in ('avx512_bf16', 'amx_bf16') if f in flags)))
    if has_int8(flags) and ('openvino', 'int8') in PARITY_PASSED:
        return RuntimeChoice('openvino', 'int8', 'CPU has int8 dot products and no bf16: OpenVINO int8')
    if has_bf16(flags):
        return RuntimeChoice('openvino', 'fp32', 'CPU has bf16, but no reduced precision passed the parity rule: '
                                                 'OpenVINO fp32')
    return RuntimeChoice('openvino', 'fp32', 'CPU without bf16: OpenVINO fp32')


def default_precision(backend, flags=None):
    """Precision used when only ``backend`` is given: bf16 where it passed parity and the CPU has it, else fp32."""
    if (backend, 'bf16') in PARITY_PASSED and has_bf16(flags):
        return 'bf16'
    return 'fp32'


def lite_nb_files(model_dir, precision='fp32'):
    """{'detector': .nb, 'classifier': .nb} for a model directory, or raise ``RuntimeUnavailable``.

    Looked for: ``<model dir>/{detector,classifier}.nb``; the bundle the directory belongs to (a bundle's
    ``paddle/`` folder holds its model.yml); ``build/lite/<config name>/`` of this checkout."""
    from maskhub.config import ModelConfig
    from maskhub.inference.registry import REPO_ROOT
    model_dir = Path(model_dir)
    variant = 'x86' if precision == 'fp32' else 'int8_x86' if precision == 'int8' else None
    if variant is None:
        raise RuntimeUnavailable("Paddle-Lite runs 'fp32' or 'int8' .nb files, not %r" % precision)
    if variant == 'x86' and all((model_dir / ('%s.nb' % n)).is_file() for n in NETWORKS):
        return {n: model_dir / ('%s.nb' % n) for n in NETWORKS}
    name = ModelConfig.from_yaml(model_dir / 'model.yml').name
    for bundle in (model_dir.parent, REPO_ROOT / 'build' / 'lite' / name):
        app_config = bundle / 'model_config.json'
        if app_config.is_file():
            files = json.loads(app_config.read_text(encoding='utf-8')).get('files', {}).get(variant)
            if files and all((bundle / files[n]).is_file() for n in NETWORKS):
                return {n: bundle / files[n] for n in NETWORKS}
    raise RuntimeUnavailable('no Paddle-Lite %s .nb files for %s: write a bundle with `maskhub export --model %s` '
                             '(into build/lite/%s)' % (variant, model_dir, name, name))


def int8_ir_file(model_dir, network):
    """The OpenVINO INT8 IR of ``network``: ``<model dir>/<network>.int8.xml``, else the one
    ``python -m maskhub.inference.quantise`` wrote under ``build/openvino_int8/<config name>/``; or None."""
    from maskhub.config import ModelConfig
    from maskhub.inference.registry import REPO_ROOT
    model_dir = Path(model_dir)
    for folder in (model_dir, REPO_ROOT / 'build' / 'openvino_int8' / ModelConfig.from_yaml(model_dir / 'model.yml').name):
        if (folder / ('%s.int8.xml' % network)).is_file():
            return folder / ('%s.int8.xml' % network)
    return None


def build_runner(backend, prefix, precision='fp32', threads=None, use_gpu=False, flags=None, role='detector'):
    """One network's runner. ``prefix``: the graph path without suffix (or the .nb file for 'lite')."""
    if backend == 'paddle':
        from maskhub.inference.predictor import PaddleInferenceRunner
        return PaddleInferenceRunner(prefix, threads=threads, use_gpu=use_gpu, precision=precision, flags=flags)
    if backend == 'openvino':
        if use_gpu:
            raise RuntimeUnavailable('the openvino backend runs on the CPU here; use backend=paddle for the GPU')
        if not openvino_available():
            raise RuntimeUnavailable('backend openvino needs the openvino package (pip install openvino==2026.4.1)')
        from maskhub.inference.openvino_runner import OpenVINORunner
        model_file = int8_ir_file(Path(prefix).parent, role) if precision == 'int8' else None
        return OpenVINORunner(prefix, precision=precision, threads=threads, flags=flags, model_file=model_file)
    if backend == 'lite':
        from maskhub.inference.lite_runner import PaddleLiteRunner
        # the classifier always sees batches of one crop: a predictor per batch size would be rebuilt per image
        return PaddleLiteRunner(prefix, batch_size=1 if role == 'classifier' else None, precision=precision)
    raise ValueError('backend must be one of %s, got %r' % (', '.join(BACKENDS), backend))


def build_runners(model_dir, backend='auto', precision=None, threads=None, use_gpu=False, flags=None):
    """(detector runner, classifier runner, RuntimeChoice) for a model directory.

    Args:
        backend: one of ``BACKENDS``.
        precision: 'fp32', 'bf16', 'int8' or None (auto's choice, else ``default_precision(backend)``).
        flags: CPU flags to decide on (default: this CPU's).
    """
    if backend not in BACKENDS:
        raise ValueError('backend must be one of %s, got %r' % (', '.join(BACKENDS), backend))
    if precision is not None and precision not in PRECISIONS:
        raise ValueError('precision must be one of %s, got %r' % (', '.join(PRECISIONS), precision))
    model_dir = Path(model_dir)
    if backend == 'auto':
        choice = choose_runtime(flags, use_gpu)
        use_gpu = choice.reason.startswith('GPU')
        if precision is not None and precision != choice.precision:
            choice = RuntimeChoice(choice.backend, precision, '%s; precision %s as asked' % (choice.reason, precision))
    else:
        use_gpu = bool(use_gpu)
        precision = precision or default_precision(backend, flags)
        choice = RuntimeChoice(backend, precision, 'backend %s asked' % backend)
    if choice.backend == 'dygraph':
        if choice.precision != 'fp32':
            raise ValueError('the dygraph backend runs fp32 only')
        from maskhub.inference.export import ClassifierForInference, DetectorForInference, load_dygraph
        from maskhub.inference.predictor import DygraphRunner
        _, det, cls = load_dygraph(model_dir)
        return DygraphRunner(DetectorForInference(det), threads), DygraphRunner(ClassifierForInference(cls), threads), choice
    if choice.backend == 'lite':
        files = lite_nb_files(model_dir, choice.precision)
        return (build_runner('lite', files['detector'], choice.precision, threads, use_gpu, flags),
                build_runner('lite', files['classifier'], choice.precision, threads, use_gpu, flags, 'classifier'),
                choice)
    try:
        runners = [build_runner(choice.backend, model_dir / net, choice.precision, threads, use_gpu, flags, net)
                   for net in NETWORKS]
    except ValueError as err:          # a precision this CPU / runtime cannot do
        raise RuntimeUnavailable(str(err)) from err
    return runners[0], runners[1], choice
