"""One module per dashboard view, each with ``NEEDS_RUNS`` and ``render(ctx)``."""
