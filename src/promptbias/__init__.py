"""promptbias: measure social bias in causal language models through soft-prompt tuning."""

__version__ = "0.1.0"
