#!/usr/bin/env python3
"""Load driver and report for scripts/bench-models: two models behind one server, gemmactl against
the stock llama-server in router mode.

  bench_models.py drive --pid PID --start-ns NS --port P --name NAME --out FILE [--switches N] [--max-tokens N]
  bench_models.py report --result FILE ... --out FILE --command TEXT --commit SHA --ours-flags TEXT --peer-flags TEXT

drive, against a server just started with `--models-dir` holding the models `a` and `b`:
  1. ready: process start to the first /health 200;
  2. switch latency, `--switches` times: `b` unloaded (POST /models/unload, then GET /models until its
     status is `unloaded`), then a streamed chat for `b`; its time to first token is the cold load plus
     the prompt, what a client waits when it asks for a model that is not loaded;
  3. mixed load: both models loaded (one request each, uncounted), then streamed chats at concurrency
     2 and 4, even request numbers to `a`, odd ones to `b`, every request a distinct prompt: generated
     tok/s (completion tokens / wall time) and TTFT;
  throughout, the peak of the summed VmRSS of the server and every process under it (the router's
  children included), sampled every 0.2 s.

report checks that both servers counted the same prompt tokens for every request of the mixed load
(like for like; it fails otherwise), takes per-round ratios gemmactl / llama-server and their medians,
and writes the `bench-models` marked section of --out.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_load  # noqa: E402
import bench_report  # noqa: E402

SECTION = "bench-models"
MODELS = ("a", "b")
LEVELS = ((2, 8), (4, 16))  # (concurrency, requests)
CANDIDATE, BASELINE = "gemmactl serve", "llama-server"


def request_json(port, key, method, path, body=None, timeout=60):
    connection = http.client.HTTPConnection(bench_load.HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                           headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        return response.status, text
    finally:
        connection.close()


def model_status(port, key, name):
    status, text = request_json(port, key, "GET", "/models")
    if status != 200:
        raise RuntimeError(f"GET /models answered {status}: {text[:200]}")
    for model in json.loads(text).get("data", []):
        if model.get("id") == name:
            value = model.get("status")
            return value.get("value") if isinstance(value, dict) else value
    raise RuntimeError(f"GET /models does not list model {name!r}: {text[:300]}")


def wait_for_status(port, key, name, wanted, timeout_s=120):
    limit = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < limit:
        seen = model_status(port, key, name)
        if seen == wanted:
            return
        time.sleep(0.05)
    raise RuntimeError(f"model {name} did not become {wanted} within {timeout_s} s (last: {seen})")


def descendants(pid):
    """pid and every process under it."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(children.get(current, []))
    return found


class TreeRSSSampler(bench_load.RSSSampler):
    """The peak of the summed VmRSS of a process tree, in `peak_rss` (KiB)."""

    def sample(self):
        total = sum((bench_load.proc_status(pid) or {"rss": 0})["rss"] for pid in descendants(self.pid))
        self.peak_rss = max(self.peak_rss, total)


def chat(port, key, model, number, max_tokens):
    return bench_load.stream_chat(port, key, bench_load.prompt_messages(number), max_tokens, 600, {"model": model})


def checked(result, what):
    if not result["ok"]:
        raise RuntimeError(f"{what} failed: {result['error']}")
    if result["ttft"] is None:
        raise RuntimeError(f"{what} streamed no content")
    return result


def mixed_level(port, key, concurrency, numbers, max_tokens):
    queue, lock, results = list(numbers), threading.Lock(), []

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                number = queue.pop(0)
            model = MODELS[number % 2]
            result = chat(port, key, model, number, max_tokens)
            result.update(model=model, number=number)
            with lock:
                results.append(result)

    started = time.perf_counter()
    workers = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    wall = time.perf_counter() - started
    for result in results:
        checked(result, f"request {result['number']} ({result['model']}) at c={concurrency}")
    return {"concurrency": concurrency, "wall": wall,
            "completion_tokens": sum(r["completion_tokens"] for r in results),
            "ttft_p50_ms": statistics.median(r["ttft"] for r in results) * 1000,
            "prompt_tokens": {f"{r['model']}:{r['number']}": r["prompt_tokens"] for r in results}}


