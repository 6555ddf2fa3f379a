"""The embedded model as a small OpenAI-compatible server, run in its own process.

    python -m pipeline.llm.local_server --model FILE --name NAME --port PORT [--threads N]

`pipeline.llm.local` starts it on a free loopback port and talks to it through the same
client as any endpoint, so a crash inside llama.cpp (an illegal instruction, running out of
memory) ends this process, never the pipeline's. It answers `GET /health`, `GET /v1/models`
and `POST /v1/chat/completions` (no streaming; `response_format` `json_schema` or
`json_object` becomes a llama.cpp grammar). One completion runs at a time: the model holds
every thread it was given. Only 127.0.0.1 is bound.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

HOST = "127.0.0.1"
READY_LINE = "local model server ready"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "code": status}},
        status_code=status,
    )


def llama_response_format(value: Any) -> dict[str, Any] | None:
    """OpenAI's `response_format` as llama-cpp-python's (a JSON object, optionally with a
    schema); ValueError for what it cannot honour."""
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema" and isinstance(value.get("json_schema"), dict):
        schema = value["json_schema"].get("schema")
        if isinstance(schema, dict):
            return {"type": "json_object", "schema": schema}
    raise ValueError(f"unsupported response_format {value!r}")


class Model:
    """The loaded llama.cpp model, used by one completion at a time."""

    def __init__(self, path: Path, name: str, threads: int, n_ctx: int) -> None:
        from llama_cpp import Llama

        self.name = name
        self._lock = threading.Lock()
        self._llama: Any = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            seed=0,
            verbose=False,
        )

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        response_format = llama_response_format(body.get("response_format"))
        with self._lock:
            out: dict[str, Any] = self._llama.create_chat_completion(
                messages=body["messages"],
                max_tokens=int(body.get("max_tokens") or 256),
                temperature=float(body.get("temperature", 0.2)),
                top_p=float(body.get("top_p", 0.95)),
                repeat_penalty=1.1,
                seed=int(body.get("seed", 0)),
                response_format=response_format,
            )
        out["model"] = self.name
        return out


def app_for(model: Model) -> Starlette:
    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "model": model.name})

    async def models(_: Request) -> JSONResponse:
        entry = {"id": model.name, "object": "model", "created": 0, "owned_by": "local"}
        return JSONResponse({"object": "list", "data": [entry]})

    async def chat(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "'messages' is required")
        if body.get("stream"):
            return _error(400, "streaming is not supported by this server")
        if body.get("model") not in (None, model.name):
            return _error(404, f"the model {body.get('model')!r} does not exist")
        try:
            llama_response_format(body.get("response_format"))
        except ValueError as exc:
            return _error(400, str(exc))
        return JSONResponse(await asyncio.to_thread(model.complete, body))

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/v1/models", models),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m pipeline.llm.local_server")
    parser.add_argument("--model", type=Path, required=True, help="the GGUF file")
    parser.add_argument("--name", required=True, help="the model name clients ask for")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=4096)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model = Model(args.model, args.name, args.threads, args.ctx)
    print(
        f"{READY_LINE}: {args.name} loaded in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app_for(model), host=HOST, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
