"""A 2-layer BERT with random weights and a word-level vocabulary, built in the test:
the real loading and training code runs on it with no download."""
import re
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizer

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_tiny_bert(folder: Path, texts: list[str], seed: int = 0) -> Path:
    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    folder.mkdir(parents=True, exist_ok=True)
    # transformers 5 takes the vocabulary itself (`vocab_file=` is silently ignored)
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(SPECIAL + words)}, do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(SPECIAL) + len(words), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
