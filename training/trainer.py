"""Fine-tuning loop for the multi-task transformer, top to bottom.

A plain torch loop rather than transformers' Trainer: the batches carry one gold array per
task with -1 / mask for rows that lack it, the loss is masked per task, and the early
stopping metric is the tasks' mean macro-F1 — each of which the Trainer would need
overriding for. Dynamic padding, length-grouped batches, bf16 autocast on CPU, warmup +
linear decay (to the last step or the wall-clock budget, whichever ends first), early
stopping on validation. On CPU a step also takes the fused AdamW, the math attention kernel
and cheaper dropout masks (benchmarks/train_speed.py measures them against torch's defaults)."""
from __future__ import annotations

import contextlib
import copy
import time
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from .config import ConfigError, TrainConfig
from .evaluate import compute_metrics
from .labels import LabelSpace
from .losses import lede_loss, multitask_loss, span_loss
from .sentences import paragraph_of
from .transformer import TransformerBackend, article_batch, pack, use_bf16

Log = Callable[[str], None]


def class_weights(space: LabelSpace, gold: dict[str, np.ndarray], how: str) -> torch.Tensor | None:
    """Single-label task: per-class loss weights (n / count)^0.5, mean 1 over rows.
    Multi-label task: BCE pos_weight (negatives / positives)^0.5 per label, so a label on
    0.3% of rows is not learned as "always no" (the same square-root damping)."""
    if how == "none":
        return None
    if space.type == "multi":
        y = gold["y"][gold["mask"]]
        pos = y.sum(axis=0)
        return torch.tensor(np.where(pos > 0, np.sqrt((len(y) - pos) / np.maximum(pos, 1)), 1.0), dtype=torch.float32)
    fine = gold["fine"]
    counts = np.bincount(fine[fine >= 0], minlength=len(space.labels)).astype(np.float64)
    w = np.where(counts > 0, (counts.sum() / np.maximum(counts, 1)) ** 0.5, 0.0)
    w /= (w[fine[fine >= 0]].mean() if (fine >= 0).any() else 1.0)
    return torch.tensor(w, dtype=torch.float32)


def length_grouped_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                           tokens_per_batch: int | None = None) -> list[np.ndarray]:
    """Shuffle, sort by length inside mega-batches of 50 batches, then shuffle the batches:
    random order, little padding. With `tokens_per_batch`, a batch holds articles up to that
    many tokens (a long article costs what it reads) instead of `batch_size` articles."""
    order = rng.permutation(len(lengths))
    mega = batch_size * 50
    batches = []
    for start in range(0, len(order), mega):
        chunk = order[start:start + mega]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches += (pack(chunk, lengths, tokens_per_batch) if tokens_per_batch
                    else [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)])
    rng.shuffle(batches)
    return batches


def _gold_batch(gold: dict[str, dict[str, np.ndarray]], idx: np.ndarray,
                device: torch.device | str = "cpu") -> dict[str, dict[str, torch.Tensor]]:
    return {task: {k: torch.as_tensor(v[idx]).to(device) for k, v in g.items()} for task, g in gold.items()}


def get_lr(step: int, elapsed: float, total: int, warmup_ratio: float, budget: float | None) -> float:
    """LR multiplier: linear warmup, then linear decay to 0 at whichever end comes first, the
    last step or the wall-clock budget. Decaying by steps alone left a budget-stopped run at
    0.28 of its peak rate (session 5's default model stopped at 1.62 of 2.2 epochs), so the
    checkpoint it kept was never annealed."""
    progress = step / total
    if budget:
        progress = max(progress, elapsed / budget)
    if progress < warmup_ratio:
        return min(1.0, (step + 1) / max(1.0, total * warmup_ratio))
    return max(0.0, (1.0 - progress) / (1.0 - warmup_ratio))


class CheapDropout(nn.Module):
    """nn.Dropout with a mask drawn 8 bytes at a time. torch's CPU bernoulli_ draws one 32-bit
    number per element: 4.9 ms for a 2,048-token x 384 batch here, 19 times a step; eight mask
    bytes per 64-bit draw take 0.6 ms. p is rounded to 1/256 (0.1 -> 26/256 = 0.1016)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.cut = round(p * 256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.cut == 0:
            return x
        n = x.numel()
        draws = torch.randint(-2**63, 2**63 - 1, ((n + 7) // 8,), dtype=torch.int64, device=x.device)
        keep = draws.view(torch.uint8)[:n].view(x.shape) >= self.cut
        return x * keep * (256 / (256 - self.cut))


def _self_attention(module: nn.Module) -> bool:
    """A BERT-style self-attention module: it reads its dropout's p and hands it to the kernel."""
    return type(module).__name__.endswith("SelfAttention")


