"""Request and response models of the HTTP API (they appear in the OpenAPI page).

Field limits come from configs/serve.yaml; pydantic's errors name the field and the limit,
and BentoML turns them into a 400."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_serializer

from training.data import article_text

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


class Answer(BaseModel):
    """An answer leaves out the fields it does not have (no `parent` on a flat task, no
    `span` when the closed-set head decided), as the Python API does."""

    @model_serializer(mode="wrap")
    def _present(self, handler):
        return {k: v for k, v in handler(self).items() if v is not None}


class Score(BaseModel):
    label: str
    score: float


class SingleAnswer(Answer):
    label: str
    score: float
    top_k: list[Score]
    uncertain: bool
    parent: str | None = None
    parent_score: float | None = None
    evidence: str | None = None


class ClosedSet(Score):
    """What the closed-set actor head answered, when the span head decided instead."""


class ActorAnswer(SingleAnswer):
    """The attributed actor. With a span head, `label` is the name the article gives the
    group said to be behind the event (normalised; linked to a known actor when it is one),
    `mention`/`span` where it stands (character offsets in the article as read: the title, a blank
    line, the text), `evidence` the
    sentence holding it; otherwise the closed-set head's label."""
    known: bool | None = Field(None, description="the name is a known actor (closed-set label, alias table or "
                                                 "analysts' registry); false: a name the model read but does not know")
    decided_by: str | None = Field(None, description="'span' (the name read from the text) or 'closed' "
                                                     "(the closed-set head)")
    span: list[int] | None = Field(None, description="[start, end) character offsets of the name")
    mention: str | None = Field(None, description="the name as written in the text")
    closed_set: ClosedSet | None = None


class MultiLabel(Score, Answer):
    evidence: str | None = None


class MultiAnswer(BaseModel):
    labels: list[MultiLabel]
    scores: dict[str, float]
    uncertain: bool


class ArticleResult(BaseModel):
    """One article's answer: `id`, `model`, then one entry per task of the model (the
    default schema's are described here; a model with other tasks adds its own)."""
    model_config = ConfigDict(extra="allow")

    id: str | None
    model: str
    event_type: SingleAnswer | None = None
    target: MultiAnswer | None = None
    actor: ActorAnswer | None = None
    relevance: SingleAnswer | None = None

    @model_serializer(mode="wrap")
    def _tasks_present(self, handler):
        # `id` stays (null when none was sent); a task the model does not have is left out
        return {k: v for k, v in handler(self).items() if v is not None or k == "id"}


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
