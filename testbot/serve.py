"""``testbot serve``: one model server for many testbot runs (CI jobs, a team).

Two engines, as for ``testbot generate``:

- ``xllamacpp`` (the default, even where llama-cpp-python is installed; prebuilt, in testbot's default
  install): llama.cpp's own C++ server
  (``llama-server``'s code, run in this process by xllamacpp), started with testbot's model resolution
  and load settings. It returns log-probabilities cheaply, per request, and continues a final
  assistant message, so the openai backend uses its chat API.
- ``llama_cpp``: llama-cpp-python's OpenAI-compatible server (the one ``python -m llama_cpp.server``
  starts, built here through its own ``create_app``; ``pip install 'testbot[llama-serve]'``). It runs in
  this process because one load setting has no server flag: llama.cpp's extra (repacked) weight
  buffers, which crash on AMX builds in VMs (see testbot/backends/llama_cpp.py), are switched off the
  same way the llama_cpp backend does it.

Either way ``testbot generate --model http://HOST:PORT/v1`` elsewhere gets the same model as ``--model default``.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from dataclasses import dataclass

from testbot.errors import EnvironmentProblem, FatalError
from testbot.backends.openai_compat import API_KEY_VARS, api_key

INSTALL_SERVER = "pip install 'testbot[llama-serve]' (llama-cpp-python==0.3.36 with its [server] extra)"
ENGINES = ("xllamacpp", "llama_cpp")


@dataclass(frozen=True)
class ServeOptions:
    model: str = "default"  # "default", "stock", "small", a .gguf path or BASE+ADAPTER.gguf (testbot.model)
    host: str = "127.0.0.1"  # loopback: only this machine; 0.0.0.0 to serve a network (then set an API key)
    port: int = 8000
    context_tokens: int = 4096  # per request: prompt and completion together (testbot's default)
    threads: int = 0  # 0: all cores
    # llama_cpp engine only. Log-probabilities in answers need logits for every token (n_ctx x vocabulary floats
    # of RAM: 2.5 GB for the default model at 4096) and llama-cpp-python's server sorts the whole vocabulary per
    # token in Python (~5x the time per token here). Off: testbot then ranks a round's tests in sample order.
    # llama.cpp's own server (xllamacpp) computes them per request, for the requests that ask.
    logprobs: bool = False
    backend: str = ""  # "xllamacpp" or "llama_cpp"; empty: serve_engine()
    llama_verbosity: int = 1  # xllamacpp engine: llama.cpp's own log level (the setting of the same name)
    llama_extra_buffers: bool = False  # llama_cpp engine: llama.cpp's repacked weight buffers (as the backend's)


def server_settings(options: ServeOptions):
    """llama-cpp-python's (ServerSettings, [ModelSettings]) for these options; the model resolved and verified."""
    from testbot.model import resolve_model

    mf = resolve_model(options.model)
    try:
        from llama_cpp.server.settings import ModelSettings, ServerSettings
    except ImportError:
        raise EnvironmentProblem(f"testbot serve needs llama-cpp-python's server: {INSTALL_SERVER}") from None
    threads = options.threads or os.cpu_count() or 2
    model = ModelSettings(
        model=str(mf.path),
        model_alias=mf.name,
        n_ctx=options.context_tokens,
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        seed=0,
        logits_all=options.logprobs,
        verbose=False,
        lora_path=str(mf.lora) if mf.lora is not None else None,
    )
    server = ServerSettings(host=options.host, port=options.port, api_key=api_key() or None)
    return server, [model]


def serve(options: ServeOptions) -> int:
    """Load the model and serve it until interrupted."""
    engine = options.backend or serve_engine()
    if engine not in ENGINES:
        raise FatalError(f"testbot serve: unknown backend '{engine}' (known: {', '.join(ENGINES)})")
    if engine == "xllamacpp":
        return _serve_xllamacpp(options)
    return _serve_llama_cpp_python(options)


