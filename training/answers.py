"""Typed answers: what `secnews.load(...)(text)` returns, and what the service's `/classify`
returns per article (serving/schemas.py extends `ArticleAnswer` with `id` and `model`), so the
Python API and the OpenAPI document describe the same fields."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_serializer


class Answer(BaseModel):
    """An answer leaves out the fields it does not have (no `parent` on a flat task, no
    `span` when the closed-set head decided)."""

    @model_serializer(mode="wrap")
    def _present(self, handler):
        return {k: v for k, v in handler(self).items() if v is not None}


class Score(BaseModel):
    label: str
    score: float


class SingleAnswer(Answer):
    label: str = Field(description="the answer (for a hierarchical task, the fine label)")
    score: float = Field(description="its calibrated probability")
    top_k: list[Score] = Field(description="the best labels, best first")
    uncertain: bool = Field(description="the score is below the task's threshold, or the article reports "
                                        "no codable event")
    parent: str | None = Field(None, description="the coarse label above `label` (hierarchical tasks)")
    parent_score: float | None = None
    evidence: str | None = Field(None, description="the sentence of the article that supports the answer")


class ClosedSet(Score):
    """What the closed-set actor head answered, when the span head or the places decided instead."""


class ActorAnswer(SingleAnswer):
    """The attributed actor. With a span head, `label` is the name the article gives the
    group said to be behind the event (normalised; linked to a known actor when it is one),
    `mention`/`span` where it stands (character offsets in the article as read: the title, a
    blank line, the text), `evidence` the sentence holding it; otherwise the closed-set head's
    label."""
    known: bool | None = Field(None, description="the name is a known actor (closed-set label, alias table or "
                                                 "analysts' registry); false: a name the model read but does not know")
    decided_by: str | None = Field(None, description="'span' (the name read from the text), 'closed' "
                                                     "(the closed-set head), 'places' (the closed-set head's "
                                                     "state force, moved to the country the text's places are in), "
                                                     "'role' (a state force's role word the event's sentence makes "
                                                     "the doer: 'Police shot dead ...', placed in the country of "
                                                     "its places), 'unclaimed' (the text says nobody claimed the event and "
                                                     "attributes it to nobody: Unidentified) or 'event' (the event "
                                                     "is a demonstration, whose actor is the crowd: Protesters or "
                                                     "Rioters)")
    span: list[int] | None = Field(None, description="[start, end) character offsets of the name")
    mention: str | None = Field(None, description="the name as written in the text")
    closed_set: ClosedSet | None = None


class MultiLabel(Score, Answer):
    evidence: str | None = Field(None, description="the sentence that supports this label")


class MultiAnswer(BaseModel):
    labels: list[MultiLabel] = Field(description="the labels chosen, best first")
    scores: dict[str, float] = Field(description="every label's probability")
    uncertain: bool


class ArticleAnswer(BaseModel):
    """One article's answer, one entry per task of the model (the default schema's tasks are
    typed here; a model with other tasks adds its own as plain objects)."""
    model_config = ConfigDict(extra="allow")

    event_type: SingleAnswer | None = None
    target: MultiAnswer | None = None
    actor: ActorAnswer | None = None
    relevance: SingleAnswer | None = None

    @model_serializer(mode="wrap")
    def _tasks_present(self, handler):
        # a task the model does not have is left out
        return {k: v for k, v in handler(self).items() if v is not None}
