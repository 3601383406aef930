#!/usr/bin/env python3
"""Load driver for scripts/bench: measures one server at a time and combines the results. Standard library only.

  bench_load.py free-port
  bench_load.py drive  --name NAME --pid PID --start-ns NS --port P --api-key-env VAR --out result.json [options]
  bench_load.py multiturn --name NAME --pid PID --start-ns NS --port P --out result.json [options]
  bench_load.py same-prompts --result a.json --result b.json
  bench_load.py mean-prompt result.json
  bench_load.py join   --part c1.json --part c4.json --out joined.json
  bench_load.py merge  --round r1.json --round r2.json --out merged.json
  bench_load.py report --result a.json --result b.json [--llama-bench lb.json] --out BENCHMARKS.md [options]
                       (the report itself is scripts/bench_report.py)

`drive` waits for the server's first /health 200 (the ready time counts from --start-ns, taken
by the caller just before it started the process), sends one short warm-up request, then the
same streaming chat load at each concurrency level, sampling the process's VmHWM throughout.
Every request's prompt is distinct (a request number leads the user turn), so neither server can
answer from a cached prefix beyond the fixed system line. Only 127.0.0.1 is ever contacted.
"""

import argparse
import http.client
import json
import math
import os
import queue
import socket
import statistics
import sys
import threading
import time

HOST = "127.0.0.1"

SYSTEM = "You are a careful assistant. Answer in plain prose, with concrete detail."

PASSAGE = (
    "A small city runs its own water utility. Water is drawn from a river, passed through screens "
    "that catch leaves and fish, settled in large basins where sand and silt sink, filtered through "
    "layers of gravel and sand, disinfected, and pumped into a network of pipes and two hilltop "
    "reservoirs. Engineers watch pressure, turbidity and chlorine levels around the clock, and crews "
    "replace old cast-iron mains a few streets at a time. In dry summers the river runs low, and the "
    "utility asks residents to water gardens only in the evening."
)

TOPICS = [
    "why the settling basins come before the filters",
    "how the hilltop reservoirs keep pressure steady at night",
    "what turbidity measures and why it matters",
    "how a crew plans the replacement of an old water main",
    "why disinfection is the last treatment step",
    "what the utility could do to prepare for a very dry summer",
    "how the screens at the intake are cleaned and why",
    "the trade-offs between gravel and sand in a filter bed",
    "how engineers find a leak in a buried pipe",
    "why chlorine levels are measured far from the plant",
    "how the utility might explain a boil-water notice to residents",
    "what could go wrong if a reservoir were drained for repairs",
]


