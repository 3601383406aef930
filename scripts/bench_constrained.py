#!/usr/bin/env python3
"""Load driver for scripts/bench-constrained: unconstrained against constrained chat on one server.

  bench_constrained.py --port P --rounds R --max-tokens N --out FILE --command TEXT --commit SHA

Writes its section into FILE (BENCHMARKS.md) between `<!-- scripts/bench-constrained -->` markers
(bench_report.put_marked_section), replacing the last run's section or appending one; scripts/bench
keeps the section when it rewrites the file.

Modes: `plain` (no response_format), `json_object`, and `schema5` (json_schema with five
properties). Levels: 1 stream (3 requests) and 4 streams (8 requests). Every request is the same
streamed chat (temperature 0, the same prompt and max_tokens, usage included). Each round runs the
modes of a level back to back, in alternating order (A B C, then C B A), so drift on a shared machine
falls on every mode alike. Per mode and level: generated tok/s = completion tokens / the level's wall
time; decode tok/s = (completion tokens - 1) / (last content delta - first content delta), the median
of the requests. Ratios are medians of each round's constrained / plain. Writes a markdown section.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_report  # noqa: E402  (the marked-section writer scripts/bench's report keeps)

PROMPT = ("Write a JSON object about a fictional library: its name, city, opening year, "
          "a list of ten book titles and a long description.")
SCHEMA5 = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "city": {"type": "string"},
        "year": {"type": "integer"},
        "books": {"type": "array", "items": {"type": "string"}},
        "description": {"type": "string"},
    },
    "required": ["name", "city", "year", "books", "description"],
    "additionalProperties": False,
}
MODES = {
    "plain": None,
    "json_object": {"type": "json_object"},
    "schema5": {"type": "json_schema", "json_schema": {"name": "library", "strict": True, "schema": SCHEMA5}},
}
LEVELS = [(1, 3), (4, 8)]
SECTION = "bench-constrained"


def one_request(port, key, max_tokens, response_format):
    body = {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}}
    if response_format:
        body["response_format"] = response_format
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    first = last = None
    tokens = 0
    with urllib.request.urlopen(request, timeout=600) as response:
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            for choice in chunk.get("choices", []):
                if choice.get("delta", {}).get("content"):
                    now = time.monotonic()
                    first = first or now
                    last = now
    decode = (tokens - 1) / (last - first) if first and last and last > first and tokens > 1 else None
    return tokens, decode


def run_level(port, key, max_tokens, response_format, streams, requests):
    queue = list(range(requests))
    lock = threading.Lock()
    results, errors = [], []

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                queue.pop()
            try:
                results.append(one_request(port, key, max_tokens, response_format))
            except Exception as error:  # reported in the table, never hidden
                errors.append(repr(error))

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    if errors:
        raise SystemExit(f"{len(errors)} request(s) failed: {errors[0]}")
    tokens = sum(t for t, _ in results)
    decodes = [d for _, d in results if d]
    return {"generated": tokens / wall, "decode": statistics.median(decodes) if decodes else 0.0, "tokens": tokens}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--out", required=True)
    parser.add_argument("--command", required=True)
    parser.add_argument("--commit", required=True)
    args = parser.parse_args()
    key = os.environ["BENCH_API_KEY"]

    # The machine may be shared: its load average goes next to the table.
    load_before = os.getloadavg()
    one_request(args.port, key, 8, None)  # warm-up, uncounted
    names = list(MODES)
    measured = {(mode, streams): [] for mode in names for streams, _ in LEVELS}
    for round_index in range(args.rounds):
        order = names if round_index % 2 == 0 else list(reversed(names))
        for streams, requests in LEVELS:
            for mode in order:
                result = run_level(args.port, key, args.max_tokens, MODES[mode], streams, requests)
                measured[(mode, streams)].append(result)
                print(f"round {round_index + 1} c={streams} {mode}: generated {result['generated']:.1f} tok/s, "
                      f"decode {result['decode']:.1f} tok/s, {result['tokens']} tokens", flush=True)

    def median(mode, streams, field):
        return statistics.median(r[field] for r in measured[(mode, streams)])

    def ratio(mode, streams, field):
        pairs = zip(measured[(mode, streams)], measured[("plain", streams)])
        return statistics.median(c[field] / p[field] for c, p in pairs if p[field])

    lines = ["| mode | streams | generated tok/s | decode tok/s (per stream, p50) | tokens (all rounds) | generated ratio | decode ratio |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for streams, _ in LEVELS:
        for mode in names:
            tokens = sum(r["tokens"] for r in measured[(mode, streams)])
            ratios = ("1.00", "1.00") if mode == "plain" else (f"{ratio(mode, streams, 'generated'):.2f}",
                                                                 f"{ratio(mode, streams, 'decode'):.2f}")
            lines.append(f"| {mode} | {streams} | {median(mode, streams, 'generated'):.1f} | "
                         f"{median(mode, streams, 'decode'):.1f} | {tokens:,} | {ratios[0]} | {ratios[1]} |")
    load_after = os.getloadavg()
    cpus = os.cpu_count()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    section = "\n".join([
        "## Constrained decoding: gemmactl serve, constrained / unconstrained", "",
        f"Generated by `scripts/bench-constrained` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"at commit `{args.commit}` ({platform.machine()}, {cpus} CPUs, {memory:.1f} GiB). One server "
        "(`-c 4096 --parallel 4`), streaming `POST /v1/chat/completions`, temperature 0, the same prompt and "
        f"`max_tokens: {args.max_tokens}` for every mode: `plain` (no `response_format`), `json_object`, and "
        "`schema5` (`json_schema`, five properties: strings, an integer, an array). Levels: 1 stream (3 requests), "
        f"4 streams (8 requests); {args.rounds} rounds, the modes in alternating order; medians of the rounds. "
        "*generated tok/s* = completion tokens ÷ the level's wall time; *decode tok/s* = (completion tokens − 1) ÷ "
        "(last content delta − first content delta), the requests' median; ratios are medians of each round's "
        "mode ÷ plain. Target: ≥ 0.8.", "",
        *lines, "",
        "Load average (1, 5, 15 min) at the start: " + ", ".join(f"{v:.2f}" for v in load_before)
        + "; at the end: " + ", ".join(f"{v:.2f}" for v in load_after)
        + f" (the server's own load is up to 4 streams on {cpus} CPUs; more means other work shared the machine).", "",
        "Command: `" + args.command + "`", ""])
    bench_report.put_marked_section(args.out, SECTION, section)
    print(section)


if __name__ == "__main__":
    main()
