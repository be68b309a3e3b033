"""Issue 14: a schema-driven fuzzer (schemathesis, every check) against a real `secnews serve`
of a tiny model on 127.0.0.1 finds no 5xx and no disagreement between the OpenAPI document
and the server, in a bounded run. The long run is benchmarks/fuzz.py."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .test_service import descendants, running_server

pytest.importorskip("schemathesis")
CLI = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")


@pytest.fixture(scope="module")
def fuzz_server(smoke_model, tmp_path_factory):
    with running_server(smoke_model, tmp_path_factory.mktemp("fuzz_home")) as server:
        yield server


def test_fuzzer_finds_no_server_error_and_no_schema_disagreement(fuzz_server, tmp_path):
    workers = set(descendants(fuzz_server["proc"].pid))
    run = subprocess.run([CLI, "run", f"{fuzz_server['url']}/docs.json", "--checks", "all", "--max-examples", "40",
                          "--seed", "0", "--report", "har", "--report-har-path", str(tmp_path / "run.har")],
                         capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-4000:]
    import json

    statuses = [e["response"]["status"] for e in json.loads((tmp_path / "run.har").read_text())["log"]["entries"]]
    assert len(statuses) > 100, f"only {len(statuses)} requests were sent"
    assert not [s for s in statuses if s >= 500], "5xx answers"
    assert {400, 415} <= set(statuses), "the fuzzer should have sent bad bodies and bad content types"
    # the worker that answered is the one that started: nothing crashed and restarted
    assert workers <= set(descendants(fuzz_server["proc"].pid))


def test_bad_content_type_is_415_and_the_document_says_so(fuzz_server):
    import json
    import urllib.request

    url = fuzz_server["url"]
    for path in ("/classify", "/feedback"):
        req = urllib.request.Request(url + path, data=b'{"articles": [{"text": "0"}]}', method="POST",
                                     headers={"content-type": "multipart/form-data"})
        try:
            urllib.request.urlopen(req, timeout=30)
            pytest.fail("a multipart body was accepted")
        except urllib.error.HTTPError as e:
            body = json.loads(e.read())
            assert e.code == 415 and body["detail"][0]["loc"] == ["header", "content-type"]
    spec = json.loads(urllib.request.urlopen(url + "/docs.json", timeout=30).read())
    assert "415" in spec["paths"]["/classify"]["post"]["responses"]
    assert spec["components"]["schemas"]["InvalidArgument"]["properties"]["detail"]["type"] == "array"
    # /classify's answer is documented field by field: the typed answers of the Python API
    schemas = spec["components"]["schemas"]
    result = spec["paths"]["/classify"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert result["items"]["$ref"].endswith("/ArticleResult")
    article = schemas["ArticleResult"]["properties"]
    assert {"id", "model", "event_type", "target", "actor"} <= set(article)
    assert {"label", "score", "top_k", "uncertain", "parent", "evidence"} <= set(schemas["SingleAnswer"]["properties"])
    assert {"known", "decided_by", "span", "mention"} <= set(schemas["ActorAnswer"]["properties"])
    assert {"labels", "scores", "uncertain"} <= set(schemas["MultiAnswer"]["properties"])
    feedback = spec["paths"]["/feedback"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert len(feedback["oneOf"]) == 2 and set(feedback["properties"]["labels"]["properties"]) == \
        {"event_type", "target", "actor"}
