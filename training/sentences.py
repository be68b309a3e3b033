"""Sentence boundaries: the unit of evidence and of the article reader's attention."""
from __future__ import annotations

import re

PARAGRAPH_BREAK = re.compile(r"\n\s*\n")  # a blank line: it always ends a sentence too
_SENTENCE = re.compile(r"(?<=[.!?])[\"'”’)]*\s+(?=[\"'“‘(\[]?[A-Z0-9])|" + PARAGRAPH_BREAK.pattern)


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


def paragraph_of(text: str, start: int) -> int:
    """The number of the paragraph (blank-line separated, as sentence_spans reads them) that
    holds character `start` of `text`."""
    return len(PARAGRAPH_BREAK.findall(text, 0, start))


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)] if text else [text]


HEADLINE_WORDS = 25
_FIRST_PARAGRAPH = re.compile(r"\s*([^\n]*\S)[ \t]*\n[ \t]*\n\s*\S")
_CLOSING = "\"'”’)]"


def headline_end(text: str) -> int:
    """Where the text's headline ends (a character offset), 0 when it has none. A headline is
    what `data.article_text` makes of a title: a first paragraph of one line, at most
    HEADLINE_WORDS words, that does not end a sentence (no closing . ! ? : ;), with the body
    after a blank line. A one-sentence lede paragraph ends with its full stop, so it is not one."""
    m = _FIRST_PARAGRAPH.match(text or "")
    if m is None:
        return 0
    line = m.group(1).rstrip(_CLOSING)
    if not line or len(line.split()) > HEADLINE_WORDS or line[-1] in ".!?:;":
        return 0
    return m.end(1)
