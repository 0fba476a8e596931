"""Rewrites of exported Paddle graphs that Paddle-Lite 2.13 cannot optimise as they are.

Each rewrite keeps the graph's function exactly; verification compares the result with Paddle Inference
running the original graph.

- ``flatten_contiguous_range`` feeding ``matmul_v2`` (``paddle.flatten`` + ``nn.Linear``) makes x86
  ``opt`` crash (segfault in ``variable_place_inference_pass``). A ``reshape2`` to ``[0, -1]`` is the
  same function for a flatten from axis 1 to the last axis, and converts cleanly for ARM and x86.
"""
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _flatten_to_reshape(block):
    """Replace whole-row flattens (axis 1 .. last) by reshape2 [0, -1] in ``block``; returns how many."""
    replaced = 0
    for index, op in enumerate(list(block.ops)):
        if op.type != 'flatten_contiguous_range' or op.attr('start_axis') != 1:
            continue
        x_name, out_name = op.input('X')[0], op.output('Out')[0]
        rank = len(block.var(x_name).shape)
        if op.attr('stop_axis') not in (-1, rank - 1):
            continue
        xshape = block.create_var(name=out_name + '.reshape_xshape', dtype=block.var(x_name).dtype)
        block._insert_op(index, type='reshape2', inputs={'X': [x_name]},
                         outputs={'Out': [out_name], 'XShape': [xshape]}, attrs={'shape': [0, -1]})
        block._remove_op(index + 1)
        replaced += 1
    return replaced


def write_lite_ready_graph(prefix, out_prefix):
    """Load ``<prefix>.pdmodel/.pdiparams``, apply the rewrites, save as ``<out_prefix>.*``; returns the
    list of rewrites applied (empty list: the graph is saved unchanged)."""
    import paddle
    prefix, out_prefix = Path(prefix), Path(out_prefix)
    paddle.enable_static()
    try:
        executor = paddle.static.Executor(paddle.CPUPlace())
        scope = paddle.static.Scope()
        with paddle.static.scope_guard(scope):
            program, feed_names, fetch_vars = paddle.static.load_inference_model(str(prefix), executor)
            block = program.global_block()
            applied = []
            n = _flatten_to_reshape(block)
            if n:
                applied.append('flatten_contiguous_range -> reshape2 x%d' % n)
            program._sync_with_cpp()
            feed_vars = [block.var(name) for name in feed_names]
            paddle.static.save_inference_model(str(out_prefix), feed_vars, fetch_vars, executor, program=program)
    finally:
        paddle.disable_static()
    if applied:
        log.info('%s: %s', prefix.name, ', '.join(applied))
    return applied
