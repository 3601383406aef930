#!/usr/bin/env python3
"""Replicas behind an endpoint picker, simulated on loopback. Standard library only; run it through
scripts/bench-dispatch, which builds gemmactl and finds the model.

  bench_dispatch.py --gemmactl PATH --model PATH [--replicas 3] [--conversations 12] [--turns 6]
                    [--max-tokens 32] [--request-timeout 300] [--json out.json] [--benchmarks BENCHMARKS.md]

For each policy it starts REPLICAS fresh `gemmactl serve -t 1 -np 2` processes on 127.0.0.1 (each with an
unauthenticated --metrics-port, as `render --replicas` gives the endpoint picker), then plays the same
multi-turn chat workload through a dispatcher that picks a replica per request the way the Gateway API
Inference Extension's endpoint picker (EPP v1.5.0) does, from the replicas' /metrics scraped at that moment:

  round-robin          the replicas in turn (what a plain Service does, near enough)
  least-queue          the EPP's queue-scorer alone: fewest gemmactl_requests_queued, ties at random
  prefix+queue+kv      the EPP's default profile as render emits it: prefix-cache-scorer (weight 3), queue-scorer (2),
                       kv-cache-utilization-scorer (2), max-score-picker, ties at random

The prefix scorer is the EPP's approximation: the prompt text is cut into blocks of block_size × 4 characters
(block size from gemmactl_kv_cache_block_size_tokens), each block's hash chained to the one before, and every
request's blocks are remembered for the replica it went to (an LRU per replica, gemmactl_kv_cache_blocks entries);
a replica scores the share of the new prompt's leading blocks it has seen.

Workload: bench_load's multi-turn scenario (run_conversations): CONVERSATIONS conversations at once, each TURNS
turns one after the other, all starting with the same ~300-token system prompt, each turn re-sending the whole
history (with fixed assistant replies, so every policy sees the same prompts).
Reported per policy, from the responses' usage: cached prompt tokens ÷ prompt tokens, TTFT p50/p95, aggregate
generated tok/s (completion tokens ÷ wall time) and how busy the machine was with other work. Only 127.0.0.1 is
contacted; every server is stopped on exit.
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_load  # noqa: E402  (the load driver's SSE client, percentiles and CPU accounting)
import bench_report  # noqa: E402  (figures and the marked section in BENCHMARKS.md)

HOST = bench_load.HOST
CHARS_PER_TOKEN = 4  # the EPP's estimate, used to turn a block of tokens into characters of prompt
SECTION = "bench-dispatch"

# MARK: replicas


class Replica:
    def __init__(self, index, gemmactl, model, key, log_dir, context):
        self.index = index
        self.port = bench_load.free_port()
        self.metrics_port = bench_load.free_port()
        self.log_path = os.path.join(log_dir, f"replica-{index}.log")
        self.log = open(self.log_path, "w")
        environment = dict(os.environ, GEMMA_API_KEY=key)
        self.command = [gemmactl, "serve", "-m", model, "-c", str(context), "-t", "1", "-np", "2",
                        "--host", HOST, "--port", str(self.port), "--metrics-port", str(self.metrics_port)]
        self.start_ns = time.time_ns()
        self.process = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT, env=environment)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def metrics(self):
        """The replica's unlabelled samples, by name (raises when it does not answer)."""
        connection = http.client.HTTPConnection(HOST, self.metrics_port, timeout=5)
        try:
            connection.request("GET", "/metrics")
            response = connection.getresponse()
            body = response.read().decode()
            if response.status != 200:
                raise RuntimeError(f"replica {self.index} /metrics answered HTTP {response.status}")
        finally:
            connection.close()
        samples = {}
        for line in body.splitlines():
            parts = line.split(" ")
            if line.startswith("#") or len(parts) != 2 or "{" in parts[0]:
                continue
            try:
                samples[parts[0]] = float(parts[1])
            except ValueError:
                pass
        return samples


# MARK: policies


def block_hashes(text, block_tokens, max_blocks=256):
    """The EPP's approximate prefix blocks: fixed-size character blocks, each hash chained to the previous."""
    size = block_tokens * CHARS_PER_TOKEN
    data = text.encode()[: size * max_blocks]
    hashes, previous = [], b""
    for start in range(0, len(data) - size + 1, size):
        previous = hashlib.sha256(previous + data[start:start + size]).digest()[:8]
        hashes.append(previous)
    return hashes


class PrefixIndex:
    """Per replica, an LRU of the block hashes of the prompts sent there."""

    def __init__(self, count):
        self.seen = [OrderedDict() for _ in range(count)]

    def match_ratio(self, replica, hashes):
        if not hashes:
            return 0.0
        matched = 0
        for h in hashes:
            if h not in self.seen[replica]:
                break
            matched += 1
        return matched / len(hashes)

    def record(self, replica, hashes, capacity):
        lru = self.seen[replica]
        for h in hashes:
            lru[h] = True
            lru.move_to_end(h)
        while len(lru) > max(1, capacity):
            lru.popitem(last=False)


