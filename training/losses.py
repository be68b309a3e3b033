"""The multi-task loss: the sum of each task's loss over the rows that carry that task."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .labels import LabelSpace


def task_loss(logits: torch.Tensor, gold: dict[str, torch.Tensor], space: LabelSpace,
              weight: torch.Tensor | None = None) -> torch.Tensor | None:
    """None when no row of the batch carries the task: its head then gets no gradient."""
    if space.type == "multi":
        rows = gold["mask"]
        if not rows.any():
            return None
        return F.binary_cross_entropy_with_logits(logits[rows], gold["y"][rows], pos_weight=weight)
    fine = gold["fine"]
    rows = fine >= 0
    parts, count = [], 0
    if rows.any():
        w = weight[fine[rows]] if weight is not None else torch.ones(int(rows.sum()), device=logits.device)
        parts.append((F.cross_entropy(logits[rows], fine[rows], reduction="none") * w).sum())
        count += int(rows.sum())
    if space.hierarchical:
        # a coarse-only row trains the parent's marginal, log sum_{c in parent} p(c): no sub-type is guessed
        coarse_only = (fine < 0) & (gold["coarse"] >= 0)
        if coarse_only.any():
            member = torch.as_tensor(space.coarse_matrix(), device=logits.device)  # (n_fine, n_coarse)
            logp = F.log_softmax(logits[coarse_only], dim=-1)
            log_parent = torch.logsumexp(logp.unsqueeze(2) + torch.log(member).unsqueeze(0), dim=1)
            parts.append(F.nll_loss(log_parent, gold["coarse"][coarse_only], reduction="sum"))
            count += int(coarse_only.sum())
    return torch.stack(parts).sum() / count if parts else None


def multitask_loss(logits: dict[str, torch.Tensor], gold: dict[str, dict[str, torch.Tensor]],
                   spaces: dict[str, LabelSpace], weights: dict[str, torch.Tensor | None]) -> torch.Tensor | None:
    losses = [l for name in spaces if (l := task_loss(logits[name], gold[name], spaces[name], weights.get(name)))
              is not None]
    return torch.stack(losses).sum() if losses else None


def span_loss(tokens: list[torch.Tensor], tags: list[torch.Tensor], pos_weight: float = 4.0) -> torch.Tensor | None:
    """Token BCE of the actor span head over the tokens that carry a tag (-1: not trained);
    names are a few tokens in hundreds, so a token inside one weighs `pos_weight`."""
    logits = torch.cat([t.reshape(-1) for t in tokens])
    y = torch.cat([t.reshape(-1) for t in tags])
    keep = y >= 0
    if not keep.any():
        return None
    weight = torch.tensor(pos_weight, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits[keep], y[keep].float(), pos_weight=weight)


def lede_loss(alpha: torch.Tensor, present: torch.Tensor, sent_article: torch.Tensor, lede: torch.Tensor,
              n_articles: int) -> torch.Tensor | None:
    """Minus the log of the attention the reader gives each article's lede sentences, averaged
    over the articles whose lede is known and read (`lede`: per batch sentence, is it the
    lede's); None when no article of the batch has one. The shared attention column is the
    one supervised: it is where the reader looks for the reported event."""
    on = lede[present]
    art = sent_article[present]
    mass = torch.zeros(n_articles, dtype=alpha.dtype, device=alpha.device).index_add_(0, art, alpha[:, 0] * on)
    has = torch.zeros(n_articles, dtype=torch.long, device=alpha.device).index_add_(0, art, on.long()) > 0
    if not has.any():
        return None
    return -torch.log(mass[has].clamp(min=1e-6)).mean()
