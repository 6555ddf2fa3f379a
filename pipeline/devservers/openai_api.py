"""A local OpenAI-compatible HTTP server for tests and benchmarks.

    with OpenAIServer(latency_seconds=0.0) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0)
        srv.enqueue("a scripted reply")                 # replies: consumed first, in order
        srv.inject(Fault.status(429, retry_after=1))    # faults: consumed by the next requests
        ...
        assert srv.chat_calls == 1

Endpoints: ``POST /v1/chat/completions`` (JSON, or Server-Sent Events with ``"stream": true``),
``POST /v1/embeddings``, ``POST /v1/audio/speech`` and ``GET /v1/models``. Only 127.0.0.1 is
bound. Each connection is served by its own thread, so ``latency_seconds`` delays calls without
serializing them.

Replies are deterministic: scripted ones first, then ``responder(ChatRequest)``. Embeddings are
derived from a hash of the input text. Token counts are whitespace-word estimates.

Structured output: a responder sees the request's ``response_format`` in ``params``; the
default responder honours a ``json_schema`` one with a JSON value of that schema (see
``schema_example``). ``refuse_response_format=400`` (or 422, or 500, settable at any time)
answers every chat request that carries a ``response_format`` other than ``text`` with that
error instead, as servers without structured outputs do: OpenAI's 400 "Invalid parameter:
'response_format' of type 'json_schema' is not supported with this model." (param
``response_format``), or for 500 the llama.cpp server's 'response_format type must be one
of "text" or "json_object", but got: json_schema'.

Speech (``/v1/audio/speech``, body ``{model, input, voice, response_format}``) answers
``response_format: "wav"`` only (others get a 400), rejects ``input`` over 4096 characters with
OpenAI's 400 "string too long" error, and returns ``audio/wav``: 24 kHz mono 16-bit, a quiet
tone lasting ``speech_seconds_per_word`` (default 0.4 s) per word, at least 0.3 s.
``speech_calls`` counts these requests; injected faults apply to them as to any endpoint.

Foreground use: ``python -m pipeline.devservers.openai_api --port 8089 --latency 0.5``
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import logging
import math
import re
import struct
import threading
import time
import wave
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal, NamedTuple, TypedDict
from urllib.parse import urlsplit

from pipeline.devservers.background import AppServer, BackgroundServer

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_MODELS = ("gpt-4o-mini", "text-embedding-3-small")
SPEECH_MAX_INPUT = 4096  # characters, as OpenAI enforces
SPEECH_SAMPLE_RATE = 24_000
SPEECH_MIN_SECONDS = 0.3
INVALID_JSON_BODY = b'{"id": "chatcmpl-garbage", "choices": [ <<not json>>'


class Message(TypedDict):
    role: str
    content: str


@dataclass(frozen=True)
class ChatRequest:
    """What a responder sees: the model, the messages, and every other body field as params."""

    model: str
    messages: list[Message]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def last_user_message(self) -> str:
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")


Responder = Callable[[ChatRequest], str]


def default_responder(request: ChatRequest) -> str:
    """A plausible reply that reveals only a short digest of the last user message; a JSON
    value of the schema when the request asks for one (``response_format`` json_schema)."""
    digest = hashlib.sha256(request.last_user_message.encode()).hexdigest()[:12]
    schema = requested_schema(request)
    if schema is not None:
        return json.dumps(schema_example(schema, int(digest, 16)))
    return (
        f"Reply {digest}: the work introduces a method and evaluates it on public benchmarks. "
        "It improves modestly on prior baselines. The authors discuss limitations and future work."
    )


def requested_schema(request: ChatRequest) -> dict[str, Any] | None:
    """The JSON schema a request's ``response_format`` asks for, if it asks for one."""
    response_format = request.params.get("response_format")
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    schema = (response_format.get("json_schema") or {}).get("schema")
    return schema if isinstance(schema, dict) else {}


