"""Serving maskhub models through PaddleHub: the code every hub module shares.

    codec        base64 <-> image bytes
    limits       request / image size limits (environment-configurable)
    validation   checks on the JSON fields of a /predict request
    service      the serving method body: base64 images -> the official result structure
    module_base  ``MaskHubModule``: the PaddleHub module class each hub_modules/<name>/module.py derives from
    app          ``python -m maskhub.serving.app``: PaddleHub's serving app bound to 127.0.0.1, with HTTP 413 limits
    server       start / stop ``hub serving`` (or the app) on a loopback port (tests, load tests)
    loadtest     ``python -m maskhub loadtest``
"""
