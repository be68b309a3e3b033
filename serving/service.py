"""The secnews prediction service. Thin on purpose: the model, its labels and its
metrics all come from the model directory in the BentoML model store.

    SECNEWS_MODEL=secnews:latest bentoml serve serving.service:SecNews
"""
from __future__ import annotations

import json
import os
from typing import Annotated

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import bentoml  # noqa: E402
from bentoml.exceptions import InvalidArgument, NotFound  # noqa: E402
from bentoml.validators import ContentType  # noqa: E402
from secnews.serving.batcher import Batcher  # noqa: E402
from secnews.serving.contract import Contract  # noqa: E402
from secnews.serving.feedback import FeedbackStore  # noqa: E402
from secnews.serving.lanes import LanePool  # noqa: E402
from secnews.serving.lifeline import follow_parent  # noqa: E402
from secnews.serving.overload import Shed  # noqa: E402
from secnews.serving.pages import Pages  # noqa: E402
from secnews.serving.schemas import (  # noqa: E402
    LIMITS,
    Article,
    ArticleId,
    ArticleList,
    ArticleResult,
    FeedbackAck,
    Labels,
    Note,
    is_blank,
)
from secnews.serving.settings import bentoml_options, feedback_db_path, worker_plan  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

with bentoml.importing():
    from secnews.training.modeldir import describe

MODEL_TAG = os.environ.get("SECNEWS_MODEL", "secnews:latest")
# processes, model lanes in each, torch threads in each lane (configs/serve.yaml)
WORKERS, LANES, THREADS = worker_plan(LIMITS)