def schema_example(schema: dict[str, Any], seed: int = 0) -> Any:
    """A value valid for a simple JSON schema (enum, const, object, array, integer, number,
    boolean, string), picked deterministically by ``seed``: what a constrained model writes."""
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][seed % len(schema["enum"])]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {
            name: schema_example(sub, seed // 7 + i)
            for i, (name, sub) in enumerate(properties.items())
        }
    if kind == "array":
        return [schema_example(schema.get("items") or {}, seed)] * max(1, schema.get("minItems", 1))
    if kind in ("integer", "number"):
        low = int(schema.get("minimum", 0))
        high = int(schema.get("maximum", low + 10))
        return low + seed % (high - low + 1)
    if kind == "boolean":
        return seed % 2 == 0
    if kind == "null":
        return None
    return f"text {seed % 1000}"


def embedding_vector(text: str, dimensions: int = 8) -> list[float]:
    """The unit-length float32 vector the server returns for ``text``."""
    blocks = range(math.ceil(dimensions / 8))
    raw = b"".join(hashlib.sha256(f"{i}:{text}".encode()).digest() for i in blocks)
    values = [v / 2**31 for v in struct.unpack(f"<{dimensions}i", raw[: 4 * dimensions])]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    packed = struct.pack(f"<{dimensions}f", *(v / norm for v in values))
    return list(struct.unpack(f"<{dimensions}f", packed))


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, consumed by the next request. Build it with a class method."""

    kind: Literal["status", "timeout", "invalid_json", "cut"]
    status_code: int = 200
    retry_after: float | None = None
    message: str | None = None
    seconds: float = 0.0
    after_chunks: int = 0
    code: str | None = None

    @classmethod
    def status(
        cls,
        status_code: int,
        *,
        retry_after: float | None = None,
        message: str | None = None,
        code: str | None = None,
    ) -> Fault:
        """An OpenAI-shaped error (401, 404, 429, 500, 503...); retry_after adds Retry-After;
        ``code`` sets the error's code (e.g. Azure's "content_filter")."""
        return cls(
            "status", status_code=status_code, retry_after=retry_after, message=message, code=code
        )

    @classmethod
    def timeout(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before answering normally, so a client with a shorter timeout fails."""
        return cls("timeout", seconds=seconds)

    @classmethod
    def invalid_json(cls) -> Fault:
        """Answer 200 with a body that is not JSON (as an SSE event for streaming requests)."""
        return cls("invalid_json")

    @classmethod
    def cut_stream(cls, after_chunks: int = 2) -> Fault:
        """Drop the connection after ``after_chunks`` SSE chunks (halfway, for a JSON body)."""
        return cls("cut", after_chunks=after_chunks)


class RecordedRequest(NamedTuple):
    path: str
    body: Any  # the parsed JSON body; None when absent or unparseable
    headers: dict[str, str]  # names lower-cased