def cheap_dropout(model: nn.Module) -> int:
    """Swap the model's nn.Dropout modules for CheapDropout (CPU training); returns how many.
    Self-attention modules keep theirs: they only read its p and hand it to the attention
    kernel. The swapped modules hold no weights, so saved model directories do not change."""
    swapped = 0
    for parent in list(model.modules()):
        if _self_attention(parent):
            continue
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, CheapDropout(child.p))
                swapped += 1
    return swapped


def set_attention_dropout(encoder: nn.Module, p: float | None) -> None:
    """train.attention_dropout: BERT-style self-attention modules read their own dropout's p
    at each forward, so setting it there is enough (null keeps the encoder's)."""
    if p is None:
        return
    for module in encoder.modules():
        if _self_attention(module) and isinstance(getattr(module, "dropout", None), nn.Module):
            module.dropout.p = p


def encoder_layers(encoder: nn.Module) -> nn.ModuleList:
    """The encoder's stack of transformer layers (BERT-style `encoder.layer`, DistilBERT-style
    `transformer.layer`)."""
    for path in ("encoder.layer", "transformer.layer", "layers"):
        module = encoder
        for name in path.split("."):
            module = getattr(module, name, None)
        if isinstance(module, nn.ModuleList):
            return module
    raise ConfigError(f"train.freeze_layers: the encoder {type(encoder).__name__} has no layer list "
                      "(encoder.layer, transformer.layer or layers) to freeze")


def freeze(encoder: nn.Module, cfg: TrainConfig) -> int:
    """train.freeze_embeddings / freeze_layers: those parameters keep their pretrained values
    (no gradient is computed for them, the optimiser never sees them); returns how many
    parameters are frozen."""
    parts = []
    if cfg.freeze_embeddings:
        # the word, position and token-type embeddings where the encoder groups them (BERT), else the words
        parts.append(getattr(encoder, "embeddings", None) or encoder.get_input_embeddings())
    if cfg.freeze_layers:
        layers = encoder_layers(encoder)
        if cfg.freeze_layers > len(layers):
            raise ConfigError(f"train.freeze_layers: the encoder has {len(layers)} layers, found {cfg.freeze_layers}")
        parts += list(layers[:cfg.freeze_layers])
    frozen = 0
    for part in parts:
        for p in part.parameters():
            p.requires_grad_(False)
            frozen += p.numel()
    return frozen


def training_attention(device: torch.device):
    """On CPU, train through the math attention kernel: the fused flash kernel's backward took
    28 ms a layer against the math path's ~5 (bf16, 2 cores), and it is the same arithmetic."""
    return sdpa_kernel([SDPBackend.MATH]) if device.type == "cpu" else contextlib.nullcontext()


def optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with the encoder at train.lr and the heads (and reader, span head) at head_lr; no
    weight decay on biases and norms. Fused: one kernel over all parameters, where the default
    per-tensor loop took ~95 ms a step on CPU (train_step moves the version counters it skips)."""
    groups = []
    heads = [model.heads] + [m for m in (model.reader, model.span) if m is not None]
    for part, lr in ((model.encoder, cfg.lr), (nn.ModuleList(heads), cfg.head_lr or cfg.lr)):
        params = [p for p in part.parameters() if p.requires_grad]  # train.freeze_*: frozen ones take no step
        groups += [{"params": [p for p in params if p.ndim > 1], "weight_decay": cfg.weight_decay, "lr": lr},
                   {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0, "lr": lr}]
    return torch.optim.AdamW(groups, lr=cfg.lr, fused=device.type in ("cpu", "cuda"))


def train_step(model: nn.Module, b, gold: dict, spaces: dict[str, LabelSpace], weights: dict, opt,
               bf16: bool, math_attention: bool = True, lede: torch.Tensor | None = None,
               lede_weight: float = 0.0) -> float | None:
    """One optimiser step on one article batch; the loss, or None when no task had gold.
    `math_attention=False` leaves the attention kernel to torch (benchmarks/train_speed.py);
    `lede`: per batch sentence, is it its article's lede's (given only to a model with the
    article reader; its loss counts `lede_weight` times, train.lede_attention)."""
    device = b.input_ids[0].device
    kernel = training_attention(device) if math_attention else contextlib.nullcontext()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16), kernel:
        out = model.read(b.input_ids, b.mask, b.sent_ids, b.sent_article, b.sent_pos, b.n_articles)
    loss = multitask_loss(out.logits, gold, spaces, weights)
    if b.tags is not None and (sl := span_loss(out.tokens, b.tags)) is not None:
        loss = sl if loss is None else loss + sl
    if lede is not None and (ll := lede_loss(out.alpha, out.present, b.sent_article, lede, b.n_articles)) is not None:
        loss = lede_weight * ll if loss is None else loss + lede_weight * ll
    if loss is not None:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        # the fused AdamW writes the weights without moving their version counters, and the
        # bf16 weight copies inference keeps (transformer.keep_bf16_weights) are remade only
        # when that counter moves: without this, validation read the first evaluation's weights
        torch.autograd.graph.increment_version([p for g in opt.param_groups for p in g["params"]])
    opt.zero_grad(set_to_none=True)
    return None if loss is None else loss.item()


def val_score(metrics: dict) -> float:
    """Early-stopping metric: the mean over tasks of macro-F1 (the fine level for event_type)."""
    scores = [m["macro_f1"] for m in metrics.values() if m.get("n")]
    return float(np.mean(scores)) if scores else 0.0


def lede_sentences(texts: list[str], spans: list[list[tuple[int, int]]], ledes: list) -> list[np.ndarray]:
    """Per text, whether each of its sentences (`spans`) is in its lede; `ledes`: per text
    (first paragraph, paragraphs) of a composed article's lede, or None (all False)."""
    out = []
    for text, sp, where in zip(texts, spans, ledes):
        if isinstance(where, (tuple, list)) and len(where) == 2:
            first, count = where
            out.append(np.array([first <= paragraph_of(text, a) < first + count for a, _ in sp], dtype=bool))
        else:
            out.append(np.zeros(len(sp), dtype=bool))
    return out


