"""How sentences are batched for scoring: a token budget per batch, a cap on rows, and the limit on copies of
the prompt's key/value cache. Plain numbers, so that the study file and the resource estimate read them
without loading torch."""

DEFAULT_BATCH_TOKENS = 2048
DEFAULT_MAX_ROWS = 128
# Each row of a batch gets its own copy of the prompt's key/value cache (transformers concatenates the new
# keys onto it), so a long prompt (k-shot demonstrations) gets fewer rows: rows x prompt length stays below this.
PREFIX_COPY_TOKENS = 16384