_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    404: (
        "The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    429: ("Rate limit reached for requests. Try again later.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


class _RequestError(Exception):
    def __init__(
        self, status_code: int, message: str, code: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.param = param


REFUSED_RESPONSE_FORMAT = (
    "Invalid parameter: 'response_format' of type '{type}' is not supported with this model."
)
REFUSED_RESPONSE_FORMAT_500 = (
    'response_format type must be one of "text" or "json_object", but got: {type}'
)


class OpenAIServer(BackgroundServer):
    """An OpenAI-compatible server on 127.0.0.1 in a daemon thread; see the module docstring."""

    def __init__(
        self,
        *,
        port: int = 0,
        latency_seconds: float = 0.0,
        responder: Responder = default_responder,
        embedding_dimensions: int = 8,
        models: Sequence[str] | None = None,
        speech_seconds_per_word: float = 0.4,
        refuse_response_format: int | None = None,
        api_key: str | None = None,
    ) -> None:
        """``models``: if given, any other model gets a 404; port 0 picks a free port.
        ``api_key``: if given, a request without ``Authorization: Bearer <api_key>`` gets
        OpenAI's 401.
        ``speech_seconds_per_word``: length of the generated speech audio per input word.
        ``refuse_response_format``: the HTTP status refusing any ``response_format``."""
        self.latency_seconds = latency_seconds
        self.refuse_response_format = refuse_response_format
        self.api_key = api_key
        self.speech_seconds_per_word = speech_seconds_per_word
        self.responder = responder
        self.embedding_dimensions = embedding_dimensions
        self.models = tuple(models) if models is not None else None
        super().__init__(HOST, port)
        self._lock = threading.Lock()
        self._replies: deque[str] = deque()
        self._faults: deque[Fault] = deque()
        self._requests: list[RecordedRequest] = []
        self._chat_calls = 0
        self._speech_calls = 0
        self._ids = 0

    # -- lifecycle -------------------------------------------------------------------------

    poll_interval = 0.05

    def _server(self, address: tuple[str, int]) -> AppServer[OpenAIServer]:
        return AppServer(address, _Handler, self)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    # -- scripting and inspection ----------------------------------------------------------

    def enqueue(self, *replies: str) -> None:
        """Scripted chat replies, used (in order) before the responder."""
        with self._lock:
            self._replies.extend(replies)

    def inject(self, *faults: Fault) -> None:
        """Faults, each consumed (in order) by the next request to any endpoint."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_calls(self) -> int:
        """Requests to /v1/chat/completions so far, faulted ones included."""
        with self._lock:
            return self._chat_calls

    @property
    def speech_calls(self) -> int:
        """Requests to /v1/audio/speech so far, faulted ones included."""
        with self._lock:
            return self._speech_calls

    def reset(self) -> None:
        """Forget recorded requests and pending replies and faults."""
        with self._lock:
            self._replies.clear()
            self._faults.clear()
            self._requests.clear()
            self._chat_calls = 0
            self._speech_calls = 0

    # -- used by the handler threads -------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._chat_calls += request.path == "/v1/chat/completions"
            self._speech_calls += request.path == "/v1/audio/speech"

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _reply(self, request: ChatRequest) -> str:
        with self._lock:
            scripted = self._replies.popleft() if self._replies else None
        return scripted if scripted is not None else self.responder(request)

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._ids += 1
            return f"{prefix}-{self._ids:06d}"

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _check_model(self, model: str) -> None:
        if self.models is not None and model not in self.models:
            raise _RequestError(404, _error_message(404, model), "model_not_found")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; streams use chunked encoding
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls
    server: AppServer[OpenAIServer]

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle(None)

    def do_POST(self) -> None:
        self._handle(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _handle(self, raw: bytes | None) -> None:
        app = self.server.app
        path = urlsplit(self.path).path.rstrip("/")
        body = _parse_json(raw)
        headers = {name.lower(): value for name, value in self.headers.items()}
        app._record(RecordedRequest(path, body, headers))
        try:
            self._dispatch(app, path, raw, body)
        except _RequestError as error:
            self._send_error(error.status_code, str(error), error.code, param=error.param)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up, e.g. after a timeout fault
        except Exception as error:  # a bug in a responder: make it visible to the client
            logger.exception("devserver failed on %s %s", self.command, path)
            self._send_error(500, f"devserver error: {error!r}")

    def _dispatch(self, app: OpenAIServer, path: str, raw: bytes | None, body: Any) -> None:
        routes = {
            ("GET", "/v1/models"): self._models,
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/embeddings"): self._embeddings,
            ("POST", "/v1/audio/speech"): self._speech,
        }
        route = routes.get((self.command, path))
        if route is None:
            raise _RequestError(404, f"Unknown request URL: {self.command} {path}", "unknown_url")
        if app.api_key is not None and self.headers.get("Authorization") != f"Bearer {app.api_key}":
            raise _RequestError(401, _ERRORS[401][0], _ERRORS[401][2])
        if raw is not None and not isinstance(body, dict):
            raise _RequestError(400, "We could not parse the JSON body of your request.")
        body = body or {}
        app._sleep(app.latency_seconds)
        fault = app._next_fault()
        if fault is not None and fault.kind == "status":
            message = fault.message or _error_message(fault.status_code, str(body.get("model")))
            self._send_error(fault.status_code, message, fault.code, retry_after=fault.retry_after)
            return
        if fault is not None and fault.kind == "timeout":
            app._sleep(fault.seconds)
        if fault is not None and fault.kind == "invalid_json":
            if body.get("stream"):
                self._send_stream([b"data: " + INVALID_JSON_BODY + b"\n\n"], cut=None)
            else:
                self._send_bytes(200, INVALID_JSON_BODY, {}, cut=None)
            return
        route(body, fault if fault is not None and fault.kind == "cut" else None)

    # -- endpoints -------------------------------------------------------------------------

    def _models(self, body: dict[str, Any], cut: Fault | None) -> None:
        models = self.server.app.models or DEFAULT_MODELS
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "devserver"} for m in models]
        self._send_json({"object": "list", "data": data}, cut=cut)

    def _chat(self, body: dict[str, Any], cut: Fault | None) -> None:
        app = self.server.app
        request = _chat_request(body)
        app._check_model(request.model)
        _check_response_format(app.refuse_response_format, body.get("response_format"))
        text = app._reply(request)
        prompt_tokens = sum(_count_tokens(m["content"]) for m in request.messages)
        completion_tokens = _count_tokens(text)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        head = {"id": app._next_id("chatcmpl"), "created": int(time.time()), "model": request.model}
        if not body.get("stream"):
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": "stop",
            }
            self._send_json(
                {**head, "object": "chat.completion", "choices": [choice], "usage": usage}, cut=cut
            )
            return
        stream_options = body.get("stream_options") or {}
        include_usage = bool(stream_options.get("include_usage"))
        extra = {"usage": None} if include_usage else {}

        def chunk(delta: dict[str, str], finish_reason: str | None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return {**head, "object": "chat.completion.chunk", "choices": [choice], **extra}

        chunks = [chunk({"role": "assistant", "content": ""}, None)]
        chunks += [chunk({"content": piece}, None) for piece in _pieces(text)]
        chunks.append(chunk({}, "stop"))
        if include_usage:
            chunks.append(
                {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage}
            )
        events = [b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks]
        self._send_stream([*events, b"data: [DONE]\n\n"], cut=cut)

    def _embeddings(self, body: dict[str, Any], cut: Fault | None) -> None:
        app = self.server.app
        model = body.get("model")
        if not isinstance(model, str):
            raise _RequestError(400, "you must provide a model parameter")
        app._check_model(model)
        texts = _embedding_inputs(body.get("input"))
        dimensions = body.get("dimensions") or app.embedding_dimensions
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = embedding_vector(text, dimensions)
            encoded: list[float] | str = vector
            if as_base64:
                encoded = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(_count_tokens(text) for text in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        self._send_json({"object": "list", "data": data, "model": model, "usage": usage}, cut=cut)

    def _speech(self, body: dict[str, Any], cut: Fault | None) -> None:
        app = self.server.app
        model, text = body.get("model"), body.get("input")
        if not isinstance(model, str):
            raise _RequestError(400, "you must provide a model parameter")
        app._check_model(model)
        if not isinstance(text, str) or not text:
            raise _RequestError(400, "'input' must be a non-empty string")
        if len(text) > SPEECH_MAX_INPUT:
            raise _RequestError(
                400,
                f"Invalid 'input': string too long. Expected a string with maximum length "
                f"{SPEECH_MAX_INPUT}, but got a string with length {len(text)} instead.",
                "string_above_max_length",
            )
        response_format = body.get("response_format", "mp3")
        if response_format != "wav":
            raise _RequestError(
                400, f"response_format {response_format!r} is not supported here; use 'wav'"
            )
        seconds = max(SPEECH_MIN_SECONDS, _count_tokens(text) * app.speech_seconds_per_word)
        self._send_bytes(200, speech_wav(seconds), {}, cut=cut, content_type="audio/wav")

    # -- writing ---------------------------------------------------------------------------

    def _send_error(
        self,
        status_code: int,
        message: str,
        code: str | None = None,
        *,
        retry_after: float | None = None,
        param: str | None = None,
    ) -> None:
        _, error_type, default_code = _ERRORS.get(status_code, ("", "api_error", None))
        error = {
            "message": message,
            "type": error_type,
            "param": param,
            "code": code or default_code,
        }
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        self._send_bytes(status_code, json.dumps({"error": error}).encode(), headers, cut=None)

    def _send_json(self, payload: dict[str, Any], *, cut: Fault | None) -> None:
        self._send_bytes(200, json.dumps(payload).encode(), {}, cut=cut)

    def _send_bytes(
        self,
        status_code: int,
        data: bytes,
        headers: dict[str, str],
        *,
        cut: Fault | None,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(status_code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if cut is None:
            self.wfile.write(data)
        else:  # promise the whole body, send half, hang up
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True

    def _send_stream(self, events: list[bytes], *, cut: Fault | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for count, event in enumerate(events):
            if cut is not None and count == cut.after_chunks:
                self.close_connection = True  # no terminating chunk: the client sees a cut
                return
            self.wfile.write(f"{len(event):X}\r\n".encode() + event + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


def speech_wav(seconds: float) -> bytes:
    """A deterministic WAV (24 kHz mono 16-bit) of a quiet 300 Hz tone lasting ``seconds``."""
    period = SPEECH_SAMPLE_RATE // 300
    cycle = struct.pack(
        f"<{period}h", *(round(3000 * math.sin(2 * math.pi * i / period)) for i in range(period))
    )
    frames = round(seconds * SPEECH_SAMPLE_RATE)
    pcm = (cycle * (frames // period + 1))[: 2 * frames]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SPEECH_SAMPLE_RATE)
        out.writeframes(pcm)
    return buffer.getvalue()


def _parse_json(raw: bytes | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _error_message(status_code: int, model: str) -> str:
    template = _ERRORS.get(status_code, ("HTTP error {status}.", "", None))[0]
    return template.replace("{model}", model).replace("{status}", str(status_code))


def _chat_request(body: dict[str, Any]) -> ChatRequest:
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str):
        raise _RequestError(400, "you must provide a model parameter")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise _RequestError(400, "'messages' must be a list of message objects")
    normalized = [
        Message(role=str(m.get("role")), content=_text(m.get("content"))) for m in messages
    ]
    params = {k: v for k, v in body.items() if k not in ("model", "messages")}
    return ChatRequest(model=model, messages=normalized, params=params)


def _check_response_format(refuse: int | None, response_format: Any) -> None:
    """Refuse a structured-output request as a server without structured outputs does."""
    if refuse is None or response_format is None:
        return
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "text":
        return
    template = REFUSED_RESPONSE_FORMAT_500 if refuse >= 500 else REFUSED_RESPONSE_FORMAT
    param = None if refuse >= 500 else "response_format"
    raise _RequestError(refuse, template.format(type=kind), param=param)


def _text(content: Any) -> str:
    """Message content as text: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _embedding_inputs(value: Any) -> list[str]:
    """Strings to embed: a string, a list of strings, a token list or a list of token lists."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [json.dumps(value)]
    if isinstance(value, list) and value and all(isinstance(v, str | list) for v in value):
        return [v if isinstance(v, str) else json.dumps(v) for v in value]
    raise _RequestError(400, "'input' must be a non-empty string or list")


def _count_tokens(text: str) -> int:
    return len(text.split())


def _pieces(text: str) -> list[str]:
    """Word-sized pieces that join back to exactly ``text``."""
    return [p for p in re.split(r"(?<=\s)(?=\S)", text) if p]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.devservers.openai_api",
        description="Serve a local OpenAI-compatible API on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=8089, help="port (0: any free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each call")
    parser.add_argument("--dimensions", type=int, default=8, help="embedding dimensions")
    parser.add_argument(
        "--refuse-response-format",
        type=int,
        metavar="STATUS",
        help="answer requests with a response_format with this HTTP error (400, 422, 500)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server = OpenAIServer(
        port=args.port,
        latency_seconds=args.latency,
        embedding_dimensions=args.dimensions,
        refuse_response_format=args.refuse_response_format,
    )
    try:
        server.start()
    except OSError as error:
        logger.error("Cannot listen on %s:%s (%s) - pick another --port", HOST, args.port, error)
        return 1
    logger.info("OpenAI-compatible dev server on %s (Ctrl-C to stop)", server.base_url)
    server.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
