"""How a prompt template and its sentences become token ids: one shared prefix, then one row per sentence.

A template such as ``Review: {text}\\nSentiment:`` splits at ``{text}``. The text before it is tokenized once
(with the tokenizer's own special tokens, e.g. a BOS) and becomes the shared prefix whose key/value cache is
computed once; each sentence is tokenized together with the text after it. So that a word at the boundary is
tokenized as it would be in running text (a leading space, a SentencePiece word start), each row is tokenized
behind the last word of the prefix (the *anchor*) and the anchor's tokens are dropped by their offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from promptbias.errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

SLOT = "{text}"


@dataclass(frozen=True)
class PromptTemplate:
    """The text around a sentence: ``before`` + sentence + ``after``."""

    before: str
    after: str

    @classmethod
    def parse(cls, template: str) -> PromptTemplate:
        if template.count(SLOT) != 1:
            raise InputError("template", f"must contain {SLOT} exactly once: {template!r}")
        before, after = template.split(SLOT)
        return cls(before, after)

    def render(self, text: str) -> str:
        return f"{self.before}{text}{self.after}"

    @property
    def prefix_text(self) -> str:
        """``before`` without its trailing spaces: those belong to the sentence's first token."""
        return self.before.rstrip(" ")

    @property
    def anchor(self) -> str:
        """The last word of the prefix (empty when the prefix ends in white space or is empty)."""
        prefix = self.prefix_text
        cut = max(prefix.rfind(" "), prefix.rfind("\n"), prefix.rfind("\t"))
        return prefix[cut + 1 :]


def prefix_ids(tokenizer: PreTrainedTokenizerBase, template: PromptTemplate) -> list[int]:
    """Token ids of the shared prefix, with the tokenizer's special tokens (a BOS where it adds one)."""
    return list(tokenizer(template.prefix_text, add_special_tokens=True)["input_ids"])


def tokens_after(tokenizer: PreTrainedTokenizerBase, anchor: str, texts: list[str]) -> list[list[int]]:
    """Token ids of each text as it is tokenized right behind ``anchor`` (the anchor's own tokens dropped)."""
    if not texts:
        return []
    encoded = tokenizer(
        [anchor + text for text in texts], add_special_tokens=False, return_offsets_mapping=True
    )
    boundary = len(anchor)
    rows = []
    for ids, offsets in zip(encoded["input_ids"], encoded["offset_mapping"], strict=True):
        rows.append([token for token, (start, end) in zip(ids, offsets, strict=True) if end > boundary])
    return rows


def sentence_rows(
    tokenizer: PreTrainedTokenizerBase, template: PromptTemplate, texts: list[str]
) -> list[list[int]]:
    """One row of token ids per sentence: the gap after the prefix, the sentence, and the text after it."""
    gap = template.before[len(template.prefix_text) :]
    return tokens_after(tokenizer, template.anchor, [gap + text + template.after for text in texts])


def fit_rows(rows: list[list[int]], limit: int, keep_tail: int) -> tuple[list[list[int]], int]:
    """Rows cut to ``limit`` tokens by dropping sentence tokens before the last ``keep_tail`` (the template's end).

    Returns the rows and how many were cut.
    """
    if limit <= keep_tail:
        raise InputError(
            "template", f"the prompt leaves no room for a sentence ({limit} tokens of context left)"
        )
    fitted, cut = [], 0
    for row in rows:
        if len(row) > limit:
            row = row[: limit - keep_tail] + row[len(row) - keep_tail :]
            cut += 1
        fitted.append(row)
    return fitted, cut
