"""Paddle-Lite export of maskhub models: ``.nb`` files for ARM and x86 plus ``model_config.json``.

    python -m lite_export --model mobile --out build/lite/mobile      # export (+ verify)
    python -m lite_export verify build/lite/mobile                     # x86 .nb vs Paddle Inference
"""
