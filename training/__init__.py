"""secnews training (installed as secnews.training): data, validation, models, evaluation and
the model directory."""
from .modeldir import load

__all__ = ["load"]
