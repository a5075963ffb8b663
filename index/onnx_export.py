"""An int8 ONNX copy of the bundled sentence-transformers model, built locally from its weights.

Serving and ingest spend most of their time in the encoder; onnxruntime with int8 MatMul
weights runs MiniLM ~1.7x faster than PyTorch on CPU and loads in a quarter second instead of
the seconds torch takes to import. The export needs torch once; nothing is ever downloaded.
Run `python -m index.onnx_export` (or `make onnx`) to build it ahead of time.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

from index import config

ONNX_FILE = "model-int8.onnx"
_OPSET = 17
# Part of the cache key: bump when the export itself changes, so stale exports are not reused.
_EXPORT_FORMAT = 2


def cache_root() -> Path:
    """`QA_ONNX_DIR`, else ~/.cache/dateline/onnx: built artefacts never live in the repo."""
    configured = os.environ.get("QA_ONNX_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "dateline" / "onnx"


def onnx_path(model_path: str) -> Path:
    """Where the export of these weights lives; new weights get a new file, never a stale one."""
    weights = _weights_file(Path(model_path))
    stat = weights.stat()
    key = f"{weights.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{_EXPORT_FORMAT}".encode()
    digest = hashlib.sha256(key).hexdigest()[:16]
    return cache_root() / f"{config.model_name(model_path)}-{digest}" / ONNX_FILE


def ensure_onnx(model_path: str) -> Path:
    """The int8 export of the model at `model_path`, built first if it is not there yet."""
    target = onnx_path(model_path)
    if not target.is_file():
        export_int8(model_path, target)
    return target


def export_int8(model_path: str, target: Path) -> None:
    """Export the transformer's token states to int8 ONNX; pooling stays in numpy."""
    from transformers import AutoModel

    # Eager attention: the traced graph must keep the attention mask (see quantized_export).
    model = AutoModel.from_pretrained(model_path, attn_implementation="eager").eval()
    quantized_export(model, target, "last_hidden_state", {0: "batch", 1: "tokens"}, ["MatMul"])


def quantized_export(
    model: object,
    target: Path,
    output_name: str,
    output_axes: dict[int, str],
    op_types: list[str],
) -> None:
    """A transformers model's `output_name` output (e.g. last_hidden_state, logits) as ONNX,
    then int8 weights for `op_types`, published atomically at `target`."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class _Output(torch.nn.Module):
        """Exposes one named output of the model, with positional BERT inputs."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return getattr(out, output_name)

    target.parent.mkdir(parents=True, exist_ok=True)
    # A padded example: traced with an all-ones mask, transformers drops the mask from the graph
    # and padding would leak into every vector of a batch.
    dummy = torch.ones((2, 16), dtype=torch.int64)
    mask = dummy.clone()
    mask[1, 10:] = 0
    axes = {0: "batch", 1: "tokens"}
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        fp32 = Path(work) / "model-fp32.onnx"
        int8 = Path(work) / "model-int8.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about shapes; the tests check output
            torch.onnx.export(
                _Output(model),  # type: ignore[arg-type]
                (dummy, mask, torch.zeros_like(dummy)),
                str(fp32),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=[output_name],
                dynamic_axes={
                    "input_ids": axes,
                    "attention_mask": axes,
                    "token_type_ids": axes,
                    output_name: output_axes,
                },
                opset_version=_OPSET,
                dynamo=False,
            )
        quantize_dynamic(
            str(fp32),
            str(int8),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=op_types,
        )
        os.replace(int8, target)


def _weights_file(folder: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(2, "no model.safetensors or pytorch_model.bin", str(folder))


def main() -> None:
    model_path = config.model_path()
    print(ensure_onnx(model_path))


if __name__ == "__main__":
    main()
