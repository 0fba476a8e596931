"""Fine-tuning of the maskhub detectors and mask classifier (``python -m finetune.train``)."""
