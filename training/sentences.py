"""Sentence boundaries: the unit of evidence and of the article reader's attention."""
from __future__ import annotations

import re

_SENTENCE = re.compile(r"(?<=[.!?])[\"'”’)]*\s+(?=[\"'“‘(\[]?[A-Z0-9])|\n\s*\n")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of `text`, stripped, in order; a text
    with no boundary is one sentence. Paragraph breaks (a blank line) always end a sentence."""
    spans, start = [], 0
    for m in _SENTENCE.finditer(text or ""):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text or "")))
    out = []
    for a, b in spans:
        piece = text[a:b]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece.rstrip())
        if trail > lead:
            out.append((a + lead, a + trail))
    return out or [(0, len(text or ""))]


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)] if text else [text]
