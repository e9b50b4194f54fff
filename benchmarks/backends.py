"""The llama.cpp backends side by side: llama-cpp-python (compiled here) and xllamacpp (prebuilt wheels).

Each backend runs in a fresh process of its own, in turn, ``--rounds`` times (ABBA order: round 2 runs them
the other way round, so that drift in machine load hits both alike). One process loads the model (default:
the embedded Qwen2.5-Coder-1.5B Q4_K_M, 4096-token context, all cores) and runs, with the real prompts of
two functions of ``examples/inventory/inventory/pricing.py`` (P1, P2; built by testbot's prompt builder):

1. a short unrelated prompt (warm-up: the model's pages are read in, out of the timings);
2. P1 cold, 1 token: **prompt tokens/s** = P1's tokens / seconds;
3. P1 again, seed 1, 128 tokens, no stop sequence: **decode tokens/s** = tokens / seconds (the prompt is
   cached: one token is read again); its mean log-probability (**logprobs**: finite and below 0);
4. P1 again, seed 2, 1 token: a round's next sample (**prefix cache**: the whole prompt cached);
5. P2 right after P1, 1 token: the next function of the same file (the shared start cached);
6. the warm-up prompt again, then P2 cold, 1 token (what step 5 costs without the cache; a second
   prompt-speed figure);
7. step 3 again (same prompt, same seed) in the same process;
8. **peak memory**: the process's peak resident set (VmHWM), model pages included.

**Same-seed determinism** compares step 3's text across the fresh processes of a backend (and step 7's with
step 3's within one); the table also says whether the two backends wrote the same text.

Then, in the same round (``--e2e``, on by default), the whole pipeline: ``testbot generate inventory
--no-explore --json --backend B`` on a fresh copy of ``examples/inventory`` (explored calls alone cover that
example, so without ``--no-explore`` the model would not be asked): wall seconds, tokens read and written.
The two backends write different tokens (other kernels, other rounding), so their runs differ in what they
generate as well as in speed: the table shows both.

    python -m benchmarks.backends                   # 2 rounds, both backends, the default model
    python -m benchmarks.backends --model small --rounds 1 --out backends-small

Results: benchmarks/results/backends-<date>.md and .json. Timings need an otherwise idle machine: llama.cpp's
threads slow down badly when other work shares the cores; the load average is recorded with every run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXAMPLE = ROOT / "examples" / "inventory"
BACKENDS = ("llama_cpp", "xllamacpp")
LABELS = {"llama_cpp": "llama-cpp-python 0.3.36 (built here)", "xllamacpp": "xllamacpp (prebuilt wheel)"}
DECODE_TOKENS = 128
SAMPLING = {"temperature": 0.3, "top_p": 0.95}


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _engine_info(backend: str) -> dict[str, str]:
    if backend == "llama_cpp":
        import llama_cpp

        return {
            "version": llama_cpp.__version__,
            "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
        }
    import xllamacpp

    return {"version": xllamacpp.__version__, "system_info": str(xllamacpp.get_system_info()).strip()}


def worker(backend_name: str, model: str, threads: int, context_tokens: int) -> dict:
    """One fresh process: load, then the steps of the module docstring."""
    from testbot.context import build_context
    from testbot.generate import load_backend
    from testbot.prompt import Prompt, build_prompt
    from testbot.targets import find_targets

    result: dict = {"backend": backend_name, "load_before": os.getloadavg()[0], **_engine_info(backend_name)}
    start = time.monotonic()
    backend = load_backend(model, backend_name, context_tokens=context_tokens, threads=threads)
    result["load_seconds"] = time.monotonic() - start
    targets = find_targets([str(EXAMPLE / "inventory" / "pricing.py")], EXAMPLE)
    p1, p2 = (build_prompt(build_context(t, EXAMPLE), budget=1500, count=backend.count_tokens) for t in targets[:2])
    result["targets"] = [f"{t.rel}::{t.qualname}" for t in targets[:2]]
    warm = Prompt(key="warm", round=0, system="Warm up.", user="Say hello.", prefill="", tokens=8)

    def run(prompt: Prompt, seed: int, max_tokens: int) -> dict:
        c = backend.complete(prompt, seed=seed, max_tokens=max_tokens, stop=[], **SAMPLING)
        return {
            "seconds": c.seconds,
            "prompt_tokens": c.prompt_tokens,
            "tokens": c.tokens,
            "mean_logprob": c.mean_logprob,
            "text": c.text,
        }

    run(warm, 0, 1)
    cold1 = run(p1, 0, 1)
    decode = run(p1, 1, DECODE_TOKENS)
    resample = run(p1, 2, 1)
    sibling = run(p2, 0, 1)
    run(warm, 0, 1)
    cold2 = run(p2, 0, 1)
    result["peak_rss_mb"] = _peak_rss_mb()
    again = run(p1, 1, DECODE_TOKENS)
    result.update(
        prompt_tokens=[cold1["prompt_tokens"], cold2["prompt_tokens"]],
        prompt_seconds=[cold1["seconds"], cold2["seconds"]],
        prompt_tok_s=statistics.mean(
            [cold1["prompt_tokens"] / cold1["seconds"], cold2["prompt_tokens"] / cold2["seconds"]]
        ),
        decode_tokens=decode["tokens"],
        decode_seconds=decode["seconds"],
        decode_tok_s=decode["tokens"] / decode["seconds"],
        mean_logprob=decode["mean_logprob"],
        decode_text=decode["text"],
        same_process_same_text=again["text"] == decode["text"],
        resample_seconds=resample["seconds"],
        p1_cold_seconds=cold1["seconds"],
        sibling_seconds=sibling["seconds"],
        p2_cold_seconds=cold2["seconds"],
        load_after=os.getloadavg()[0],
    )
    return result


def pipeline_run(backend: str, model: str) -> dict:
    """``testbot generate`` on a fresh copy of the example, with the model asked for every function."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
        shutil.copytree(EXAMPLE, Path(tmp) / "inventory")
        load_before = os.getloadavg()[0]
        start = time.monotonic()
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "testbot",
                "generate",
                "inventory",
                "--no-explore",
                "--json",
                "--model",
                model,
                "--backend",
                backend,
            ],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        seconds = time.monotonic() - start
    if res.returncode not in (0, 1):
        return {"backend": backend, "error": (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]}
    report = json.loads(res.stdout)
    targets = report["targets"]
    return {
        "backend": backend,
        "seconds": seconds,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "targets": len(targets),
        "completions": sum(t["completions"] for t in targets),
        "tokens": sum(t["tokens"] for t in targets),
        "prompt_tokens": sum(t["prompt_tokens"] for t in targets),
        "kept": report["funnel"]["kept"],
        "generated": report["funnel"]["generated"],
        "target_seconds": [round(t["seconds"], 1) for t in targets],
    }


