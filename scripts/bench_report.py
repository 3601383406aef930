"""The report step of scripts/bench: BENCHMARKS.md from bench_load.py's results. Standard library only.

  bench_load.py report --result a.json --result b.json [--llama-bench lb.json] --out BENCHMARKS.md [options]

What a figure is called, how it is rounded, which way is better and what target its ratio has is said
once, in the metric lists below; each server's table, the ratio tables and their verdicts come from
them. Results whose servers saw a prompt as different numbers of tokens are refused: that is not a
like-for-like comparison. Sections that other scripts keep in the same file (put_marked_section) are
carried over when the report rewrites it.
"""

import datetime
import json
import os
import re
import statistics
from typing import NamedTuple, Optional

import bench_load


class Metric(NamedTuple):
    """One figure of a level (or of a whole result), and how the report shows and judges it."""
    key: str
    label: str
    digits: int
    ratio_label: str = ""  # its row in the ratio tables; "" when the figure is shown but not compared
    better: str = ""  # "higher" or "lower"
    target: Optional[float] = None  # issue 16's target for candidate ÷ baseline: at least (higher), at most (lower)
    at: tuple = ()  # the concurrency levels the target is judged at; () for every level
    cost: bool = False  # also in the table of what --deterministic costs
    each_round: bool = False  # a server's table also shows the figure of every round
    percent: bool = False  # a share, shown in percent

    def cell(self, value):
        if self.percent and value is not None:
            value *= 100
        return fmt(value, self.digits, "%" if self.percent else "")

    def judged(self, ratios, per_level=False):
        """The target's text and whether every ratio meets it ("n/a" when none is known); blanks without a target."""
        if self.target is None:
            return ["", ""]
        sign, meets = ("≥", lambda r: r >= self.target) if self.better == "higher" else ("≤", lambda r: r <= self.target)
        where = (" at " + " and ".join(f"c={n}" for n in self.at) if self.at else " at every level") if per_level else ""
        known = [r for r in ratios if r is not None]
        verdict = "n/a" if not known else "yes" if len(known) == len(ratios) and all(map(meets, known)) else "**no**"
        return [f"{sign} {self.target:.2f}{where}", verdict]


LEVEL_METRICS = [
    Metric("generated_tps", "generated tok/s (aggregate)", 1, "generated tok/s", "higher", 1.0, cost=True, each_round=True),
    Metric("per_stream_tps_p50", "per-stream tok/s (p50)", 1, "per-stream tok/s", "higher"),
    Metric("ttft_p50_ms", "TTFT p50 (ms)", 0, "TTFT p50", "lower", 1.0, at=(1, 4), cost=True),
    Metric("ttft_p95_ms", "TTFT p95 (ms)", 0, "TTFT p95", "lower"),
    Metric("prompt_tps", "prompt tok/s", 1, "prompt tok/s", "higher", 1.0, cost=True),
    Metric("cpu_ms_per_token", "server CPU ms per token (prompt + generated)", 2, "server CPU per token", "lower", cost=True),
    Metric("other_cpu_share", "other processes' share of the CPUs", 1, percent=True),
    Metric("completion_tokens", "completion tokens", 0),
    Metric("prompt_tokens", "prompt tokens", 0),
    Metric("cached_tokens", "cached prompt tokens (reported)", 0),
]

RESULT_METRICS = [
    Metric("peak_rss_kib", "peak RSS", 2, better="lower", target=1.0),
    Metric("ready_ms", "ready time", 2, better="lower", target=1.0),
]

MULTITURN_METRICS = [
    Metric("ttft_p50_ms", "TTFT p50 (ms)", 0, better="lower", target=1.0),
    Metric("ttft_p95_ms", "TTFT p95 (ms)", 0, better="lower", target=1.0),
    Metric("later_ttft_p50_ms", "TTFT p50 after the first turn (ms)", 0, better="lower"),
    Metric("cached_share", "cached share of prompt tokens", 2, better="higher", target=1.0),
]


# MARK: figures