def fit(backend: TransformerBackend, texts: list[str], gold: dict, val_texts: list[str], val_gold: dict,
        cfg: TrainConfig, log: Log, mentions: list | None = None, ledes: list | None = None) -> dict:
    """`mentions`: per text, the character spans of its actor's name (spans.row_mentions),
    for a model with a span head; `ledes`: per text, where a composed article's lede stands
    (first paragraph, paragraphs) or None, for train.lede_attention."""
    spaces: dict[str, LabelSpace] = backend.spaces
    model, tok = backend.model, backend.tokenizer
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    # training reads the first max_train_windows windows of each text; prediction all of them
    enc = backend.encode(texts, max_windows=backend.cfg.max_train_windows)
    if model.span is not None and mentions is not None:
        enc.tag(mentions)
        tagged = sum(1 for m in mentions if m)
        log(f"actor span head: {tagged:,} texts name their actor, "
            f"{sum(1 for m in mentions if m == []):,} train 'no span'")
    lengths = enc.tokens()
    device = backend.device
    lede_of = None
    if cfg.lede_attention and ledes is not None and model.reader is not None:
        lede_of = lede_sentences(texts, enc.spans, ledes)
        log(f"lede loss (weight {cfg.lede_attention}): {sum(1 for m in lede_of if m.any()):,} composed articles "
            "whose lede the reader is taught to read")
    weights = {name: class_weights(space, gold[name], cfg.class_weighting) for name, space in spaces.items()}
    weights = {name: w.to(device) if w is not None else None for name, w in weights.items()}
    steps_per_epoch = len(length_grouped_batches(lengths, cfg.batch_size, np.random.default_rng(0),
                                                 cfg.tokens_per_batch))
    total = max(1, int(steps_per_epoch * cfg.epochs))
    budget = cfg.max_minutes * 60 if cfg.max_minutes else None
    bf16 = use_bf16("auto" if cfg.bf16 == "auto" else "bf16" if cfg.bf16 else "fp32", device)
    frozen = freeze(model.encoder, cfg)
    opt = optimizer(model, cfg, device)
    set_attention_dropout(model.encoder, cfg.attention_dropout)
    if device.type == "cpu":
        cheap_dropout(model)
    peak = [g["lr"] for g in opt.param_groups]
    log(f"training {total:,} steps ({cfg.epochs} epochs of {steps_per_epoch:,} batches of "
        f"{f'{cfg.tokens_per_batch:,} tokens' if cfg.tokens_per_batch else cfg.batch_size}; {len(texts):,} texts, "
        f"{int(lengths.sum()):,} tokens), reader {backend.cfg.pooling}, "
        f"on {device.type}, bf16 autocast {'on' if bf16 else 'off'} (train.bf16: {cfg.bf16}), "
        f"attention dropout {cfg.attention_dropout if cfg.attention_dropout is not None else 'as the encoder'}, "
        + (f"frozen: {'embeddings, ' if cfg.freeze_embeddings else ''}{cfg.freeze_layers} layers ({frozen:,} parameters), "
           if frozen else "")
        + f"class weighting {cfg.class_weighting}")
    for name, w in weights.items():
        if w is not None and spaces[name].type == "multi":
            log(f"  {name} pos_weight: " + ", ".join(f"{l} {v:.1f}" for l, v in zip(spaces[name].labels, w.tolist())))

    best, best_state, history, bad, step = -1.0, None, [], 0, 0
    start = time.perf_counter()
    stop = None

    def evaluate_now() -> None:
        nonlocal best, best_state, bad, stop
        if not val_texts:
            best_state = copy.deepcopy(model.state_dict())
            return
        model.eval()
        metrics = compute_metrics(spaces, val_gold, backend.predict_proba(val_texts))
        model.train()
        score = val_score(metrics)
        history.append({"step": step, "epoch": round(step / steps_per_epoch, 2), "val_score": round(score, 4),
                        "seconds": round(time.perf_counter() - start, 1)})
        log(f"  step {step:,} (epoch {step / steps_per_epoch:.2f}): validation mean macro-F1 {score:.4f}"
            + (" (best)" if score > best else ""))
        if score > best:
            best, bad = score, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
            if bad >= cfg.patience:
                stop = f"no improvement in {cfg.patience} evaluations"

    model.train()
    running, seen, texts_seen = 0.0, 0, 0
    while step < total and stop is None:
        for idx in length_grouped_batches(lengths, cfg.batch_size, rng, cfg.tokens_per_batch):
            scale = get_lr(step, time.perf_counter() - start, total, cfg.warmup_ratio, budget)
            for g, lr in zip(opt.param_groups, peak):
                g["lr"] = lr * scale
            b = article_batch(enc, idx, tok.pad_token_id, device, headlines=model.headlines)
            lede = torch.from_numpy(np.concatenate([lede_of[i] for i in idx])).to(device) if lede_of else None
            loss = train_step(model, b, _gold_batch(gold, idx, device), spaces, weights, opt, bf16,
                              lede=lede, lede_weight=cfg.lede_attention)
            step += 1
            if loss is not None:
                running, seen = running + loss, seen + 1
            texts_seen += len(idx)
            if step % cfg.log_every == 0:
                elapsed = time.perf_counter() - start
                log(f"  step {step:,}/{total:,} lr x{scale:.3f} loss {running / max(seen, 1):.4f} "
                    f"{texts_seen / elapsed:.1f} texts/s, {elapsed / 60:.1f} min")
                running, seen = 0.0, 0
            if cfg.max_minutes and time.perf_counter() - start > cfg.max_minutes * 60:
                stop = f"time budget of {cfg.max_minutes} minutes reached"
            if step % cfg.eval_every == 0 or step >= total or stop:
                evaluate_now()
            if step >= total or stop:
                break
    if best_state is None:
        evaluate_now()
    model.load_state_dict(best_state)
    model.eval()
    seconds = time.perf_counter() - start
    log(f"training stopped after {step:,} steps ({stop or 'all epochs done'}), {seconds / 60:.1f} min; "
        f"best validation mean macro-F1 {best:.4f}")
    return {"steps": step, "epochs": round(step / steps_per_epoch, 2), "stopped": stop or "all epochs done",
            "seconds": round(seconds, 1), "examples_per_second": round(texts_seen / seconds, 1),
            "best_val_score": round(best, 4), "history": history}
