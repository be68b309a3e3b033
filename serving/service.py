"""The secnews prediction service. Thin on purpose: the model, its labels and its
metrics all come from the model directory in the BentoML model store.

    SECNEWS_MODEL=secnews:latest bentoml serve serving.service:SecNews
"""
from __future__ import annotations

import json
import os

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import bentoml  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from serving.schemas import LIMITS, ArticleList, ArticleResult  # noqa: E402

with bentoml.importing():
    from training import load

MODEL_TAG = os.environ.get("SECNEWS_MODEL", "secnews:latest")
_metadata: dict = {}  # filled once the model is loaded; GET /metadata answers 503 before


async def metadata(request: Request) -> JSONResponse:
    if not _metadata:
        return JSONResponse({"error": "the model is still loading"}, status_code=503)
    return JSONResponse(_metadata)


# mounted at the root, after BentoML's own routes, so that GET /metadata answers without a redirect
@bentoml.asgi_app(Starlette(routes=[Route("/metadata", metadata, methods=["GET"])]), path="/")
@bentoml.service(traffic={"timeout": LIMITS.timeout_s}, workers=1)
class SecNews:
    model = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.predictor = load(self.model.path)
        self.tag = str(self.model.tag)
        metrics = json.loads(open(os.path.join(self.model.path, "metrics.json")).read())
        _metadata.update({
            "model": self.tag, "kind": self.predictor.manifest["kind"],
            "tasks": [{"name": s.name, "type": s.type, "labels": s.labels, "parents": s.parents or None,
                       "threshold": s.threshold} for s in self.predictor.spaces.values()],
            "metrics": {t: {k: m.get(k) for k in ("macro_f1", "micro_f1", "n")} for t, m in metrics["tasks"].items()},
            "limits": vars(LIMITS)})

    @bentoml.api(route="/classify", batchable=True, max_batch_size=LIMITS.max_batch_size,
                 max_latency_ms=LIMITS.max_latency_ms)
    def classify(self, articles: ArticleList) -> list[ArticleResult]:
        """Label each article with every task of the model, a score, top-k, evidence and an
        `uncertain` flag. Requests are grouped by BentoML's adaptive batcher."""
        answers = self.predictor.predict([a.full_text() for a in articles])
        return [ArticleResult(id=a.id, model=self.tag, **answer) for a, answer in zip(articles, answers)]
