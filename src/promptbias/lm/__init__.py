"""The language-model layer: loading a causal LM (hub id, folder, .gguf, the embedded models), the prompt
formats and the verbalizer, the fast scoring path, how sentences are batched, and the machine's matmul rate.

It knows nothing of probes, studies or metrics; everything above builds on it. Light to import: torch and
transformers load only with the modules that need them (``model``, ``scoring``, ``machine``).
"""
