"""Loading a frozen causal LM: a Hugging Face hub id, a local folder, a .gguf file, or the alias of an embedded
model (``embedded.py``: ``smollm2-135m``, the default, and ``gemma-3-270m``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import hf_hub_download, is_offline_mode, model_info, try_to_load_from_cache
from huggingface_hub.errors import HFValidationError, RepositoryNotFoundError
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

from promptbias.errors import InputError
from promptbias.lm.compilation import CompiledDecoder
from promptbias.lm.embedded import EMBEDDED, embedded_file
from promptbias.lm.machine import cpu_has_fast_bf16
from promptbias.store import read_json_object

DEFAULT_MODEL = "smollm2-135m"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
HUB_TIMEOUT_S = 10.0  # seconds to wait for the hub before taking it as unreachable


@dataclass
class LanguageModel:
    """A frozen causal LM with its tokenizer, and what the results record about it."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str
    num_params: float  # billions, as in the reference prediction files
    device: torch.device  # where inputs go: the input embeddings' device (the first, under a device_map)
    dtype: torch.dtype
    decoder: CompiledDecoder | None = None  # the compiled decoder; None: the model's own, run eagerly

    def decode(self, **inputs: Any) -> Any:
        """The decoder's forward pass (the layers without the output head), compiled when it was compiled."""
        return (self.decoder or self.model.base_model)(**inputs)

    def compiled(self) -> LanguageModel:
        """The same model with its decoder going through ``torch.compile`` (compiled at its first call)."""
        return replace(self, decoder=CompiledDecoder(self.model.base_model))

    @property
    def runs_compiled(self) -> bool:
        """Whether the forward pass runs compiled (asked for and not fallen back to eager)."""
        return self.decoder is not None and self.decoder.active

    @property
    def hidden_size(self) -> int:
        return int(self.model.get_input_embeddings().weight.shape[1])

    @property
    def max_positions(self) -> int | None:
        config = self.model.config.get_text_config()
        for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            value = getattr(config, key, None)
            if isinstance(value, int) and value > 0:
                return value
        return None


@dataclass(frozen=True)
class ModelSource:
    """Where from_pretrained reads: a folder or hub id, and the GGUF file inside it when there is one."""

    location: str
    gguf_file: str | None = None
    local_files_only: bool = False  # a hub id found in the local cache while the hub is unreachable


def resolve_source(spec: str) -> ModelSource:
    """An alias, a .gguf path, a local folder or a hub id, as a ModelSource; InputError when it cannot exist."""
    if spec in EMBEDDED:
        path = embedded_file(EMBEDDED[spec])
        return ModelSource(str(path.parent), path.name)
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise InputError(spec, "GGUF file not found")
        return ModelSource(str(path.parent), path.name)
    if path.exists():
        if not (path / "config.json").exists():
            raise InputError(spec, "folder has no config.json (not a Hugging Face model folder)")
        return ModelSource(str(path))
    if spec.startswith((".", "/", "~")) or os.sep in spec.strip("/").replace("/", "", 1):
        raise InputError(spec, "model path does not exist")
    return ModelSource(spec)


NOT_FOUND_OFFLINE = (
    "not a local folder or .gguf file, and not in the Hugging Face cache while the hub is unreachable; "
    "download it where there is a connection (hf download ID) and pass its folder"
)


def locate_model(spec: str) -> ModelSource:
    """``resolve_source``, and for a hub id: found in the local cache or on the hub. Offline it fails at once
    (no waiting on network retries), and a cached model then loads from the cache alone."""
    source = resolve_source(spec)
    if source.gguf_file is not None or Path(source.location).exists():
        return source
    try:
        cached = isinstance(try_to_load_from_cache(spec, "config.json"), str)
    except HFValidationError:
        raise InputError(
            spec, "model path does not exist, and it is not a valid Hugging Face hub id"
        ) from None
    if is_offline_mode():
        if not cached:
            raise InputError(spec, f"{NOT_FOUND_OFFLINE} (HF_HUB_OFFLINE is set)")
        return ModelSource(spec, local_files_only=True)
    try:
        model_info(spec, timeout=HUB_TIMEOUT_S)
    except RepositoryNotFoundError:
        raise InputError(
            spec, "no such model on the Hugging Face hub (a private or gated one needs `hf auth login`)"
        ) from None
    except Exception:  # the hub client raises several kinds of network errors: the hub is unreachable
        if not cached:
            raise InputError(spec, NOT_FOUND_OFFLINE) from None
        return ModelSource(spec, local_files_only=True)
    return source