def fmt(value, digits=1, suffix=""):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{suffix}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def paired_ratio(base_level, candidate_level, key):
    """candidate ÷ baseline for one level: with rounds, the median of the rounds' own ratios (a round
    measures the two servers back to back, so a slow or fast spell of the machine hits both), else
    the ratio of the two values."""
    base_rounds = (base_level.get("per_round") or {}).get(key)
    candidate_rounds = (candidate_level.get("per_round") or {}).get(key)
    if base_rounds and candidate_rounds and len(base_rounds) == len(candidate_rounds):
        return bench_load.median_of([ratio(c, b) for b, c in zip(base_rounds, candidate_rounds)])
    return ratio(candidate_level.get(key), base_level.get(key))


def machine():
    """The CPU model, the number of CPUs and the memory, for a report's header."""
    def first(path, prefix, value):
        try:
            with open(path) as f:
                return next((value(line) for line in f if line.startswith(prefix)), "unknown")
        except OSError:
            return "unknown"
    cpu = first("/proc/cpuinfo", "model name", lambda line: line.split(":", 1)[1].strip())
    memory = first("/proc/meminfo", "MemTotal:", lambda line: f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB")
    return cpu, os.cpu_count(), memory


def load_bench_runs(paths):
    """llama-bench JSON entries from one or more runs (one per round); a test measured in several runs
    becomes one entry with the median tok/s and the runs' spread (max − min) as ±."""
    groups = {}
    for path in paths or []:
        if not os.path.exists(path):
            continue
        with open(path) as f:
            try:
                entries = json.load(f)
            except ValueError:
                continue
        for entry in entries:
            key = (entry.get("n_prompt"), entry.get("n_gen"), entry.get("n_depth"))
            groups.setdefault(key, []).append(entry)
    merged = []
    for runs in groups.values():
        entry = dict(runs[0])
        if len(runs) > 1:
            speeds = [r["avg_ts"] for r in runs if r.get("avg_ts") is not None]
            entry["avg_ts"] = statistics.median(speeds) if speeds else None
            entry["stddev_ts"] = max(speeds) - min(speeds) if speeds else None
            entry["runs"] = len(runs)
        merged.append(entry)
    return merged or None


# MARK: Markdown


def markdown_table(header, rows, align):
    """A table's lines; `align` has "l" or "r" for each column."""
    def line(cells):
        return "|" + "|".join(f" {cell} " if cell != "" else " " for cell in cells) + "|"
    return [line(header), "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|", *map(line, rows)]


# Sections other scripts keep in the same Markdown file (scripts/bench-constrained's, scripts/bench-dispatch's),
# between "<!-- scripts/NAME -->" and "<!-- /scripts/NAME -->": a report rewrites the file but carries them over.
MARKED_SECTION = re.compile(r"<!-- scripts/([a-z-]+) -->.*?<!-- /scripts/\1 -->\n?", re.DOTALL)


def marked_sections(path):
    try:
        with open(path) as f:
            return [m.group(0).rstrip("\n") + "\n" for m in MARKED_SECTION.finditer(f.read())]
    except OSError:
        return []


def put_marked_section(path, name, section):
    """Puts `section` between NAME's markers in the Markdown file, in place of the old one (or at the end); atomic."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    block = f"<!-- scripts/{name} -->\n{section.rstrip()}\n<!-- /scripts/{name} -->\n"
    kept = [m for m in MARKED_SECTION.finditer(text) if m.group(1) == name]
    if kept:
        text = text[:kept[0].start()] + block + text[kept[0].end():]
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + block
    bench_load.write_atomic(path, text)


# MARK: sections


def header_section(args, results):
    cpu, cores, memory = machine()
    rounds = results[0].get("rounds", 1)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = "# Benchmarks: gemmactl serve vs llama-server" + (" (quick smoke run, not for comparison)" if args.quick else "")
    return [
        title, "",
        f"Generated by `scripts/bench` on {now} at commit `{args.commit}`.", "",
        f"- Machine: {cpu}, {cores} CPUs, {memory} memory ({args.kernel})",
        f"- llama.cpp: `{args.llama_version}`, one pinned source for both",
        f"  - llama-server and llama-bench (the peer), llama.cpp's default options as users build them: `{args.peer_flags}`",
        f"  - gemmactl's engine (`scripts/build-llama`): `{args.ours_flags.strip()}`",
        f"- Model: `{os.path.basename(args.model)}` ({args.model_size})",
        f"- Both servers: `-c 4096 --parallel 4 --threads {args.threads}`, an API key, 127.0.0.1, run one after the other, "
        "level by level (a fresh process for each level, the servers back to back in alternating order)"
        + (f", in {rounds} rounds; tables show the median of the rounds (counts are summed)" if rounds > 1 else ""),
        f"- Load: the `{results[0].get('workload', 'chat')}` workload (`scripts/bench --workload`), "
        f"streaming `POST /v1/chat/completions`, `temperature: 0`, `max_tokens: {results[0]['max_tokens']}`, "
        f"`stream_options.include_usage`; every request a distinct prompt (~{bench_load.mean_prompt_tokens(results[0]) or '?'} "
        f"prompt tokens); requests per level: {args.level_counts}; one uncounted warm-up request first", "",
        "Definitions: *generated tok/s* = completion tokens (from `usage`) of the level ÷ the level's wall time; "
        "*per-stream tok/s* = (completion tokens − 1) ÷ (last content delta − first content delta), median; "
        "*TTFT* = request sent to first non-empty content delta; "
        "*prompt tok/s* = Σ prompt tokens ÷ Σ TTFT; *server CPU ms per token* = the server process's user + system "
        "CPU time during the level ÷ (prompt + completion tokens); *other processes' share* = busy CPU time in `/proc/stat` "
        "that neither the server nor the load driver used, ÷ (wall time × CPUs), the largest of the rounds; "
        "*peak RSS* = the largest `VmHWM` in `/proc/PID/status`.", ""]


def bench_section(bench, at_depth):
    rows = []
    for entry in bench + (at_depth or []):
        test = f"pp{entry['n_prompt']}" if entry.get("n_prompt") else f"tg{entry['n_gen']}"
        if entry.get("n_depth"):
            test += f" at depth {entry['n_depth']} (the load's prompt length)"
        if entry.get("runs"):
            test += f", median of {entry['runs']} runs (one per round; ± is their range)"
        rows.append([test, str(entry.get("n_threads")), fmt(entry.get("avg_ts"), 1), fmt(entry.get("stddev_ts"), 1)])
    return ["## llama-bench (the engine's ceiling)", "",
            *markdown_table(["test", "threads", "tok/s", "±"], rows, "lrrr"), ""]


def disturbance_warning(results):
    # The load average counts the servers under test themselves; what disturbs a measurement is CPU
    # time that neither the server nor the load driver used.
    shares = [l.get("other_cpu_share") for r in results for l in r["levels"] if l.get("other_cpu_share") is not None]
    if not shares or max(shares) <= 0.05:
        return []
    return [f"> **Warning:** other processes used up to {100 * max(shares):.0f}% of the CPUs during a level: "
            "wall-clock numbers are disturbed. *Server CPU ms per token* is the least disturbed comparison; "
            "rerun on an idle machine for the targets.", ""]


def server_section(result):
    levels = result["levels"]
    rounds = result.get("rounds", 1)

    def requests(level):
        skipped = level["skipped_after_deadline"]
        return f"{level['completed']} / {level['completed'] + level['failed']}" + (f" ({skipped} skipped)" if skipped else "")

    def finish_reasons(level):
        reasons = sorted(level["finish_reasons"].items(), key=lambda kv: str(kv[0]))
        return ", ".join(f"{reason}: {count}" for reason, count in reasons) or "n/a"

    rows = [["requests ok / sent", *map(requests, levels)]]
    for metric in LEVEL_METRICS:
        rows.append([metric.label, *(metric.cell(l.get(metric.key)) for l in levels)])
        if metric.each_round and rounds > 1:
            rows.append([f"{metric.ratio_label}, each round",
                         *(" / ".join(map(metric.cell, l["per_round"][metric.key])) for l in levels)])
    rows.append(["finish reasons", *map(finish_reasons, levels)])

    each = f" (median; rounds: {' / '.join(fmt(v, 0) for v in result['ready_ms_per_round'])})" if rounds > 1 else ""
    out = [f"## {result['name']}", "",
           *markdown_table(["metric", *(f"c={l['concurrency']}" for l in levels)], rows, "l" + "r" * len(levels)), "",
           f"Ready (process start to first `/health` 200): **{fmt(result['ready_ms'], 0)} ms**{each}; "
           f"peak RSS (VmHWM): **{fmt(result['peak_rss_kib'] / 1024, 1)} MiB**; "
           f"1-min load average before / after the load: {result['loadavg_before']:.2f} / {result['loadavg_after']:.2f}.", ""]
    errors = [e for l in levels for e in l["errors"]]
    if errors:
        out += ["Errors: " + "; ".join(f"`{e}`" for e in errors[:5]), ""]
    return out + [f"Command: `{result['command']}`", ""]


def ratio_section(args, base, candidate, bench, at_depth):
    pairs = list(zip(base["levels"], candidate["levels"]))
    concurrency = [b["concurrency"] for b, _ in pairs]
    blank = [""] * (len(pairs) - 1)
    rows = []
    for metric in LEVEL_METRICS:
        if metric.ratio_label:
            ratios = [paired_ratio(b, c, metric.key) for b, c in pairs]
            judged = [r for r, n in zip(ratios, concurrency) if not metric.at or n in metric.at]
            rows.append([metric.ratio_label, metric.better, *(fmt(r, 2) for r in ratios), *metric.judged(judged, per_level=True)])

    def single(metric, value):
        rows.append([metric.label, metric.better, fmt(value, 2), *blank, *metric.judged([value])])

    for metric in RESULT_METRICS:
        single(metric, ratio(candidate[metric.key], base[metric.key]))
    # How close one stream comes to llama-bench's decode speed (tg128), from an empty cache and at the load's depth.
    at_1 = next(((b, c) for b, c in pairs if b["concurrency"] == 1), ({}, {}))
    tg = next((e for e in bench or [] if not e.get("n_prompt") and e.get("n_gen")), {}).get("avg_ts")
    deep = next((e for e in at_depth or [] if not e.get("n_prompt") and e.get("n_gen")), None)
    ceilings = [("per-stream tok/s at c=1 ÷ llama-bench tg128 (candidate)", at_1[1], tg, 0.97)] if tg else []
    if deep:
        ceilings += [(f"per-stream tok/s at c=1 ÷ llama-bench tg128 at depth {deep.get('n_depth')} (candidate)", at_1[1],
                      deep.get("avg_ts"), None), (f"the same for {args.baseline}", at_1[0], deep.get("avg_ts"), None)]
    for label, level, ceiling, target in ceilings:
        single(Metric("", label, 2, better="higher", target=target), ratio(level.get("per_stream_tps_p50"), ceiling))
    same = [text == c["texts"][n] for b, c in pairs for n, text in b.get("texts", {}).items() if n in c.get("texts", {})]
    if same:
        rows.append(["identical greedy outputs", "", f"{sum(same)} of {len(same)} requests", *blank, "", ""])

    rounds = base.get("rounds", 1)
    plain = " / ".join(fmt(ratio(c["generated_tps"], b["generated_tps"]), 2) for b, c in pairs)
    note = (f"Ratios are medians of the {rounds} rounds' own ratios: each round measures every level on both servers "
            "back to back (a fresh process per level, in alternating order), so a slow or fast spell of the machine, "
            "which lasts minutes here, hits both sides of a ratio. The per-round rows above show the spread. For "
            f"comparison, generated tok/s as the ratio of the two medians: {plain}." if rounds > 1 else
            "Ratios are one run on a shared machine: treat differences under ~5 % as noise (compare the load averages "
            "above); `--rounds 3` alternates the servers and takes medians.")
    header = ["metric", "better", *(f"c={n}" for n in concurrency), "target", "met"]
    return [f"## Ratios {args.candidate} / {args.baseline}", "",
            *markdown_table(header, rows, "ll" + "r" * len(pairs) + "ll"), "", note, ""]


def cost_section(args, candidate, strict):
    pairs = list(zip(candidate["levels"], strict["levels"]))
    rows = [[m.ratio_label, m.better, *(fmt(paired_ratio(c, d, m.key), 2) for c, d in pairs)] for m in LEVEL_METRICS if m.cost]
    return [f"## Cost of batch invariance: {args.candidate} --deterministic / {args.candidate}", "",
            "`--deterministic` runs llama.cpp's reference CPU kernels without weight repacking, so a request's "
            "greedy output is the same alone or batched with others; the default lets ggml pick kernels by "
            "batch shape, as llama-server does.", "",
            *markdown_table(["metric", "better", *(f"c={c['concurrency']}" for c, _ in pairs)], rows, "ll" + "r" * len(pairs)),
            ""]


def multiturn_section(runs, baseline, candidate):
    """The multi-turn table: medians over rounds, ratios candidate ÷ baseline."""
    by_name = {}
    for run in runs:
        by_name.setdefault(run["name"], []).append(run)
    if baseline not in by_name or candidate not in by_name:
        return []
    rows = []
    for metric in MULTITURN_METRICS:
        b, c = (bench_load.median_of([r[metric.key] for r in by_name[name]]) for name in (baseline, candidate))
        r = ratio(c, b)
        rows.append([metric.label, metric.better, metric.cell(b), metric.cell(c), fmt(r, 2), *metric.judged([r])])
    first = runs[0]
    return ["## Multi-turn conversations and the prompt cache", "",
            f"{first['conversations']} conversations at once, {first['turns']} turns each, every turn re-sending the "
            f"whole history after a shared system prompt (~300 tokens), `max_tokens: {first['max_tokens']}`, through the "
            f"same 4 slots: most turns find their slot taken by another conversation. llama-server keeps prompts in "
            f"host memory (`--cache-ram`, default 8 GiB); so does gemmactl (same flag). Medians over {len(by_name[candidate])} "
            "round(s), a fresh process per server and round.", "",
            *markdown_table(["metric", "better", baseline, candidate, "ratio", "target", "met"], rows, "llrrrll"), ""]


# MARK: report


def cmd_report(args):
    if args.section and not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", args.section):
        raise SystemExit(f"--section must be lowercase letters, digits and dashes (a marker name), got {args.section!r}")
    results = bench_load.load_json_files(args.result, bench_load.DRIVE_FIELDS, bench_load.DRIVE_RESULT)
    multiturn = bench_load.load_json_files(args.multiturn or [], ("name", "conversations", "turns", "max_tokens"),
                                           "a result of `bench_load.py multiturn`")
    bench_load.require_same_prompts(results, "the --result files")
    bench_load.require_same_prompts(multiturn, "the --multiturn files")
    bench, at_depth = load_bench_runs(args.llama_bench), load_bench_runs(args.llama_bench_depth)
    by_name = {r["name"]: r for r in results}
    base, candidate, strict = (by_name.get(name) for name in (args.baseline, args.candidate, f"{args.candidate} --deterministic"))
    out = header_section(args, results) + (bench_section(bench, at_depth) if bench else []) + disturbance_warning(results)
    for result in results:
        out += server_section(result)
    if base and candidate and base is not candidate:
        out += ratio_section(args, base, candidate, bench, at_depth)
    if candidate and strict:
        out += cost_section(args, candidate, strict)
    out += multiturn_section(multiturn, args.baseline, args.candidate) + ["## Rerun", "", "```sh", args.rerun, "```", ""]
    if args.section:
        # A run beside the main one (another workload or peer): its own marked section, every heading a level down.
        put_marked_section(args.out, args.section, "\n".join("#" + line if line.startswith("#") else line for line in out))
    else:
        bench_load.write_atomic(args.out, "\n".join(out + marked_sections(args.out)))
