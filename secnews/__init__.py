"""secnews: event type, target and attributed actor of security news articles.

The installed package is this one name. The repository keeps the design card's folders
(`training/`, `serving/`, `configs/`, `datasets/`); pyproject's `package-dir` installs them as
`secnews.training`, `secnews.serving`, `secnews.configs` and `secnews.datasets`, so nothing
named `training` or `serving` lands in site-packages (a user's own `training/` would shadow it).

    import secnews
    model = secnews.load("models/articles")        # a model directory or a store tag
    model("Two rockets hit a base south of Baghdad ...").event_type.label
"""
from __future__ import annotations

from pathlib import Path

# In a source checkout (tests, benchmarks, a run without installing) the sub-packages are the
# card's folders beside this one; an installed copy has them inside.
_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "training" / "__init__.py").is_file():
    __path__.append(str(_checkout))  # noqa: F821 (a package's own __path__)

from .serving.api import evaluate, load, retrain, train  # noqa: E402
from .training.errors import SecnewsError  # noqa: E402

__all__ = ["load", "train", "evaluate", "retrain", "SecnewsError"]