def check_custom_code(spec: str, source: ModelSource, trust_remote_code: bool) -> None:
    """Refuse, before anything is imported, a model whose type only the repository's own Python code defines
    (``auto_map`` in its config.json), unless the user trusts it. A config that maps a type transformers
    knows loads transformers' own class, and runs no code from the repository."""
    if trust_remote_code or source.gguf_file is not None:
        return
    config_file = _local_config(source)
    if config_file is None:
        return
    config = read_json_object(config_file)
    if config.get("auto_map") and config.get("model_type") not in CONFIG_MAPPING_NAMES:
        raise InputError(
            spec,
            f"model type {config.get('model_type')!r} needs the repository's own Python code (auto_map in "
            "config.json); pass --trust-remote-code (trust_remote_code: true in a study) to run it, "
            "only for a repository you trust",
        )


def _local_config(source: ModelSource) -> Path | None:
    """The model's config.json on this machine: in its folder, or fetched into the hub cache."""
    folder = Path(source.location)
    if folder.exists():
        return folder / "config.json"
    try:
        return Path(hf_hub_download(source.location, "config.json", local_files_only=source.local_files_only))
    except Exception:  # no config.json to inspect: transformers reports the problem when it loads
        return None


def _loading_options(source: ModelSource, trust_remote_code: bool) -> dict[str, object]:
    options: dict[str, object] = {"trust_remote_code": trust_remote_code}
    if source.gguf_file is not None:
        options["gguf_file"] = source.gguf_file
    if source.local_files_only:
        options["local_files_only"] = True
    return options


def load_tokenizer(spec: str, *, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """Only the tokenizer of ``spec`` (cheap next to the model), with the same checks as ``load_model``."""
    source = locate_model(spec)
    check_custom_code(spec, source, trust_remote_code)
    try:
        return AutoTokenizer.from_pretrained(source.location, **_loading_options(source, trust_remote_code))
    except (OSError, ValueError) as error:
        raise InputError(spec, f"cannot load the tokenizer: {_first_line(error)}") from None


def select_device(requested: str = "auto", cuda_available: bool | None = None) -> torch.device:
    """``auto`` picks the first CUDA device when there is one, else the CPU; anything else is taken as given."""
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if requested == "auto":
        return torch.device("cuda") if cuda_available else torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not cuda_available:
        raise InputError("--device", f"{requested} asked for, but no CUDA device is available")
    return device


def select_dtype(requested: str, device: torch.device, fast_cpu_bf16: bool | None = None) -> torch.dtype:
    """``auto``: bf16 on CUDA and on CPUs with AMX/AVX512-BF16, fp32 elsewhere; else the named dtype."""
    if requested != "auto":
        if requested not in DTYPES:
            raise InputError("dtype", f"unknown dtype {requested!r} (auto, {', '.join(DTYPES)})")
        return DTYPES[requested]
    if device.type == "cuda":
        return torch.bfloat16
    if device.type == "cpu":
        return (
            torch.bfloat16
            if (cpu_has_fast_bf16() if fast_cpu_bf16 is None else fast_cpu_bf16)
            else torch.float32
        )
    return torch.float32


def load_model(
    spec: str = DEFAULT_MODEL,
    *,
    dtype: str = "auto",
    device: str = "auto",
    trust_remote_code: bool = False,
    device_map: str | None = None,
) -> LanguageModel:
    """Load ``spec`` frozen, in eval mode, on ``device`` in ``dtype``; one clear InputError when it cannot be found.

    ``device_map`` (``auto``, ``balanced``, ``sequential``) spreads a model larger than one accelerator over all
    visible ones through accelerate; inputs then go to the device of the input embeddings (``LanguageModel.device``).
    """
    source = locate_model(spec)
    check_custom_code(spec, source, trust_remote_code)
    target = select_device(device)
    torch_dtype = select_dtype(dtype, target)
    kwargs = _loading_options(source, trust_remote_code)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.location, **kwargs)
        with _quiet_transformers():
            model = AutoModelForCausalLM.from_pretrained(
                source.location, dtype=torch_dtype, device_map=device_map, **kwargs
            )
    except (OSError, ValueError) as error:
        raise InputError(spec, f"cannot load the model: {_first_line(error)}") from None
    _drop_gguf_quantizer(model)
    if device_map is None:
        model.to(target)
    model.eval()
    model.requires_grad_(False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    num_params = sum(p.numel() for p in model.parameters()) / 1e9
    inputs_device = model.get_input_embeddings().weight.device
    return LanguageModel(model, tokenizer, spec, round(num_params, 3), inputs_device, torch_dtype)


def _drop_gguf_quantizer(model: PreTrainedModel) -> None:
    """A GGUF file loads de-quantized into plain Linear layers; forget the quantizer so PEFT sees a plain model."""
    if getattr(model, "hf_quantizer", None) is not None and all(
        type(m).__name__ != "GgufLinear" for m in model.modules()
    ):
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config


class _quiet_transformers:
    """Silence transformers' loading chatter (the GGUF dtype hint) for the duration of a load."""

    def __enter__(self) -> None:
        self.logger = logging.getLogger("transformers")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        self.logger.setLevel(self.level)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