def normalised_low_is_good(values):
    """The EPP's queue-scorer shape: the smallest value scores 1, the largest 0, all equal score 1."""
    low, high = min(values), max(values)
    if high == low:
        return [1.0] * len(values)
    return [(high - v) / (high - low) for v in values]


class Dispatcher:
    def __init__(self, policy, replicas, seed):
        self.policy = policy
        self.replicas = replicas
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.next_index = 0
        self.index = PrefixIndex(len(replicas))
        self.picks = [0] * len(replicas)

    def pick(self, prompt_text):
        with self.lock:
            choice = self._pick(prompt_text)
            self.picks[choice] += 1
            return choice

    def _pick(self, prompt_text):
        if self.policy == "round-robin":
            choice = self.next_index % len(self.replicas)
            self.next_index += 1
            return choice
        samples = [r.metrics() for r in self.replicas]
        queue_scores = normalised_low_is_good([s.get("gemmactl_requests_queued", 0) for s in samples])
        if self.policy == "least-queue":
            scores = queue_scores
        else:
            kv_scores = [1 - s.get("gemmactl_kv_cache_usage_ratio", 0) for s in samples]
            block = int(samples[0].get("gemmactl_kv_cache_block_size_tokens", 16)) or 16
            hashes = block_hashes(prompt_text, block)
            prefix_scores = [self.index.match_ratio(i, hashes) for i in range(len(self.replicas))]
            scores = [3 * p + 2 * q + 2 * k for p, q, k in zip(prefix_scores, queue_scores, kv_scores)]
        best = max(scores)
        choice = self.random.choice([i for i, s in enumerate(scores) if s == best])
        if self.policy != "least-queue":
            capacity = int(samples[choice].get("gemmactl_kv_cache_blocks", 256))
            self.index.record(choice, hashes, capacity)
        return choice


# MARK: workload


def prompt_text(messages):
    """What the EPP hashes: the messages' text in order (the chat template is the server's business)."""
    return "".join(f"{m['role']}\n{m['content']}\n" for m in messages)


def run_policy(policy, args, key, log_dir):
    replicas = [Replica(i, args.gemmactl, args.model, key, log_dir, args.ctx_size) for i in range(args.replicas)]
    try:
        for r in replicas:
            bench_load.wait_ready(r.process.pid, r.start_ns, r.port, timeout_s=180)
        dispatcher = Dispatcher(policy, replicas, seed=args.seed)
        cpu_before = [bench_load.cpu_seconds(r.process.pid) for r in replicas]
        busy_before, driver_before = bench_load.machine_busy_seconds(), bench_load.own_cpu_seconds()
        started = time.perf_counter()
        results = bench_load.run_conversations(
            None, key, args.conversations, args.turns, args.max_tokens, args.request_timeout,
            route=lambda messages: replicas[dispatcher.pick(prompt_text(messages))].port)
        wall = time.perf_counter() - started
        cpu_after = [bench_load.cpu_seconds(r.process.pid) for r in replicas]
        busy_after, driver_after = bench_load.machine_busy_seconds(), bench_load.own_cpu_seconds()
        final = [r.metrics() for r in replicas]
    finally:
        for r in replicas:
            r.stop()
    servers_cpu = sum(a - b for a, b in zip(cpu_after, cpu_before))
    other = max(0.0, (busy_after - busy_before) - servers_cpu - (driver_after - driver_before))
    ok = [r for r in results if r["ok"]]
    prompt = sum(r["prompt_tokens"] or 0 for r in ok)
    cached = sum(r["cached_tokens"] or 0 for r in ok)
    completion = sum(r["completion_tokens"] or 0 for r in ok)
    ttfts = [r["ttft"] for r in ok if r["ttft"] is not None]
    return {
        "policy": policy,
        "requests": args.conversations * args.turns,
        "completed": len(ok),
        "failed": len(results) - len(ok),
        "errors": sorted({r["error"] for r in results if r["error"]})[:5],
        "prompt_tokens": prompt,
        "cached_tokens": cached,
        "cached_share": cached / prompt if prompt else None,
        "cached_tokens_from_metrics": sum(m.get("gemmactl_prompt_tokens_cached_total", 0) for m in final),
        "completion_tokens": completion,
        "wall_s": wall,
        "generated_tps": completion / wall if wall > 0 else None,
        "ttft_p50_ms": bench_load.percentile(ttfts, 0.50) * 1000 if ttfts else None,
        "ttft_p95_ms": bench_load.percentile(ttfts, 0.95) * 1000 if ttfts else None,
        "picks": dispatcher.picks,
        "other_cpu_share": other / (wall * (os.cpu_count() or 1)) if wall > 0 else None,
        "first_prompt_tokens": min((r["prompt_tokens"] for r in ok if r["turn"] == 0), default=None),
    }


