"""`secnews` command line. It lives in serving/ because it fronts everything (training
now, serving and scoring later) and imports only run serving -> training."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from secnews.training.errors import SecnewsError

FORMATS = ["native", "acled", "gtd", "muc"]


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _train(args) -> None:
    from .api import train

    print(train(args.config, args.out, data=args.data, data_format=args.format, overrides=args.set, log=_log))


def _evaluate(args) -> None:
    from .api import evaluate

    metrics = evaluate(args.model, args.data, data_format=args.format, split=args.split, out=args.out, log=_log)
    print(json.dumps({"tasks": {t: {k: m.get(k) for k in ("macro_f1", "micro_f1", "n")}
                                | ({"coarse": {k: m["coarse"].get(k) for k in ("macro_f1", "micro_f1", "n")}}
                                   if "coarse" in m else {})
                                for t, m in metrics["tasks"].items()},
                      "n_test": metrics["n_test"], "metrics_file": metrics["metrics_file"]}, indent=2))


def _predict(args) -> None:
    from .api import load

    text = sys.stdin.read() if args.text == "-" else args.text
    if not text.strip():
        raise SecnewsError("TEXT is empty: give the article as an argument, or '-' to read it from stdin")
    model = load(args.model)
    answer = model(text).model_dump(mode="json")
    print(json.dumps({"model": model.manifest.get("name"), **answer}, indent=2, ensure_ascii=False))


def _models_import(args) -> None:
    from secnews.serving.store import import_model

    print(import_model(args.model_dir, name=args.name))


def _models_list(args) -> None:
    from secnews.serving.store import list_models

    models = list_models(args.name)
    if not models:
        _log(f"no models named {args.name!r} in the store ({os.environ.get('BENTOML_HOME', '~/bentoml')})")
    for m in models:
        scores = " ".join(f"{t}={v:.3f}" for t, v in m["metadata"].get("macro_f1", {}).items() if v is not None)
        print(f"{m['tag']}  {m['created']}  {m['labels'].get('kind', '?'):<11} "
              f"parent={m['labels'].get('parent') or '-'}  macro-F1 {scores}")
    candidates = list_models(f"{args.name}-candidate")
    if candidates:
        print(f"retrained models not promoted ({args.name}-candidate):")
        for m in candidates:
            print(f"  {m['tag']}  {m['created']}  parent={m['labels'].get('parent') or '-'}")


def _retrain(args) -> None:
    from .api import retrain

    done = retrain(args.parent, args.data, args.out, data_format=args.format, replay_data=args.replay_data,
                   feedback=(args.db or True) if args.feedback else False, config=args.config, overrides=args.set,
                   force=args.force, log=_log)
    print(json.dumps({"model_dir": str(done.model_dir), "tag": done.tag, "promoted": done.promoted,
                      "forced": done.forced, "reason": done.reason, "comparison": str(done.comparison)}, indent=2))


def _feedback_export(args) -> None:
    from .api import export_feedback

    print(export_feedback(args.db, Path(args.out), log=_log))


def _actors_add(args) -> None:
    from secnews.training.linking import add_to_registry, read_registry

    path = add_to_registry(args.name, args.alias)
    name = " ".join(args.name.split())
    _log(f"{name}: known actor in {path} (aliases: {', '.join(read_registry(path)[name]) or 'none'}); "
         "served models link to it from their next start, retraining finds its mentions")


def _actors_suggest(args) -> None:
    """Actor names analysts sent as corrections that the registry does not hold yet."""
    from collections import Counter

    from secnews.serving.feedback import FeedbackStore
    from secnews.serving.settings import feedback_db_path, load_serve_config
    from secnews.training.linking import read_registry

    path = Path(args.db).expanduser() if args.db else feedback_db_path(load_serve_config())
    if not path.is_file():
        raise SecnewsError(f"no feedback database at {path} (set --db or SECNEWS_FEEDBACK_DB)")
    store = FeedbackStore(path)
    try:
        names = Counter(r["labels"]["actor"] for r in store.rows() if isinstance(r["labels"].get("actor"), str))
    finally:
        store.close()
    known = {n.lower() for name, aliases in read_registry().items() for n in [name, *aliases]}
    new = [(n, c) for n, c in names.most_common() if n.lower() not in known]
    _log(f"{len(new)} actor names in {path} corrections are not in the registry "
         "(add one with: secnews actors add NAME [--alias A])")
    for name, count in new:
        print(f"{count:>5}  {name}")


def _actors_list(args) -> None:
    from secnews.training.linking import read_registry, registry_path

    actors = read_registry()
    if args.json:
        print(json.dumps(actors, indent=2, ensure_ascii=False))
        return
    _log(f"{len(actors)} actors in {registry_path()}")
    for name, aliases in sorted(actors.items()):
        print(name + (f"  ({', '.join(aliases)})" if aliases else ""))


def _port_free(host: str, port: int) -> None:
    """Fail in one line, naming who holds it, when the port is taken (BentoML would die
    later with a traceback ending in 'Address already in use')."""
    import errno
    import socket

    from secnews.serving.lifeline import port_holder

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no conflict
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise SecnewsError(f"--host {host} --port {port}: cannot bind: {e.strerror}") from None
            raise SecnewsError(f"port {port} on {host} is already in use"
                             + (f" by {holder}" if (holder := port_holder(port)) else "")) from None


def _export_onnx(args) -> None:
    from secnews.training.runtime import export

    print(export(Path(args.model), Path(args.out), int8=args.int8, log=_log))


def _report(args) -> None:
    from secnews.serving.report import report

    data = report(args.scored, args.out)
    _log(f"{data['rows']:,} rows ({data['scored']:,} scored, {data['bad']:,} bad) -> {args.out}")
    print(args.out)


def _serve(args) -> None:
    from secnews.serving.store import NAME, find, import_model

    _port_free(args.host, args.port)
    tag = args.model or f"{NAME}:latest"
    if Path(tag).is_dir():  # a model directory: import it once, then serve that version
        tag = find(tag) or import_model(tag)
        _log(f"serving model directory {args.model} as {tag}")
    # glibc gives every thread of the worker's pool its own malloc arena; texts of very
    # different lengths then fragment them and RSS creeps up (benchmarks/soak.py): two arenas
    env = {"MALLOC_ARENA_MAX": "2", **os.environ, "SECNEWS_MODEL": tag, "BENTOML_DO_NOT_TRACK": "true",
           "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "bentoml", "serve", "secnews.serving.service:SecNews", "--host", args.host,
           "--port", str(args.port)]
    _log(f"POST http://{args.host}:{args.port}/classify  (GET /metadata, /livez, /readyz, /metrics; docs at /)")
    os.execvpe(cmd[0], cmd, env)


def _score(args) -> None:
    if args.engine == "spark":
        from secnews.serving.spark import score_spark

        if args.resume:
            raise SecnewsError("--resume is for the local engine; Spark retries failed tasks itself")
        score_spark(args.inputs, args.model, Path(args.out), master=args.master, batch_size=args.batch_size,
                    chunk_size=args.chunk_size, log=_log)
    else:
        from secnews.serving.score import score

        score(args.inputs, args.model, Path(args.out), resume=args.resume, batch_size=args.batch_size,
              chunk_size=args.chunk_size, log=_log)
    print(Path(args.out) / "manifest.json")


def _runtime_options(parser: argparse.ArgumentParser) -> None:
    """Prediction settings for this run, over the model's own (its config.yaml is never edited)."""
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                        help="inference precision (default: the model's, usually auto = bf16 where the CPU has "
                             "bf16 units); sets SECNEWS_PRECISION")
    parser.add_argument("--pack-windows", choices=["true", "false"],
                        help="short windows share encoder rows (default: the model's); sets SECNEWS_PACK_WINDOWS")


