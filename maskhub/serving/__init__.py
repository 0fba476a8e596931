"""Serving maskhub models through PaddleHub: the code every hub module shares.

    codec        base64 <-> image bytes
    limits       request / image size limits (environment-configurable)
    validation   checks on the JSON fields of a /predict request
    service      the serving method body: base64 images -> the official result structure
    module_base  ``MaskHubModule``: the PaddleHub module class each hub_modules/<name>/module.py derives from
    server       start / stop ``hub serving`` on a loopback port (tests, load tests)
    loadtest     ``python -m maskhub loadtest``
"""