# MARK: report


def table(results, args):
    fmt = bench_report.fmt
    cpu, cores, memory = bench_report.machine()
    lines = [
        "## Replicas behind an endpoint picker (simulation)",
        "",
        f"Generated by `scripts/bench-dispatch` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{args.replicas} × `gemmactl serve -c {args.ctx_size} -t 1 -np 2` on 127.0.0.1 (fresh processes for each "
        f"policy), {cpu}, {cores} CPUs, {memory}. Workload: {args.conversations} conversations at once × {args.turns} "
        f"turns (bench_load's multi-turn scenario), each turn re-sending the history; a shared system prompt of "
        f"{results[0]['first_prompt_tokens'] or '?'} prompt tokens with the first question; streaming chat, "
        f"`temperature: 0`, `max_tokens: {args.max_tokens}`. The dispatcher applies the EPP v1.5.0 scorers to each "
        "replica's `/metrics`, scraped when the request arrives (see `scripts/bench_dispatch.py`).",
        "",
        "| policy | requests ok | prompt tokens | cached tokens | cached share | TTFT p50 ms | TTFT p95 ms "
        "| generated tok/s | requests per replica | other processes' CPU share |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['policy']} | {r['completed']}/{r['requests']} | {r['prompt_tokens']:,} | {r['cached_tokens']:,} "
            f"| {fmt(r['cached_share'] * 100 if r['cached_share'] is not None else None, 1, ' %')} "
            f"| {fmt(r['ttft_p50_ms'], 0)} | {fmt(r['ttft_p95_ms'], 0)} | {fmt(r['generated_tps'], 1)} "
            f"| {' / '.join(str(p) for p in r['picks'])} "
            f"| {fmt(r['other_cpu_share'] * 100 if r['other_cpu_share'] is not None else None, 0, ' %')} |")
    lines += [
        "",
        "*cached tokens* = Σ `usage.prompt_tokens_details.cached_tokens` (prompt tokens a slot reused from its KV cache); "
        "*other processes' CPU share* = busy CPU time in `/proc/stat` that neither the replicas nor the driver used, "
        "÷ (wall time × CPUs): the machine is shared, so compare the rows' cached shares first and their timings "
        "with this column in mind.",
        "",
        "Rerun: `scripts/bench-dispatch` (options: `--conversations`, `--turns`, `--max-tokens`, `--request-timeout`).",
    ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gemmactl", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--conversations", type=int, default=12)
    parser.add_argument("--turns", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--ctx-size", type=int, default=4096)
    parser.add_argument("--request-timeout", type=float, default=300, help="seconds one turn may take")
    parser.add_argument("--policies", default="round-robin,least-queue,prefix+queue+kv")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--benchmarks", help="put the table into this Markdown file (its marked section)")
    args = parser.parse_args()
    for name in ("replicas", "conversations", "turns", "max_tokens"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be 1 or more")
    policies = args.policies.split(",")
    for policy in policies:
        if policy not in ("round-robin", "least-queue", "prefix+queue+kv"):
            parser.error(f"unknown policy '{policy}' (round-robin, least-queue, prefix+queue+kv)")
    # A TERM unwinds like Ctrl-C, so every replica is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    key = "dispatch-" + secrets.token_hex(12)
    log_dir = tempfile.mkdtemp(prefix="gemmactl-dispatch.")
    print(f"==> server logs in {log_dir}", file=sys.stderr)
    results = []
    for policy in policies:
        print(f"==> {policy}", file=sys.stderr)
        result = run_policy(policy, args, key, log_dir)
        print(json.dumps({k: v for k, v in result.items() if k != "errors"}), file=sys.stderr)
        if result["failed"] or result["completed"] < result["requests"]:
            print(f"error: {policy}: {result['completed']}/{result['requests']} requests completed; "
                  f"errors: {result['errors']}", file=sys.stderr)
            return 1
        results.append(result)
    # Like for like: every policy must have sent the same prompts (fixed replies make them equal), or the
    # cached shares compare different work.
    totals = {r["policy"]: r["prompt_tokens"] for r in results}
    if len(set(totals.values())) != 1:
        print(f"error: the policies saw different prompt token counts {totals}; not comparable, nothing written",
              file=sys.stderr)
        return 1
    section = table(results, args)
    print(section)
    if args.json:
        bench_load.write_atomic(args.json, json.dumps(results, indent=2) + "\n")
    if args.benchmarks:
        bench_report.put_marked_section(args.benchmarks, SECTION, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