def cmd_drive(args):
    key = os.environ["BENCH_API_KEY"]
    sampler = TreeRSSSampler(args.pid)
    sampler.start()
    try:
        ready_ms = bench_load.wait_ready(args.pid, args.start_ns, args.port, 300)
        switches = []
        for index in range(args.switches):
            if model_status(args.port, key, "b") != "unloaded":
                status, text = request_json(args.port, key, "POST", "/models/unload", {"model": "b"})
                if status != 200:
                    raise RuntimeError(f"POST /models/unload b answered {status}: {text[:200]}")
                wait_for_status(args.port, key, "b", "unloaded")
            result = checked(chat(args.port, key, "b", 1000 + index, 8), f"switch {index + 1} to b")
            switches.append(result["ttft"] * 1000)
        checked(chat(args.port, key, "a", 2000, 8), "warm-up of a")
        checked(chat(args.port, key, "b", 2001, 8), "warm-up of b")
        levels, first = [], 0
        for concurrency, requests in LEVELS:
            levels.append(mixed_level(args.port, key, concurrency, range(first, first + requests), args.max_tokens))
            first += requests
    finally:
        sampler.stop()
    result = {"name": args.name, "ready_ms": ready_ms, "switch_ms": switches, "levels": levels,
              "peak_rss_mib": sampler.peak_rss / 1024, "max_tokens": args.max_tokens}
    bench_load.write_atomic(args.out, json.dumps(result, indent=1))
    print(f"{args.name}: ready {ready_ms:.0f} ms, switch p50 {statistics.median(switches):.0f} ms, "
          + ", ".join(f"c={l['concurrency']} {l['completion_tokens'] / l['wall']:.1f} tok/s" for l in levels)
          + f", peak RSS {result['peak_rss_mib']:.0f} MiB", flush=True)


def figures(result):
    out = {"ready ms": result["ready_ms"], "switch ms (p50)": statistics.median(result["switch_ms"]),
           "peak RSS MiB (all processes)": result["peak_rss_mib"]}
    for level in result["levels"]:
        out[f"generated tok/s c={level['concurrency']}"] = level["completion_tokens"] / level["wall"]
        out[f"TTFT p50 ms c={level['concurrency']}"] = level["ttft_p50_ms"]
    return out


# metric, better, target ratio (None: none), whether the ratio must be at least (True) or at most (False)
METRICS = [("generated tok/s c=2", "higher", 1.00, True), ("generated tok/s c=4", "higher", 1.00, True),
           ("TTFT p50 ms c=2", "lower", None, False), ("TTFT p50 ms c=4", "lower", None, False),
           ("switch ms (p50)", "lower", 1.00, False), ("peak RSS MiB (all processes)", "lower", 0.80, False),
           ("ready ms", "lower", None, False)]


def prompt_mismatches(results):
    """Requests whose prompt token counts differ between results: like for like or nothing."""
    counts = [{k: v for level in r["levels"] for k, v in level["prompt_tokens"].items()} for r in results]
    keys = set().union(*counts)
    return sorted(k for k in keys if len({c.get(k) for c in counts}) > 1)