_metadata: dict = {}  # filled once the model is loaded; GET /metadata answers 503 before
_stores: list = []  # the feedback store, once the service has opened it (GET /feedback reads it)
# the content type said outright: without it BentoML derives it from the list's JSON schema,
# generated anew for every response (55% of the event loop's time at 32 clients, py-spy)
Results = Annotated[list[ArticleResult], ContentType("application/json")]
BATCH_ARTICLES = bentoml.metrics.Histogram(
    name="secnews_batch_articles", documentation="Articles per model call (serving/batcher.py)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))


def recent_feedback(limit: int) -> list[dict] | None:
    return _stores[0].recent(limit) if _stores else None


async def metadata(request: Request) -> JSONResponse:
    if not _metadata:
        return JSONResponse({"error": "the model is still loading"}, status_code=503)
    return JSONResponse(_metadata)


# mounted at the root, after BentoML's own routes, so that GET /metadata answers without a redirect
@bentoml.asgi_app(Starlette(routes=[Route("/metadata", metadata, methods=["GET"])]), path="/")
@bentoml.service(traffic={"timeout": LIMITS.timeout_s}, workers=WORKERS, **bentoml_options(LIMITS))
class SecNews:
    model = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        follow_parent()  # a worker whose server was killed must not keep serving (issue 14)
        # the labels, tasks and kind only: the model itself is loaded by the lanes (serving/lanes.py)
        manifest, config, self.spaces = describe(self.model.path)
        self.tag = str(self.model.tag)
        metrics = json.loads(open(os.path.join(self.model.path, "metrics.json")).read())
        # labels of a from_data task (e.g. actors) are open: analysts name new ones
        open_tasks = {t.name for t in config.tasks if t.labels == "from_data"}
        _metadata.update({
            "model": self.tag, "kind": manifest["kind"],
            "tasks": [{"name": s.name, "type": s.type, "labels": s.labels, "parents": s.parents or None,
                       "threshold": s.threshold, "open": s.name in open_tasks} for s in self.spaces.values()],
            "metrics": {t: {k: m.get(k) for k in ("macro_f1", "micro_f1", "n")} for t, m in metrics["tasks"].items()},
            "limits": {k: v for k, v in vars(LIMITS).items() if k != "feedback_db"}})  # no server paths
        self.feedback_store = FeedbackStore(feedback_db_path(LIMITS), LIMITS.keep_classified)
        _stores.append(self.feedback_store)
        self.open_tasks = open_tasks
        # the model calls run in lane processes (serving/lanes.py); the batcher's lane threads wait on them
        self.lanes = LanePool(self.model.path, LANES, THREADS)
        self.batcher = Batcher(self.read_batch, LIMITS.max_batch_articles, LIMITS.max_batch_chars,
                               size=Article.chars, observe=BATCH_ARTICLES.observe,
                               linger_s=LIMITS.batch_linger_ms / 1000, lanes=LANES, finish=self.finish_batch)

    @bentoml.on_shutdown
    def stop_lanes(self) -> None:
        self.lanes.close()

    @bentoml.api(route="/classify")
    async def classify(self, articles: ArticleList) -> Results:
        """Label each article with every task of the model, a score, top-k, evidence and an
        `uncertain` flag. Requests that arrive while the model is busy share its next call."""
        return await self.batcher(articles)

    def read_batch(self, articles: list[Article]) -> list[dict]:
        return self.lanes.run([a.full_text() for a in articles])

    def finish_batch(self, articles: list[Article], answers: list[dict]) -> list[ArticleResult]:
        self.feedback_store.remember([(a.id, a.title, a.text) for a in articles if a.id], self.tag)
        return [ArticleResult(id=a.id, model=self.tag, **answer) for a, answer in zip(articles, answers)]

    @bentoml.api(route="/feedback")
    def feedback(self, labels: Labels, article: Article | None = None, article_id: ArticleId = None,
                 note: Note = None) -> FeedbackAck:
        """Store an analyst's correction: the article (or the `article_id` of one this service
        classified) with its right labels. Answers only once the correction is on disk."""
        if (article is None) == (article_id is None):
            raise InvalidArgument("give exactly one of `article` (id?, title?, text) or `article_id`")
        if article is None:
            seen = self.feedback_store.classified(article_id)
            if seen is None:
                raise NotFound(f"article_id {article_id!r}: no article with this id was classified here "
                               f"(or it is older than the newest {LIMITS.keep_classified:,}); send `article` instead")
            title, text = seen["title"], seen["text"]
        else:
            article_id, title, text = article.id, article.title, article.text
        clean = {name: self._check_label(name, value) for name, value in labels.items()}
        fid = self.feedback_store.add(text=text, title=title, article_id=article_id, labels=clean,
                                      model=self.tag, note=note)
        return FeedbackAck(feedback_id=fid, article_id=article_id, labels=clean, model=self.tag)

    def _check_label(self, task: str, value):
        spaces = self.spaces
        if task not in spaces:
            raise InvalidArgument(f"labels.{task}: not a task of this model; tasks: {', '.join(spaces)}")
        space = spaces[task]
        if space.type == "multi":
            if not isinstance(value, list):
                raise InvalidArgument(f"labels.{task}: expected a list of labels for a multi-label task, found {value!r}")
            values = list(value)
        else:
            if not isinstance(value, str):
                raise InvalidArgument(f"labels.{task}: expected one label string, found a list {value!r}")
            values = [value]
        for v in values:
            if is_blank(v) or len(v) > LIMITS.max_id_chars:
                raise InvalidArgument(f"labels.{task}: a label must have 1 to {LIMITS.max_id_chars} characters, "
                                      f"not only spaces; found {v!r}")
            # a closed task's label is one of its labels exactly (what /docs.json lists); an open name is trimmed
            if task not in self.open_tasks and not space.knows(v if space.type == "single" else [v]):
                raise InvalidArgument(f"labels.{task}: {v!r} is not a label of this task; expected one of: "
                                      + ", ".join(space.labels + space.coarse))
        if task in self.open_tasks:
            values = [" ".join(v.split()) for v in values]
        return sorted(set(values)) if space.type == "multi" else values[0]


# 415 for a body that is not JSON; error bodies and the OpenAPI document as the server answers
SecNews.add_asgi_middleware(Contract, tasks=lambda: _metadata.get("tasks"), max_label_chars=LIMITS.max_id_chars)
# the analyst's page at /, BentoML's OpenAPI page at /docs, GET /feedback?limit=N
SecNews.add_asgi_middleware(Pages, recent=recent_feedback)
# more work than the service can finish in time: 503 + Retry-After at the door
SecNews.add_asgi_middleware(Shed, max_in_flight=LIMITS.max_in_flight, max_queue_s=LIMITS.max_queue_s)