def _apply_runtime_options(args) -> None:
    """Through the environment, so that every process that loads the model (the service's
    workers and lanes, Spark's Python workers) reads the same settings."""
    from secnews.training.modeldir import RUNTIME_ENV

    for env, key in RUNTIME_ENV.items():
        value = getattr(args, key, None)
        if value is not None:
            os.environ[env] = value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="secnews", description="Label security news with event type, target and actor.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model from a config; prints the model directory")
    t.add_argument("config", help="YAML config (e.g. configs/baseline.yaml), or the name of a config that ships "
                                  "with secnews: baseline, baseline_articles, default, muc, smoke")
    t.add_argument("--data", nargs="+", help="data files, folders or globs, each optionally FORMAT:PATH "
                   "(e.g. acled:export.csv.gz); they replace data.paths of the config")
    t.add_argument("--format", choices=FORMATS, help="how to read the data (replaces data.format)")
    t.add_argument("--out", help="model directory to create (default models/<config>-<time>)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.seed=3 --set tasks.actor.min_count=5")
    t.set_defaults(func=_train)

    e = sub.add_parser("evaluate", help="score a model on labelled data; prints and writes metrics")
    e.add_argument("model", help="model directory")
    e.add_argument("--data", nargs="+", help="data files, each optionally FORMAT:PATH (default: the model's training data)")
    e.add_argument("--format", choices=FORMATS)
    e.add_argument("--split", choices=["test", "all"], default="test",
                   help="test: the model's split rule applied to this data; all: every row")
    e.add_argument("--out", help="where to write the metrics JSON (default MODEL/evaluations/)")
    e.set_defaults(func=_evaluate)

    r = sub.add_parser("predict", help="label one article; prints JSON")
    r.add_argument("model", help="model directory")
    r.add_argument("text", help="the article text, or '-' to read it from stdin")
    _runtime_options(r)
    r.set_defaults(func=_predict)

    m = sub.add_parser("models", help="the BentoML model store (BENTOML_HOME, default ~/bentoml)")
    msub = m.add_subparsers(dest="models_command", required=True)
    mi = msub.add_parser("import", help="add a model directory as a new version; prints its tag")
    mi.add_argument("model_dir")
    mi.add_argument("--name", default="secnews")
    mi.set_defaults(func=_models_import)
    ml = msub.add_parser("list", help="versions, newest first, with kind, parent and macro-F1")
    ml.add_argument("--name", default="secnews")
    ml.set_defaults(func=_models_list)

    rt = sub.add_parser("retrain", help="a child model from a parent plus new labels; promoted only without regressions")
    rt.add_argument("--from", dest="parent", required=True, help="parent: model directory or store tag (secnews:latest)")
    rt.add_argument("--data", nargs="+", help="new labelled data files")
    rt.add_argument("--format", choices=FORMATS, default="native", help="how to read --data (default native)")
    rt.add_argument("--replay-data", nargs="+", metavar="FILE",
                    help="where the parent's training files are on this machine, when its directory came from "
                         "another one (each found by its sha256; FORMAT:PATH allowed)")
    rt.add_argument("--feedback", action="store_true", help="also train on the corrections posted to /feedback")
    rt.add_argument("--db", help="feedback database (default: configs/serve.yaml feedback_db or SECNEWS_FEEDBACK_DB)")
    rt.add_argument("--config", help="train with this config instead of the parent's (same tasks)")
    rt.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config value, e.g. --set train.epochs=2 --set retrain.tolerance=0.02")
    rt.add_argument("--out", help="child model directory (default models/retrain-<time>)")
    rt.add_argument("--force", action="store_true", help="move latest to the child even if a task regressed "
                                                          "(recorded in its manifest)")
    rt.set_defaults(func=_retrain)

    f = sub.add_parser("feedback", help="analysts' corrections stored by the service")
    fsub = f.add_subparsers(dest="feedback_command", required=True)
    fe = fsub.add_parser("export", help="write the corrections as a native JSONL data file")
    fe.add_argument("--out", required=True, help="file to write (.jsonl)")
    fe.add_argument("--db", help="feedback database (default: configs/serve.yaml feedback_db or SECNEWS_FEEDBACK_DB)")
    fe.set_defaults(func=_feedback_export)

    a = sub.add_parser("actors", help="the analysts' registry of known actors (no retraining needed)")
    asub = a.add_subparsers(dest="actors_command", required=True)
    aa = asub.add_parser("add", help="add a confirmed actor name (and its aliases) to the registry")
    aa.add_argument("name", help="canonical name, e.g. 'Saraya Awliya al-Dam'")
    aa.add_argument("--alias", action="append", default=[], help="another name of the same group (repeatable)")
    aa.set_defaults(func=_actors_add)
    al = asub.add_parser("list", help="list the registry ($SECNEWS_ACTORS or $SECNEWS_HOME/actors.yaml)")
    al.add_argument("--json", action="store_true", help="print JSON {name: [aliases]}")
    al.set_defaults(func=_actors_list)
    ag = asub.add_parser("suggest", help="actor names analysts sent to /feedback that the registry lacks")
    ag.add_argument("--db", help="feedback database (default: configs/serve.yaml feedback_db or SECNEWS_FEEDBACK_DB)")
    ag.set_defaults(func=_actors_suggest)

    c = sub.add_parser("score", help="label an archive of articles into Parquet parts (resumable)")
    c.add_argument("inputs", nargs="+", help=".jsonl/.csv/.parquet files (optionally .gz) or folders of .txt/.html")
    c.add_argument("--model", required=True, help="model directory or store tag (e.g. secnews:latest)")
    c.add_argument("--out", required=True, help="output folder: part-*.parquet, manifest.json")
    c.add_argument("--resume", action="store_true", help="finish a job that stopped: written parts are kept")
    c.add_argument("--batch-size", type=int, default=64, help="token windows per forward pass (transformer)")
    c.add_argument("--chunk-size", type=int, default=2048, help="articles per Parquet part")
    c.add_argument("--engine", choices=["local", "spark"], default="local")
    c.add_argument("--master", default="local[*]", help="Spark master URL (--engine spark), e.g. spark://host:7077")
    _runtime_options(c)
    c.set_defaults(func=_score)

    rp = sub.add_parser("report", help="one self-contained HTML report of a scored archive")
    rp.add_argument("scored", help="the --out folder of `secnews score` (part-*.parquet, manifest.json)")
    rp.add_argument("--out", required=True, help="HTML file to write, e.g. report.html")
    rp.set_defaults(func=_report)

    x = sub.add_parser("export-onnx", help="a copy of a transformer model whose encoder runs on ONNX Runtime")
    x.add_argument("model", help="transformer model directory")
    x.add_argument("--out", required=True, help="the new model directory")
    x.add_argument("--int8", action="store_true", help="quantise the encoder's weights to int8 (dynamic)")
    x.set_defaults(func=_export_onnx)

    v = sub.add_parser("serve", help="serve a model over HTTP (BentoML)")
    v.add_argument("model", nargs="?", help="store tag (default secnews:latest) or a model directory")
    v.add_argument("--port", type=int, default=3000)
    v.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback only)")
    _runtime_options(v)
    v.set_defaults(func=_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    args = build_parser().parse_args(argv)
    _apply_runtime_options(args)
    try:
        args.func(args)
    except SecnewsError as e:  # what the user can fix; anything else is a bug and keeps its traceback
        print(f"secnews {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # the store's own errors (e.g. bentoml.exceptions.NotFound)
        if type(e).__module__.split(".")[0] != "bentoml":
            raise
        print(f"secnews {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
