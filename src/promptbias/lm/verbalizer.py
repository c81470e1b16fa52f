"""The three label words a probe reads (" negative", " neutral", " positive") as token ids of the model.

Each word is tokenized as it appears in running text (behind an anchor, see ``prompt_format``). When every
word is one token and the three differ, a class score is that token's logit at the last position (the fast
path). Otherwise the score is the summed log-probability of the word's tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from promptbias.errors import InputError
from promptbias.lm.prompt_format import tokens_after

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

LABEL_WORDS: tuple[str, str, str] = (" negative", " neutral", " positive")
_ANCHOR = "Answer:"


@dataclass(frozen=True)
class Verbalizer:
    """The label words and their token ids, in label order (negative, neutral, positive)."""

    words: tuple[str, ...]
    token_ids: tuple[tuple[int, ...], ...]

    @property
    def single_token(self) -> bool:
        """True when each word is one token and the three tokens differ: scores are plain logits."""
        firsts = [ids[0] for ids in self.token_ids]
        return all(len(ids) == 1 for ids in self.token_ids) and len(set(firsts)) == len(firsts)

    @property
    def first_tokens(self) -> list[int]:
        return [ids[0] for ids in self.token_ids]


def build_verbalizer(tokenizer: PreTrainedTokenizerBase, words: tuple[str, ...] = LABEL_WORDS) -> Verbalizer:
    """Token ids of the label words; InputError when a word is unknown to the tokenizer or two are the same."""
    if len(words) != 3:
        raise InputError("label_words", f"need 3 words (negative, neutral, positive), got {len(words)}")
    rows = tokens_after(tokenizer, _ANCHOR, list(words))
    unknown = tokenizer.unk_token_id
    for word, ids in zip(words, rows, strict=True):
        if not ids or (unknown is not None and unknown in ids):
            raise InputError("label_words", f"{word!r} is not in the tokenizer's vocabulary")
    if len({tuple(ids) for ids in rows}) < len(rows):
        raise InputError("label_words", f"two label words tokenize the same: {list(words)}")
    return Verbalizer(tuple(words), tuple(tuple(ids) for ids in rows))