def prompt_messages(number):
    topic = TOPICS[number % len(TOPICS)]
    user = (f"Request {number}. Read this passage.\n\n{PASSAGE}\n\n"
            f"Now explain, in several paragraphs, {topic}. Give examples.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


# The repetition workloads, where draft-free speculation pays: the answer repeats the prompt's text.
# Each request's text is its own (a numbered record), so no server answers from a cached prefix.
WORDS = ("amber basalt cedar delta ember fjord granite harbor indigo juniper kestrel lagoon meadow "
         "nickel orchid pebble quartz raven saffron timber umber violet willow yarrow zephyr").split()


def record_text(number):
    """A short made-up record, different for every number."""
    street = f"{WORDS[number % len(WORDS)].title()} {WORDS[(number * 7 + 3) % len(WORDS)].title()} Street"
    return (f"Ticket {number}: {WORDS[(number * 3 + 1) % len(WORDS)].title()} {WORDS[(number * 5 + 2) % len(WORDS)].title()}, "
            f"living at {100 + number} {street}, reports that the water pressure has been low since Monday "
            f"morning, that the tap water looks cloudy after six in the evening, and that the meter reads "
            f"{40_000 + number * 37} cubic metres. Phone {555_0100 + number}. {PASSAGE}")


def repeat_messages(number):
    user = f"Repeat the following text exactly, word for word, and nothing else.\n\n{record_text(number)}"
    return [{"role": "user", "content": user}]


EXTRACT_SCHEMA = {
    "type": "object",
    "properties": {
        "ticket": {"type": "integer"}, "name": {"type": "string"}, "address": {"type": "string"},
        "phone": {"type": "string"}, "meter_cubic_metres": {"type": "integer"},
        "complaints": {"type": "array", "items": {"type": "string"}}, "summary": {"type": "string"},
    },
    "required": ["ticket", "name", "address", "phone", "meter_cubic_metres", "complaints", "summary"],
}


def extract_messages(number):
    user = (f"Extract the ticket number, name, address, phone, meter reading, each complaint as written, and a "
            f"summary quoting the record, as JSON.\n\n{record_text(number)}")
    return [{"role": "user", "content": user}]


def random_messages(number):
    """Distinct random words: nothing in the prompt for an answer to repeat (speculation's worst case)."""
    import random
    rng = random.Random(number)
    words = " ".join(rng.choice(WORDS) for _ in range(60))
    return [{"role": "user", "content": f"Request {number}. Write a short story that uses these words: {words}"}]


# workload name -> (messages for request number n, extra request body fields)
WORKLOADS = {
    "chat": (prompt_messages, {}),
    "repeat": (repeat_messages, {}),
    "extract": (extract_messages, {"response_format": {"type": "json_schema",
                                                       "json_schema": {"name": "ticket", "schema": EXTRACT_SCHEMA}}}),
    "random": (random_messages, {}),
}


# The multi-turn scenario: conversations that share a long system prompt and come back turn after
# turn with their whole history, more of them than the server has slots, so a conversation's prefix
# is often gone from its slot by its next turn. This is where a prompt cache beyond the slots pays.
SHARED_SYSTEM = (
    "You are the help desk assistant of a small city's water utility. " + PASSAGE + " "
    "Answer residents briefly and concretely. When a question is about billing, say that billing "
    "questions go to the office on weekdays. When a question is about an emergency such as a burst "
    "main, tell them to call the emergency line at once. Never invent figures you were not given. "
    "Keep each answer to two or three sentences, and stay friendly and plain. " + PASSAGE
)


def conversation_turn(conversation, turn):
    topic = TOPICS[(conversation * 5 + turn) % len(TOPICS)]
    return f"Resident {conversation}, question {turn + 1}: could you tell me {topic}?"


def conversation_reply(conversation, turn):
    return (f"Thank you for asking, resident {conversation}. In short: the crews check this every week, and the "
            f"details for question {turn + 1} are posted at the utility office and on the notice board.")


def run_conversations(port, key, conversations, turns, max_tokens, request_timeout, route=None):
    """Runs every conversation at once, each turn after the last one's answer; returns per-turn results.
    `route(messages)`, when given, picks the port of each turn (scripts/bench_dispatch.py's replicas)."""
    results = []
    lock = threading.Lock()

    def converse(conversation):
        messages = [{"role": "system", "content": SHARED_SYSTEM}]
        for turn in range(turns):
            messages.append({"role": "user", "content": conversation_turn(conversation, turn)})
            turn_port = route(messages) if route else port
            outcome = stream_chat(turn_port, key, messages, max_tokens, request_timeout)
            outcome.update(conversation=conversation, turn=turn, port=turn_port)
            with lock:
                results.append(outcome)
            if not outcome["ok"]:
                return
            # A fixed reply rather than the model's: both servers then see the same history, token
            # for token, and the comparison stays like with like.
            messages.append({"role": "assistant", "content": conversation_reply(conversation, turn)})

    threads = [threading.Thread(target=converse, args=(c,), daemon=True) for c in range(conversations)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def cmd_multiturn(args):
    key = os.environ.get(args.api_key_env)
    if not key:
        raise RuntimeError(f"{args.api_key_env} is not set")
    ready_ms = wait_ready(args.pid, args.start_ns, args.port, args.ready_timeout)
    results = run_conversations(args.port, key, args.conversations, args.turns, args.max_tokens, args.request_timeout)
    ok = [r for r in results if r["ok"]]
    failed = [r for r in results if not r["ok"]]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(results)} turns failed on {args.name}: {failed[0]['error']}")
    ttfts = [r["ttft"] for r in ok if r["ttft"] is not None]
    later = [r["ttft"] for r in ok if r["ttft"] is not None and r["turn"] > 0]
    prompt = sum(r["prompt_tokens"] or 0 for r in ok)
    cached = sum(r["cached_tokens"] or 0 for r in ok)
    write_atomic(args.out, json.dumps({
        "name": args.name, "command": args.command, "ready_ms": ready_ms,
        "conversations": args.conversations, "turns": args.turns, "max_tokens": args.max_tokens,
        "requests": len(ok), "prompt_tokens": prompt, "cached_tokens": cached,
        "cached_share": cached / prompt if prompt else None,
        "ttft_p50_ms": percentile(ttfts, 0.50) * 1000 if ttfts else None,
        "ttft_p95_ms": percentile(ttfts, 0.95) * 1000 if ttfts else None,
        "later_ttft_p50_ms": percentile(later, 0.50) * 1000 if later else None,
        "prompt_tokens_by_number": {f"{r['conversation']}.{r['turn']}": r["prompt_tokens"] for r in ok},
    }, indent=1))


# MARK: helpers


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def proc_status(pid):
    """VmHWM and VmRSS in KiB, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return None
    def kib(name):
        value = fields.get(name, "0 kB").split()
        return int(value[0]) if value else 0
    return {"hwm": kib("VmHWM"), "rss": kib("VmRSS")}


def cpu_seconds(pid):
    """User + system CPU time the process has used so far, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def machine_busy_seconds():
    """CPU seconds all processes have spent busy (not idle or waiting on I/O) since boot, over every CPU."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal ...: busy is everything but idle and iowait.
    ticks = [int(v) for v in fields[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    """CPU time of this load driver (all its threads)."""
    times = os.times()
    return times.user + times.system


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    status = proc_status(pid)
    return status is not None


def percentile(values, fraction):
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


class RSSSampler(threading.Thread):
    def __init__(self, pid, interval=0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_hwm = 0
        self.peak_rss = 0
        self.done = threading.Event()

    def sample(self):
        status = proc_status(self.pid)
        if status:
            self.peak_hwm = max(self.peak_hwm, status["hwm"])
            self.peak_rss = max(self.peak_rss, status["rss"])

    def run(self):
        while not self.done.is_set():
            self.sample()
            self.done.wait(self.interval)
        self.sample()

    def stop(self):
        self.done.set()
        self.join()


# MARK: one streaming request


def stream_chat(port, key, messages, max_tokens, timeout, extra=None):
    """Sends one streaming chat request (with `extra` body fields); returns a dict of what happened (never raises)."""
    body = json.dumps({
        "model": "bench",
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0,
        "max_tokens": max_tokens,
        **(extra or {}),
    }).encode()
    result = {"ok": False, "error": None, "ttft": None, "duration": None, "prompt_tokens": None,
              "completion_tokens": None, "cached_tokens": None, "content_chunks": 0, "finish_reason": None,
              "last_token_at": None, "usage_seen": False, "done_seen": False, "chars": 0, "text": ""}
    started = time.perf_counter()
    result["started"] = started
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("POST", "/v1/chat/completions", body=body, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {key}", "Accept": "text/event-stream"})
        response = connection.getresponse()
        if response.status != 200:
            text = response.read(2000).decode("utf-8", "replace")
            result["error"] = f"HTTP {response.status}: {text.strip()[:300]}"
            return result
        while True:
            line = response.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue  # blank separators, ": ping" comments, event: lines
            payload = line[5:].strip()
            if payload == b"[DONE]":
                result["done_seen"] = True
                break
            try:
                chunk = json.loads(payload)
            except ValueError:
                result["error"] = f"bad SSE JSON: {payload[:200]!r}"
                return result
            if "error" in chunk:
                result["error"] = f"error event: {json.dumps(chunk['error'])[:300]}"
                return result
            now = time.perf_counter()
            for choice in chunk.get("choices") or []:
                content = (choice.get("delta") or {}).get("content")
                if content:
                    if result["ttft"] is None:
                        result["ttft"] = now - started
                    result["content_chunks"] += 1
                    result["chars"] += len(content)
                    result["text"] += content
                    result["last_token_at"] = now - started
                if choice.get("finish_reason"):
                    result["finish_reason"] = choice["finish_reason"]
            usage = chunk.get("usage")
            if usage:
                result["usage_seen"] = True
                result["prompt_tokens"] = usage.get("prompt_tokens")
                result["completion_tokens"] = usage.get("completion_tokens")
                details = usage.get("prompt_tokens_details") or {}
                result["cached_tokens"] = details.get("cached_tokens")
        result["duration"] = time.perf_counter() - started
        if not result["usage_seen"]:
            result["error"] = "the stream carried no usage chunk (stream_options.include_usage)"
        elif not result["done_seen"]:
            result["error"] = "the stream ended without data: [DONE]"
        else:
            result["ok"] = True
        return result
    except (OSError, http.client.HTTPException) as error:
        result["error"] = f"{type(error).__name__}: {error}"
        return result
    finally:
        connection.close()


def run_level(pid, port, key, concurrency, numbers, max_tokens, request_timeout, deadline_s, workload="chat"):
    """Runs the requests `numbers` with `concurrency` workers; stops starting new ones after the deadline."""
    work = queue.Queue()
    for n in numbers:
        work.put(n)
    results = []
    lock = threading.Lock()
    cpu_before = cpu_seconds(pid)
    busy_before, driver_before = machine_busy_seconds(), own_cpu_seconds()
    level_start = time.perf_counter()
    deadline = level_start + deadline_s

    def worker():
        while time.perf_counter() < deadline:
            try:
                n = work.get_nowait()
            except queue.Empty:
                return
            messages, extra = WORKLOADS[workload]
            outcome = stream_chat(port, key, messages(n), max_tokens, request_timeout, extra)
            outcome["number"] = n
            outcome["ended"] = time.perf_counter()
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - level_start
    cpu_after = cpu_seconds(pid)
    server_cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    busy_after, driver_after = machine_busy_seconds(), own_cpu_seconds()
    # What neither the server nor this driver used: other processes competing for the CPUs.
    other_cpu = None
    if server_cpu is not None and busy_before is not None and busy_after is not None:
        other_cpu = max(0.0, (busy_after - busy_before) - server_cpu - (driver_after - driver_before))
    skipped = work.qsize()
    ok = [r for r in results if r["ok"]]
    ttfts = [r["ttft"] for r in ok if r["ttft"] is not None]
    completion = sum(r["completion_tokens"] or 0 for r in ok)
    prompt = sum(r["prompt_tokens"] or 0 for r in ok)
    ttft_sum = sum(r["ttft"] for r in ok if r["ttft"] is not None and r["prompt_tokens"])
    per_stream = []
    for r in ok:
        tokens = r["completion_tokens"] or 0
        if r["ttft"] is not None and r["last_token_at"] is not None and tokens > 1 and r["last_token_at"] > r["ttft"]:
            per_stream.append((tokens - 1) / (r["last_token_at"] - r["ttft"]))
    finish = {}
    for r in ok:
        finish[r["finish_reason"]] = finish.get(r["finish_reason"], 0) + 1
    cached = [r["cached_tokens"] for r in ok if r["cached_tokens"] is not None]
    return {
        "concurrency": concurrency,
        "requested": len(numbers),
        "completed": len(ok),
        "failed": len(results) - len(ok),
        "skipped_after_deadline": skipped,
        "errors": sorted({r["error"] for r in results if r["error"]})[:5],
        "wall_s": wall,
        "completion_tokens": completion,
        "prompt_tokens": prompt,
        "cached_tokens": sum(cached) if cached else None,
        "generated_tps": completion / wall if ok and wall > 0 else None,
        "per_stream_tps_p50": statistics.median(per_stream) if per_stream else None,
        "ttft_p50_ms": percentile(ttfts, 0.50) * 1000 if ttfts else None,
        "ttft_p95_ms": percentile(ttfts, 0.95) * 1000 if ttfts else None,
        "prompt_tps": prompt / ttft_sum if ttft_sum > 0 else None,
        "finish_reasons": finish,
        "server_cpu_s": server_cpu,
        "other_cpu_share": other_cpu / (wall * (os.cpu_count() or 1)) if other_cpu is not None and wall > 0 else None,
        "texts": {str(r["number"]): r["text"] for r in ok},
        "prompt_tokens_by_number": {str(r["number"]): r["prompt_tokens"] for r in ok},
        "cpu_ms_per_token": server_cpu * 1000 / (completion + prompt) if server_cpu is not None and completion + prompt else None,
    }


# MARK: drive


def wait_ready(pid, start_ns, port, timeout_s):
    """Polls /health until 200; returns ms since start_ns. Raises on timeout or a dead process."""
    limit = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < limit:
        if not alive(pid):
            raise RuntimeError(f"the server (pid {pid}) exited before /health answered 200 (last: {last})")
        connection = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return (time.time_ns() - start_ns) / 1e6
            last = f"HTTP {response.status}"
        except (OSError, http.client.HTTPException) as error:
            last = type(error).__name__
        finally:
            connection.close()
        time.sleep(0.005)
    raise RuntimeError(f"/health did not answer 200 within {timeout_s} s (last: {last})")


def cmd_drive(args):
    key = os.environ.get(args.api_key_env)
    if not key:
        sys.exit(f"error: environment variable {args.api_key_env} (the API key) is not set")
    levels = [int(c) for c in args.concurrency.split(",")]
    counts = [int(c) for c in args.requests.split(",")]
    if len(counts) == 1:
        counts = counts * len(levels)
    if len(counts) != len(levels) or min(levels + counts) < 1:
        sys.exit(f"error: --requests ({args.requests}) needs one positive count, or one per level of --concurrency ({args.concurrency})")
    sampler = RSSSampler(args.pid)
    sampler.start()
    try:
        ready_ms = wait_ready(args.pid, args.start_ns, args.port, args.ready_timeout)
        print(f"    ready after {ready_ms:.0f} ms", file=sys.stderr)
        load_before = os.getloadavg()[0]
        # Warm-up: one short request, not counted (first-touch page faults, lazy allocations).
        messages, extra = WORKLOADS[args.workload]
        warm = stream_chat(args.port, key, messages(10_000), 8, args.request_timeout, extra)
        if not warm["ok"]:
            raise RuntimeError(f"the warm-up request failed: {warm['error']}")
        results = []
        next_number = args.first_number
        for concurrency, count in zip(levels, counts):
            numbers = list(range(next_number, next_number + count))
            next_number += count
            if not alive(args.pid):
                raise RuntimeError(f"the server (pid {args.pid}) exited during the run")
            level = run_level(args.pid, args.port, key, concurrency, numbers, args.max_tokens, args.request_timeout,
                              args.level_timeout, args.workload)
            results.append(level)
            tps = level["generated_tps"]
            ttft = level["ttft_p50_ms"]
            print(f"    c={concurrency}: {level['completed']}/{count} ok, "
                  f"{tps if tps is None else round(tps, 1)} gen tok/s, TTFT p50 "
                  f"{ttft if ttft is None else round(ttft)} ms"
                  + (f", errors: {level['errors']}" if level["errors"] else ""), file=sys.stderr)
        load_after = os.getloadavg()[0]
    finally:
        sampler.stop()
    output = {
        "name": args.name,
        "command": args.command,
        "ready_ms": ready_ms,
        "peak_rss_kib": sampler.peak_hwm or sampler.peak_rss,
        "max_tokens": args.max_tokens,
        "workload": args.workload,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "levels": results,
    }
    write_atomic(args.out, json.dumps(output, indent=2))


def mean_prompt_tokens(result):
    """Prompt tokens per completed request over all levels of a result (0 when none completed)."""
    completed = sum(l["completed"] for l in result["levels"])
    return round(sum(l["prompt_tokens"] for l in result["levels"]) / completed) if completed else 0


# MARK: merge


MEDIAN_KEYS = ["wall_s", "generated_tps", "per_stream_tps_p50", "ttft_p50_ms", "ttft_p95_ms", "prompt_tps", "cpu_ms_per_token"]
SUM_KEYS = ["requested", "completed", "failed", "skipped_after_deadline", "completion_tokens", "prompt_tokens",
            "cached_tokens", "server_cpu_s"]


def median_of(values):
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def merge_rounds(rounds):
    """One result from several rounds of the same server: medians of rates and latencies, sums of
    counts, the largest peak RSS and load average; texts and prompt token counts of every round (each
    round sends its own prompts)."""
    first = rounds[0]
    shapes = [[l["concurrency"] for l in r["levels"]] for r in rounds]
    if any(shape != shapes[0] for shape in shapes):
        raise RuntimeError(f"the rounds of {first['name']} measured different levels: {shapes}")
    merged = dict(first)
    merged["rounds"] = len(rounds)
    merged["ready_ms"] = median_of([r["ready_ms"] for r in rounds])
    merged["ready_ms_per_round"] = [r["ready_ms"] for r in rounds]
    merged["peak_rss_kib"] = max(r["peak_rss_kib"] for r in rounds)
    merged["loadavg_before"] = max(r["loadavg_before"] for r in rounds)
    merged["loadavg_after"] = max(r["loadavg_after"] for r in rounds)
    levels = []
    for index, level in enumerate(first["levels"]):
        group = [r["levels"][index] for r in rounds]
        combined = dict(level)
        for key in MEDIAN_KEYS:
            combined[key] = median_of([g.get(key) for g in group])
        for key in SUM_KEYS:
            values = [g.get(key) for g in group]
            combined[key] = None if any(v is None for v in values) else sum(values)
        combined["errors"] = [e for g in group for e in g["errors"]]
        for key in ("texts", "prompt_tokens_by_number"):
            combined[key] = {number: value for g in group for number, value in g.get(key, {}).items()}
        reasons = {}
        for g in group:
            for reason, count in g["finish_reasons"].items():
                reasons[reason] = reasons.get(reason, 0) + count
        combined["finish_reasons"] = reasons
        combined["per_round"] = {key: [g.get(key) for g in group] for key in MEDIAN_KEYS}
        shares = [g["other_cpu_share"] for g in group if g.get("other_cpu_share") is not None]
        combined["other_cpu_share"] = max(shares) if shares else None
        levels.append(combined)
    merged["levels"] = levels
    return merged


def join_levels(parts):
    """One result from runs of the same server that each measured some levels (one process each):
    the levels in order, the median ready time and the largest peak RSS of the processes."""
    first = parts[0]
    joined = dict(first)
    joined["ready_ms"] = median_of([p["ready_ms"] for p in parts])
    joined["peak_rss_kib"] = max(p["peak_rss_kib"] for p in parts)
    joined["loadavg_before"] = max(p["loadavg_before"] for p in parts)
    joined["loadavg_after"] = max(p["loadavg_after"] for p in parts)
    joined["levels"] = [level for p in parts for level in p["levels"]]
    return joined


DRIVE_FIELDS = ("name", "max_tokens", "levels")
DRIVE_RESULT = "a result of `bench_load.py drive` (or of merge or join)"


def load_json_files(paths, required=(), kind="a result of bench_load.py"):
    """The JSON documents in `paths`; a file that cannot be read, or lacks a `required` field, is an error naming it."""
    results = []
    for path in paths:
        try:
            with open(path) as f:
                result = json.load(f)
        except (OSError, ValueError) as error:
            raise RuntimeError(f"cannot read {path}: {error}")
        missing = [field for field in required if not isinstance(result, dict) or field not in result]
        if missing:
            raise RuntimeError(f"{path} has no {', '.join(missing)}: this option takes {kind}")
        results.append(result)
    return results


def prompt_token_mismatches(results):
    """The requests that two servers saw as different numbers of prompt tokens: (number, {name: count})."""
    def by_number(result):
        if "levels" not in result:
            return result.get("prompt_tokens_by_number", {})
        return {k: v for level in result["levels"] for k, v in level.get("prompt_tokens_by_number", {}).items()}
    counts = [(r["name"], by_number(r)) for r in results]
    mismatches = []
    shared = set.intersection(*(set(c) for _, c in counts)) if counts else set()
    for number in sorted(shared, key=lambda n: [int(part) for part in n.split(".")]):
        seen = {name: c[number] for name, c in counts}
        if len(set(seen.values())) > 1:
            mismatches.append((number, seen))
    return mismatches, len(shared)


def require_same_prompts(results, what="the results"):
    """Raises unless the servers saw each request they all completed as the same number of prompt tokens
    (a chat template that differs, say, makes the comparison unlike); returns how many requests they share."""
    mismatches, shared = prompt_token_mismatches(results)
    if mismatches:
        number, seen = mismatches[0]
        raise RuntimeError(f"{what}: {len(mismatches)} of {shared} prompts differ in token count, first request {number}: "
                           + ", ".join(f"{name} {count}" for name, count in seen.items())
                           + " (not a like-for-like comparison)")
    return shared


def cmd_same_prompts(args):
    if require_same_prompts(load_json_files(args.result)) == 0:
        raise RuntimeError("no request completed on every server: nothing to compare")


def cmd_join(args):
    write_atomic(args.out, json.dumps(join_levels(load_json_files(args.part, DRIVE_FIELDS, DRIVE_RESULT)), indent=2))


def cmd_merge(args):
    write_atomic(args.out, json.dumps(merge_rounds(load_json_files(args.round, DRIVE_FIELDS, DRIVE_RESULT)), indent=2))


def write_atomic(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(temporary, "w") as f:
        f.write(text)
    os.replace(temporary, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command_name", required=True)
    sub.add_parser("free-port", help="print a free TCP port on 127.0.0.1")

    drive = sub.add_parser("drive", help="measure one running server")
    drive.add_argument("--name", required=True)
    drive.add_argument("--command", default="", help="the server's command line, for the report")
    drive.add_argument("--pid", type=int, required=True)
    drive.add_argument("--start-ns", type=int, required=True, help="time.time_ns() when the process was started")
    drive.add_argument("--port", type=int, required=True)
    drive.add_argument("--api-key-env", default="BENCH_API_KEY", help="environment variable holding the key")
    drive.add_argument("--concurrency", default="1,4,8")
    drive.add_argument("--requests", default="8", help="requests per level: one count, or one per level (6,12,16)")
    drive.add_argument("--max-tokens", type=int, default=128)
    drive.add_argument("--workload", choices=sorted(WORKLOADS), default="chat",
                       help="chat (explain a passage), repeat (repeat a record word for word), extract (a record's fields "
                            "as JSON under a schema), random (a story from random words: nothing to repeat)")
    drive.add_argument("--first-number", type=int, default=0,
                       help="number of the first request's prompt (a level run on its own continues the numbering)")
    drive.add_argument("--request-timeout", type=float, default=120)
    drive.add_argument("--level-timeout", type=float, default=240, help="no new requests after this many seconds")
    drive.add_argument("--ready-timeout", type=float, default=180)
    drive.add_argument("--out", required=True)

    same = sub.add_parser("same-prompts", help="fail unless the servers saw each prompt as the same token count")
    same.add_argument("--result", action="append", required=True, help="a drive result (repeat per server)")

    mean_prompt = sub.add_parser("mean-prompt", help="print a result's prompt tokens per completed request")
    mean_prompt.add_argument("result")

    merge = sub.add_parser("merge", help="combine several rounds of one server into one result")
    merge.add_argument("--round", action="append", required=True, help="a drive result (repeat per round)")
    merge.add_argument("--out", required=True)

    join = sub.add_parser("join", help="combine one server's level-by-level runs into one result")
    join.add_argument("--part", action="append", required=True, help="a drive result (repeat per level, in order)")
    join.add_argument("--out", required=True)

    report = sub.add_parser("report", help="write BENCHMARKS.md from drive results")
    report.add_argument("--result", action="append", required=True)
    report.add_argument("--llama-bench", action="append", help="llama-bench JSON (repeat for one run per round)")
    report.add_argument("--llama-bench-depth", action="append", help="llama-bench tg run at the load's depth (-d); repeatable")
    report.add_argument("--baseline", default="llama-server")
    report.add_argument("--candidate", default="gemmactl serve")
    report.add_argument("--out", required=True)
    report.add_argument("--commit", default="unknown")
    report.add_argument("--model", default="")
    report.add_argument("--model-size", default="")
    report.add_argument("--threads", default="")
    report.add_argument("--llama-version", default="")
    report.add_argument("--kernel", default="")
    report.add_argument("--level-counts", default="")
    report.add_argument("--ours-flags", default="", help="gemmactl's llama.cpp build options, for the report")
    report.add_argument("--peer-flags", default="", help="the peer llama-server's build options, for the report")
    report.add_argument("--rerun", default="scripts/bench")
    report.add_argument("--quick", action="store_true")
    report.add_argument("--section", default="", help="write the report as this marked section of --out (lowercase letters and "
                        "dashes), keeping the rest of the file, instead of rewriting the file")
    report.add_argument("--multiturn", action="append", help="a multiturn result (repeat per server and round)")

    multiturn = sub.add_parser("multiturn", help="run the multi-turn conversation scenario against one server")
    multiturn.add_argument("--name", required=True)
    multiturn.add_argument("--command", default="")
    multiturn.add_argument("--pid", type=int, required=True)
    multiturn.add_argument("--start-ns", type=int, required=True)
    multiturn.add_argument("--port", type=int, required=True)
    multiturn.add_argument("--api-key-env", default="BENCH_API_KEY")
    multiturn.add_argument("--conversations", type=int, default=12)
    multiturn.add_argument("--turns", type=int, default=6)
    multiturn.add_argument("--max-tokens", type=int, default=48)
    multiturn.add_argument("--request-timeout", type=float, default=300)
    multiturn.add_argument("--ready-timeout", type=float, default=180)
    multiturn.add_argument("--out", required=True)

    args = parser.parse_args()
    try:
        if args.command_name == "free-port":
            print(free_port())
        elif args.command_name == "drive":
            cmd_drive(args)
        elif args.command_name == "mean-prompt":
            with open(args.result) as f:
                print(mean_prompt_tokens(json.load(f)))
        elif args.command_name == "merge":
            cmd_merge(args)
        elif args.command_name == "join":
            cmd_join(args)
        elif args.command_name == "same-prompts":
            cmd_same_prompts(args)
        elif args.command_name == "multiturn":
            cmd_multiturn(args)
        else:
            import bench_report  # here, not at the top: bench_report imports this module
            bench_report.cmd_report(args)
    except RuntimeError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
