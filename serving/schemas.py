"""Request and response models of the HTTP API (they appear in the OpenAPI page).

Field limits come from configs/serve.yaml; pydantic's errors name the field and the limit,
and BentoML turns them into a 400."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    field_validator,
    model_serializer,
)
from secnews.training.answers import ArticleAnswer
from secnews.training.data import article_text

from .settings import load_serve_config

LIMITS = load_serve_config()
# "not blank" said the same way by the server and by its OpenAPI document: at least one
# character outside this class (what Python's str.strip() removes, and the BOM)
VISIBLE = (r"[^\u0009-\u000d\u0020\u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f"
           r"\u205f\u3000\ufeff]")


def is_blank(text: str) -> bool:
    return re.search(VISIBLE, text) is None


class Article(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[StrictStr | None, Field(max_length=LIMITS.max_id_chars)] = None
    title: Annotated[StrictStr | None, Field(max_length=LIMITS.max_title_chars)] = None
    text: Annotated[StrictStr, Field(min_length=1, max_length=LIMITS.max_text_chars,
                                     description=f"the article body, at most {LIMITS.max_text_chars:,} characters")]

    @field_validator("text")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if is_blank(value):
            raise ValueError("text is blank: it must contain at least one non-space character")
        return value

    def full_text(self) -> str:
        return article_text(self.title, self.text)

    def chars(self) -> int:
        return len(self.text) + len(self.title or "")


class ArticleResult(ArticleAnswer):
    """One article's answer as `secnews.load(...)(text)` gives it (training/answers.py), with
    the article's `id` (null when none was sent) and the model's tag."""

    id: str | None
    model: str

    @model_serializer(mode="wrap")
    def _tasks_present(self, handler):
        # `id` (null when none was sent) and `model` first, then each task the model has
        data = handler(self)
        return {"id": data.get("id"), "model": data.get("model"),
                **{k: v for k, v in data.items() if k not in ("id", "model") and v is not None}}


ArticleList = Annotated[list[Article], Field(min_length=1, max_length=LIMITS.max_articles,
                                             description=f"1 to {LIMITS.max_articles} articles")]


class FeedbackAck(BaseModel):
    feedback_id: int
    article_id: str | None
    labels: dict[str, str | list[str]]
    model: str


Labels = Annotated[dict[str, StrictStr | list[StrictStr]],
                   Field(min_length=1, description="corrected labels, by task: a label, or a list for a "
                                                   "multi-label task")]
Note = Annotated[StrictStr | None, Field(max_length=LIMITS.max_note_chars)]
ArticleId = Annotated[StrictStr | None, Field(max_length=LIMITS.max_id_chars)]