def _fmt(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}f}"


def summarize(runs: list[dict], pipeline: list[dict] | None = None) -> dict:
    out: dict = {}
    for name in BACKENDS:
        mine = [r for r in runs if r["backend"] == name and "error" not in r]
        if not mine:
            continue
        med = {
            k: statistics.median(r[k] for r in mine)
            for k in (
                "prompt_tok_s",
                "decode_tok_s",
                "load_seconds",
                "peak_rss_mb",
                "p1_cold_seconds",
                "resample_seconds",
                "sibling_seconds",
                "p2_cold_seconds",
                "mean_logprob",
            )
        }
        med["fresh_loads_same_text"] = len({r["decode_text"] for r in mine}) == 1 if len(mine) > 1 else None
        med["same_process_same_text"] = all(r["same_process_same_text"] for r in mine)
        med["logprobs"] = all(-20 < r["mean_logprob"] < 0 for r in mine)
        med["runs"] = len(mine)
        out[name] = med
    if all(n in out for n in BACKENDS):
        old, new = out["llama_cpp"], out["xllamacpp"]
        out["ratio"] = {
            "prompt": new["prompt_tok_s"] / old["prompt_tok_s"],
            "decode": new["decode_tok_s"] / old["decode_tok_s"],
        }
        texts = {n: {r["decode_text"] for r in runs if r["backend"] == n and "error" not in r} for n in BACKENDS}
        out["backends_same_text"] = texts["llama_cpp"] == texts["xllamacpp"]
    ok = [r for r in pipeline or [] if "error" not in r]
    if ok:
        out["pipeline"] = {
            n: {
                k: statistics.median(r[k] for r in ok if r["backend"] == n)
                for k in ("seconds", "tokens", "prompt_tokens", "kept", "completions")
            }
            for n in BACKENDS
            if any(r["backend"] == n for r in ok)
        }
        if all(n in out["pipeline"] for n in BACKENDS):
            out["ratio"]["pipeline_seconds"] = (
                out["pipeline"]["xllamacpp"]["seconds"] / out["pipeline"]["llama_cpp"]["seconds"]
            )
    return out


