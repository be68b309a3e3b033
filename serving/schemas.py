"""Request and response models of the HTTP API (they appear in the OpenAPI page).

Field limits come from configs/serve.yaml; pydantic's errors name the field and the limit,
and BentoML turns them into a 400."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from training.data import article_text

from .settings import load_serve_config

LIMITS = load_serve_config()


class Article(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[StrictStr | None, Field(max_length=LIMITS.max_id_chars)] = None
    title: Annotated[StrictStr | None, Field(max_length=LIMITS.max_title_chars)] = None
    text: Annotated[StrictStr, Field(min_length=1, max_length=LIMITS.max_text_chars,
                                     description=f"the article body, at most {LIMITS.max_text_chars:,} characters")]

    @field_validator("text")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is blank: it must contain at least one non-space character")
        return value

    def full_text(self) -> str:
        return article_text(self.title, self.text)


class Score(BaseModel):
    label: str
    score: float


class SingleAnswer(BaseModel):
    label: str
    score: float
    top_k: list[Score]
    uncertain: bool
    parent: str | None = None
    parent_score: float | None = None
    evidence: str | None = None


class MultiLabel(Score):
    evidence: str | None = None


class MultiAnswer(BaseModel):
    labels: list[MultiLabel]
    scores: dict[str, float]
    uncertain: bool


class ArticleResult(BaseModel):
    """One article's answer: `id`, `model`, then one entry per task of the model
    (for the default schema: event_type, target, actor)."""
    model_config = ConfigDict(extra="allow")

    id: str | None
    model: str


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
