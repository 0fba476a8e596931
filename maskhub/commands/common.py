"""Options and checks shared by the commands: the model, the output folder, the report flag."""
from pathlib import Path

from maskhub.errors import UsageError
from maskhub.io.paths import new_run_dir  # noqa: F401  (the commands' default output folders)

REPO_ROOT = Path(__file__).resolve().parents[2]
REPORTS_DIR = REPO_ROOT / 'reports'


def add_model_arguments(parser, default_model='mobile'):
    parser.add_argument('--model', default=default_model,
                        help="'mobile', 'mobile_crowd', 'server', a model directory, a hub module directory, "
                             "or paddlehub:MODULE for a PaddleHub module installed in your hub home")
    parser.add_argument('--backend', default='auto', choices=['auto', 'paddle', 'openvino', 'lite', 'dygraph'],
                        help='runtime (auto: the fastest that passed parity on this CPU; see README)')
    parser.add_argument('--precision', default=None, choices=['fp32', 'bf16', 'int8'],
                        help="numeric precision (default: the backend's choice for this CPU; bf16 only where the "
                             "CPU has it)")
    parser.add_argument('--threads', type=int, default=None, help='CPU threads (default: all cores)')
    parser.add_argument('--use-gpu', action='store_true', help='run on GPU 0 (needs the GPU build of Paddle)')


def check_gpu(use_gpu):
    """--use-gpu on a Paddle build without CUDA is a usage error, not a silent fallback to the CPU."""
    if not use_gpu:
        return
    import paddle
    if not paddle.device.is_compiled_with_cuda():
        raise UsageError('--use-gpu: this Paddle build has no GPU support (install requirements-gpu.txt '
                         'for paddlepaddle-gpu, or leave out --use-gpu)')


def load_detector(args):
    """The detector of --model with the runtime options of ``add_model_arguments``."""
    from maskhub.inference.loader import load_detector as load
    check_gpu(args.use_gpu)
    if str(args.model).startswith('paddlehub:'):
        return load(args.model, use_gpu=args.use_gpu)
    return load(args.model, backend=args.backend, precision=args.precision, threads=args.threads,
                use_gpu=args.use_gpu)


def add_out_arguments(parser, default_hint):
    parser.add_argument('--out', default=None, help='output folder (default: %s)' % default_hint)
    parser.add_argument('--exist-ok', action='store_true',
                        help='write into --out even if it already holds files (they may be overwritten)')


def prepare_out(out, exist_ok=False, reuse=False, create=True):
    """Check an output folder before any work: a non-empty folder is refused unless ``exist_ok`` (or
    ``reuse``, e.g. --resume into it); then it is created and checked for writing and free space
    (``maskhub.io.paths.check_output_dir``) unless ``create`` is False. Returns the Path."""
    from maskhub.io.paths import check_output_dir
    out = Path(out)
    existed = out.is_dir() and any(out.iterdir())
    if create:
        check_output_dir(out)
    elif out.exists() and not out.is_dir():
        raise UsageError('--out %s: is a file, not a folder' % out)
    if existed and not (exist_ok or reuse):
        raise UsageError('--out %s already holds files; give a new folder, or --exist-ok to write into it' % out)
    return out


def add_report_argument(parser, report_name):
    parser.add_argument('--report', action='store_true',
                        help='write reports/%s in the repository instead of --out' % report_name)


def report_path(args, report_name):
    """reports/<name> with --report, else None."""
    return REPORTS_DIR / report_name if getattr(args, 'report', False) else None