def markdown(meta: dict, runs: list[dict], summary: dict, pipeline: list[dict] | None = None) -> str:
    lines = [
        f"# llama.cpp backends side by side ({meta['date']})",
        "",
        f"Model `{meta['model']}`, {meta['context_tokens']}-token context, {meta['threads'] or 'all'} threads; "
        f"{meta['cpu']} ({meta['cores']} cores), {meta['platform']}, Python {meta['python']}. "
        f"{meta['rounds']} fresh process(es) per backend, in ABBA order; medians. Produced by "
        "`python -m benchmarks.backends` (what each figure is: its docstring).",
        "",
    ]
    names = [n for n in BACKENDS if n in summary]
    lines += [
        "| | " + " | ".join(LABELS[n] for n in names) + (" | new / old |" if "ratio" in summary else " |"),
        "|---|" + "---|" * len(names) + ("---|" if "ratio" in summary else ""),
    ]

    def row(label: str, key: str, digits: int = 1, ratio: str = "") -> None:
        cells = [_fmt(summary[n][key], digits) for n in names]
        extra = (
            [f"{summary['ratio'][ratio]:.2f}x"]
            if ratio and "ratio" in summary
            else ([""] if "ratio" in summary else [])
        )
        lines.append(f"| {label} | " + " | ".join(cells + extra) + " |")

    row("prompt tokens/s (cold prompt)", "prompt_tok_s", ratio="prompt")
    row("decode tokens/s", "decode_tok_s", ratio="decode")
    row(f"P1 cold, s ({runs[0]['prompt_tokens'][0]} tokens)", "p1_cold_seconds", 2)
    row("P1 again, next seed, s (prefix cache)", "resample_seconds", 2)
    row(f"P2 cold, s ({runs[0]['prompt_tokens'][1]} tokens)", "p2_cold_seconds", 2)
    row("P2 right after P1, s (shared start cached)", "sibling_seconds", 2)
    row("model load, s", "load_seconds", 2)
    row("peak memory (VmHWM), MB", "peak_rss_mb", 0)
    row("mean log-prob of the 128 decoded tokens", "mean_logprob", 3)

    def yes(v: object) -> str:
        return "n/a (1 run)" if v is None else ("yes" if v else "**no**")

    lines.append(
        "| logprobs available | "
        + " | ".join(yes(summary[n]["logprobs"]) for n in names)
        + (" | |" if "ratio" in summary else " |")
    )
    lines.append(
        "| same seed, same text: fresh loads | "
        + " | ".join(yes(summary[n]["fresh_loads_same_text"]) for n in names)
        + (" | |" if "ratio" in summary else " |")
    )
    lines.append(
        "| same seed, same text: same process, prompt cached | "
        + " | ".join(yes(summary[n]["same_process_same_text"]) for n in names)
        + (" | |" if "ratio" in summary else " |")
    )
    if "backends_same_text" in summary:
        lines += [
            "",
            f"Both backends wrote the same 128 tokens for the same seed: {yes(summary['backends_same_text'])}.",
        ]
    if "pipeline" in summary:
        pipe = summary["pipeline"]
        lines += [
            "",
            "The whole pipeline, `testbot generate inventory --no-explore` on a fresh copy of "
            "`examples/inventory` (medians):",
            "",
            "| | " + " | ".join(LABELS[n] for n in names if n in pipe) + " | new / old |",
            "|---|" + "---|" * len(pipe) + "---|",
        ]
        ratio = f"{summary['ratio']['pipeline_seconds']:.2f}x" if "pipeline_seconds" in summary.get("ratio", {}) else ""
        lines.append(
            "| wall seconds | " + " | ".join(_fmt(pipe[n]["seconds"]) for n in names if n in pipe) + f" | {ratio} |"
        )
        for key, label in (
            ("prompt_tokens", "prompt tokens"),
            ("tokens", "tokens written"),
            ("completions", "completions"),
            ("kept", "tests kept"),
        ):
            lines.append(f"| {label} | " + " | ".join(_fmt(pipe[n][key], 0) for n in names if n in pipe) + " | |")
    lines += [
        "",
        "Every run (load average: 1-minute, before and after the run):",
        "",
        "| # | backend | prompt tok/s | decode tok/s | peak MB | load avg |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(runs, 1):
        if "error" in r:
            lines.append(f"| {i} | {r['backend']} | error: {r['error'][:80]} | | | |")
            continue
        lines.append(
            f"| {i} | {r['backend']} | {_fmt(r['prompt_tok_s'])} | {_fmt(r['decode_tok_s'])} | "
            f"{_fmt(r['peak_rss_mb'], 0)} | {r['load_before']:.2f} / {r['load_after']:.2f} |"
        )
    if pipeline:
        lines += [
            "",
            "Every pipeline run:",
            "",
            "| # | backend | seconds | prompt tokens | tokens written | kept | seconds per function | load avg |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for i, r in enumerate(pipeline, 1):
            if "error" in r:
                lines.append(f"| {i} | {r['backend']} | error: {r['error'][:80]} | | | | | |")
                continue
            lines.append(
                f"| {i} | {r['backend']} | {_fmt(r['seconds'])} | {r['prompt_tokens']} | {r['tokens']} | "
                f"{r['kept']} | {', '.join(map(str, r['target_seconds']))} | "
                f"{r['load_before']:.2f} / {r['load_after']:.2f} |"
            )
    lines += ["", "Engines:", ""]
    for n in names:
        r = next(r for r in runs if r["backend"] == n and "error" not in r)
        lines.append(f"- {LABELS[n]}: {r['version']}; `{r['system_info']}`")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--context-tokens", type=int, default=4096)
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--out", default="", help="results name (default: backends-<date>)")
    ap.add_argument(
        "--e2e",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the whole pipeline on examples/inventory with each backend (default: on)",
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.model, args.threads, args.context_tokens)))
        return 0
    names = [n for n in args.backends.split(",") if n]
    runs: list[dict] = []
    pipeline: list[dict] = []
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.backends",
                "--worker",
                name,
                "--model",
                args.model,
                "--threads",
                str(args.threads),
                "--context-tokens",
                str(args.context_tokens),
            ]
            print(f"round {r + 1}: {name} ...", file=sys.stderr, flush=True)
            res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
            if res.returncode != 0:
                runs.append(
                    {
                        "backend": name,
                        "error": res.stderr.strip().splitlines()[-1]
                        if res.stderr.strip()
                        else f"exit {res.returncode}",
                    }
                )
                print(res.stderr[-2000:], file=sys.stderr)
                continue
            runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
            last = runs[-1]
            print(
                f"  prompt {last['prompt_tok_s']:.1f} tok/s, decode {last['decode_tok_s']:.1f} tok/s, "
                f"peak {last['peak_rss_mb']:.0f} MB, load {last['load_before']:.2f}/{last['load_after']:.2f}",
                file=sys.stderr,
                flush=True,
            )
            if args.e2e:
                pipeline.append(pipeline_run(name, args.model))
                print(f"  pipeline: {pipeline[-1]}", file=sys.stderr, flush=True)
    date = dt.date.today().isoformat()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    meta = {
        "date": date,
        "model": args.model,
        "context_tokens": args.context_tokens,
        "threads": args.threads,
        "rounds": args.rounds,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "decode_tokens": DECODE_TOKENS,
        "sampling": SAMPLING,
    }
    summary = summarize(runs, pipeline)
    out = HERE / "results" / (args.out or f"backends-{date}")
    out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "summary": summary, "runs": runs, "pipeline": pipeline}, indent=2) + "\n"
    )
    out.with_suffix(".md").write_text(markdown(meta, runs, summary, pipeline))
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