def serve_engine() -> str:
    """llama.cpp's own server (xllamacpp) where it is installed and runs on this CPU: it returns log-probabilities
    at no extra cost and needs no extra packages; else llama-cpp-python's."""
    import importlib.util

    from testbot.backends.xllamacpp_backend import missing_cpu_features

    if importlib.util.find_spec("xllamacpp") is None or missing_cpu_features():
        if importlib.util.find_spec("llama_cpp") is not None:
            return "llama_cpp"
    return "xllamacpp"


def _serve_xllamacpp(options: ServeOptions) -> int:
    """llama.cpp's own server (xllamacpp), on its own threads; this thread waits for Ctrl-C or SIGTERM."""
    from testbot.backends.xllamacpp_backend import start_server
    from testbot.model import resolve_model

    mf = resolve_model(options.model)
    _check_port(options.host, options.port)
    key = api_key()
    url = f"http://{options.host}:{options.port}/v1"
    print(f"testbot serve: loading {mf.name} ({mf.path})", file=sys.stderr, flush=True)
    try:
        server = start_server(
            mf.path,
            context_tokens=options.context_tokens,
            threads=options.threads,
            host=options.host,
            port=options.port,
            api_key=key,
            alias=mf.name,
            verbosity=options.llama_verbosity,
            lora=mf.lora,
        )
    except RuntimeError:
        raise EnvironmentProblem(
            f"llama.cpp's server did not start with {mf.path} on {options.host}:"
            f"{options.port} (--llama-verbosity 3 shows its log)"
        ) from None
    _announce(mf.name, url, options, bool(key))

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("testbot serve: stopping", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        del server  # stops llama.cpp's loop and its HTTP server
    return 0


def _check_port(host: str, port: int) -> None:
    """Say so when the address cannot be had (llama.cpp's server would only fail to start)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FatalError(f"cannot serve on {host}:{port}: {exc}", code=3) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise FatalError(
                f"cannot serve on {host}:{port} (is the port in use?): {exc.strerror or exc}", code=3
            ) from None


def _announce(name: str, url: str, options: ServeOptions, keyed: bool) -> None:
    key_note = f" (API key from {' or '.join(API_KEY_VARS)} required)" if keyed else ""
    print(
        f"testbot serve: {name} at {url}{key_note}; use: testbot generate --model {url} ...",
        file=sys.stderr,
        flush=True,
    )
    if options.host not in ("127.0.0.1", "localhost", "::1") and not keyed:
        print(
            "testbot serve: warning: listening beyond this machine without an API key; anyone who can reach "
            f"port {options.port} can use the model (set TESTBOT_OPENAI_API_KEY)",
            file=sys.stderr,
            flush=True,
        )


def _serve_llama_cpp_python(options: ServeOptions) -> int:
    server, models = server_settings(options)
    try:
        import uvicorn
        from llama_cpp.server.app import create_app
    except ImportError:
        raise EnvironmentProblem(f"testbot serve needs llama-cpp-python's server: {INSTALL_SERVER}") from None
    from testbot.backends.llama_cpp import _amx_compiled, _model_params

    extra_bufts = options.llama_extra_buffers or not _amx_compiled()
    url = f"http://{options.host}:{options.port}/v1"
    print(f"testbot serve: loading {models[0].model_alias} ({models[0].model})", file=sys.stderr, flush=True)
    with _model_params(extra_bufts):  # the model loads inside create_app
        try:
            app = create_app(server_settings=server, model_settings=models)
        except (ValueError, RuntimeError, OSError) as exc:
            raise EnvironmentProblem(f"llama.cpp cannot load {models[0].model}: {exc}") from None
    _announce(str(models[0].model_alias), url, options, bool(server.api_key))
    try:
        uvicorn.run(app, host=options.host, port=options.port, log_level="warning")
    except SystemExit as exc:  # uvicorn exits when it cannot bind the port
        raise FatalError(f"cannot serve on {options.host}:{options.port} (is the port in use?)", code=3) from exc
    return 0