def cmd_report(args):
    results = bench_load.load_json_files(args.result, ("name", "levels", "switch_ms", "peak_rss_mib"),
                                         "a result of `bench_models.py drive`")
    mismatched = prompt_mismatches(results)
    if mismatched:
        raise SystemExit(f"the servers counted different prompt tokens for {len(mismatched)} request(s) "
                         f"(e.g. {mismatched[0]}): not like for like, no report")
    by_name = {}
    for result in results:
        by_name.setdefault(result["name"], []).append(figures(result))
    if set(by_name) != {CANDIDATE, BASELINE} or len(by_name[CANDIDATE]) != len(by_name[BASELINE]):
        raise SystemExit(f"need one result of each of {CANDIDATE!r} and {BASELINE!r} per round, got "
                         + ", ".join(f"{name} x{len(rounds)}" for name, rounds in by_name.items()))
    rounds = len(by_name[CANDIDATE])
    lines = ["| metric | better | llama-server | gemmactl serve | ratio | target | met |", "|---|---|---:|---:|---:|---|---|"]
    for metric, better, target, at_least in METRICS:
        ours = statistics.median(r[metric] for r in by_name[CANDIDATE])
        peer = statistics.median(r[metric] for r in by_name[BASELINE])
        ratio = statistics.median(o[metric] / p[metric] for o, p in zip(by_name[CANDIDATE], by_name[BASELINE]) if p[metric])
        met = "" if target is None else ("yes" if (ratio >= target if at_least else ratio <= target) else "**no**")
        goal = "" if target is None else f"{'≥' if at_least else '≤'} {target:.2f}"
        lines.append(f"| {metric} | {better} | {peer:,.1f} | {ours:,.1f} | {ratio:.2f} | {goal} | {met} |")
    per_round = ["", "Per round, generated tok/s at c=2 / c=4 and switch ms (p50):", ""]
    for index in range(rounds):
        cells = [f"{name}: " + " / ".join(f"{by_name[name][index][m]:.1f}" for m in
                 ("generated tok/s c=2", "generated tok/s c=4", "switch ms (p50)")) for name in (BASELINE, CANDIDATE)]
        per_round.append(f"- round {index + 1}: " + "; ".join(cells))
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    switches = len(results[0]["switch_ms"])
    section = "\n".join([
        "## Two models behind one server: gemmactl serve / llama-server's router", "",
        f"Generated by `scripts/bench-models` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"at commit `{args.commit}` ({platform.machine()}, {os.cpu_count()} CPUs, {memory:.1f} GiB). "
        "Both servers get `--models-dir` with two copies of the default model (`a.gguf`, `b.gguf`), `--models-max 2 "
        f"-c 4096 --parallel 4 --threads {args.threads}` and an API key; llama-server also gets `--no-jinja "
        "--chat-template gemma` (the GGUF has no template; gemmactl formats Gemma's turns itself), which its router "
        "passes to the process it starts for each model. Each round starts each server once, in alternating order. "
        f"*switch ms*: a streamed chat for `b` after `POST /models/unload` took it out, request to first content "
        f"token ({switches} per round, median); *generated tok/s*: completion tokens ÷ wall time of a mixed load, "
        f"even requests to `a`, odd to `b`, every prompt distinct, `max_tokens: {results[0]['max_tokens']}`, after "
        "both were loaded (8 requests at c=2, 16 at c=4); *peak RSS*: the largest sum of VmRSS over the server and "
        "every process under it (llama-server's router runs one child per model), sampled every 0.2 s; "
        "*ready ms*: start to the first /health 200 (gemmactl has loaded its default model `a` by then, the "
        "router has loaded none). Both servers counted the same prompt tokens for every request. "
        f"Ratios are medians of the {rounds} rounds' own ratios.", "",
        f"- llama-server (the peer), llama.cpp's default options as users build them: `{args.peer_flags}`",
        f"- gemmactl's engine (`scripts/build-llama`): `{args.ours_flags.strip()}`", "",
        *lines, *per_round, "",
        "Command: `" + args.command + "`", ""])
    bench_report.put_marked_section(args.out, SECTION, section)
    print(section)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    drive = commands.add_parser("drive")
    drive.add_argument("--pid", type=int, required=True)
    drive.add_argument("--start-ns", type=int, required=True)
    drive.add_argument("--port", type=int, required=True)
    drive.add_argument("--name", required=True)
    drive.add_argument("--out", required=True)
    drive.add_argument("--switches", type=int, default=3)
    drive.add_argument("--max-tokens", type=int, default=64)
    report = commands.add_parser("report")
    report.add_argument("--result", action="append", required=True)
    report.add_argument("--out", required=True)
    report.add_argument("--command", dest="command_line", required=True)
    report.add_argument("--commit", required=True)
    report.add_argument("--threads", required=True)
    report.add_argument("--ours-flags", default="")
    report.add_argument("--peer-flags", default="")
    args = parser.parse_args()
    if args.command == "report":
        args.command = args.command_line
        cmd_report(args)
    else:
        cmd_drive(args)


if __name__ == "__main__":
    main()
