#!/usr/bin/env python3
"""Tests for bench_load.py (its SSE client against a stand-in server on loopback, its checks and merges) and for
bench_report.py (the report on recorded results)."""

import http.server
import json
import os
import statistics
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_load  # noqa: E402
import bench_report  # noqa: E402


class StandIn(http.server.BaseHTTPRequestHandler):
    """Answers chat completions with a canned SSE stream; `frames` is set per test."""
    frames = []

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for frame in self.frames:
            self.wfile.write(frame.encode())
            self.wfile.flush()

    def log_message(self, *args):
        pass


def chunk(**fields):
    return "data: " + json.dumps(fields) + "\n\n"


class StreamChatTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.port = cls.server.server_address[1]

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()

    def chat(self, frames):
        StandIn.frames = frames
        return bench_load.stream_chat(self.port, "key", [{"role": "user", "content": "hi"}], 8, 10)

    def test_content_usage_and_done_make_a_complete_result(self):
        result = self.chat([": ping\n\n", chunk(choices=[{"delta": {"content": "Hel"}}]),
                            chunk(choices=[{"delta": {"content": "lo"}, "finish_reason": "stop"}]),
                            chunk(choices=[], usage={"prompt_tokens": 12, "completion_tokens": 2,
                                                     "prompt_tokens_details": {"cached_tokens": 4}}),
                            "data: [DONE]\n\n"])
        self.assertTrue(result["ok"], result["error"])
        self.assertEqual(result["text"], "Hello")
        self.assertEqual((result["prompt_tokens"], result["completion_tokens"], result["cached_tokens"]), (12, 2, 4))
        self.assertEqual(result["finish_reason"], "stop")
        self.assertIsNotNone(result["ttft"])

    def test_a_stream_without_usage_or_done_is_a_failure(self):
        self.assertIn("no usage", self.chat([chunk(choices=[{"delta": {"content": "x"}}]), "data: [DONE]\n\n"])["error"])
        no_done = self.chat([chunk(choices=[], usage={"prompt_tokens": 1, "completion_tokens": 0})])
        self.assertIn("[DONE]", no_done["error"])

    def test_an_error_event_or_bad_json_is_a_failure(self):
        self.assertIn("error event", self.chat(['data: {"error": {"message": "boom"}}\n\n'])["error"])
        self.assertIn("bad SSE JSON", self.chat(["data: {not json\n\n"])["error"])


class SamePromptsTests(unittest.TestCase):
    def level(self, counts):
        return {"prompt_tokens_by_number": counts}

    def test_equal_counts_pass_and_a_difference_names_the_request(self):
        a = {"name": "llama-server", "levels": [self.level({"0": 190, "1": 191})]}
        b = {"name": "gemmactl serve", "levels": [self.level({"0": 190, "1": 191, "2": 5})]}
        self.assertEqual(bench_load.prompt_token_mismatches([a, b]), ([], 2))
        c = {"name": "gemmactl serve", "levels": [self.level({"0": 190, "1": 3})]}
        mismatches, shared = bench_load.prompt_token_mismatches([a, c])
        self.assertEqual(shared, 2)
        self.assertEqual(mismatches, [("1", {"llama-server": 191, "gemmactl serve": 3})])

    def test_the_command_fails_on_a_mismatch_and_on_nothing_to_compare(self):
        with tempfile.TemporaryDirectory() as directory:
            def write(name, counts):
                path = os.path.join(directory, name + ".json")
                with open(path, "w") as f:
                    json.dump({"name": name, "prompt_tokens_by_number": counts}, f)
                return path
            args = type("Args", (), {})()
            args.result = [write("a", {"0.0": 300, "0.1": 350}), write("b", {"0.0": 300, "0.1": 350})]
            bench_load.cmd_same_prompts(args)
            args.result = [write("a", {"0.0": 300}), write("c", {"0.0": 301})]
            with self.assertRaisesRegex(RuntimeError, "differ in token count"):
                bench_load.cmd_same_prompts(args)
            args.result = [write("a", {"0.0": 300}), write("d", {})]
            with self.assertRaisesRegex(RuntimeError, "nothing to compare"):
                bench_load.cmd_same_prompts(args)


class MergeTests(unittest.TestCase):
    def test_rounds_keep_every_rounds_prompt_counts(self):
        def run(counts, tps):
            level = {"concurrency": 1, "errors": [], "finish_reasons": {"stop": 1}, "generated_tps": tps,
                     "prompt_tokens_by_number": counts, "texts": {k: "t" for k in counts}}
            for key in bench_load.SUM_KEYS:
                level.setdefault(key, 1)
            return {"name": "s", "ready_ms": 10, "peak_rss_kib": 5, "loadavg_before": 0, "loadavg_after": 0, "levels": [level]}
        merged = bench_load.merge_rounds([run({"0": 10}, 1.0), run({"6": 11}, 3.0), run({"12": 12}, 2.0)])
        self.assertEqual(merged["levels"][0]["prompt_tokens_by_number"], {"0": 10, "6": 11, "12": 12})
        self.assertEqual(merged["levels"][0]["generated_tps"], 2.0)


def level_figures(concurrency, **figures):
    """One level of a drive result, as bench_load writes it; `figures` replace the defaults."""
    numbers = [str(10 * concurrency + n) for n in range(4)]
    level = {"concurrency": concurrency, "requested": 4, "completed": 4, "failed": 0, "skipped_after_deadline": 0,
             "errors": [], "wall_s": 10.0, "completion_tokens": 64, "prompt_tokens": 640, "cached_tokens": None,
             "generated_tps": 10.0, "per_stream_tps_p50": 10.0, "ttft_p50_ms": 100.0, "ttft_p95_ms": 200.0,
             "prompt_tps": 50.0, "finish_reasons": {"length": 4}, "server_cpu_s": 2.0, "other_cpu_share": 0.01,
             "texts": {n: "same" for n in numbers}, "prompt_tokens_by_number": {n: 160 for n in numbers},
             "cpu_ms_per_token": 3.0}
    level.update(figures)
    return level


def server_result(name, levels, **fields):
    result = {"name": name, "command": f"{name} --port PORT", "ready_ms": 900.0, "peak_rss_kib": 300 * 1024,
              "max_tokens": 16, "loadavg_before": 0.5, "loadavg_after": 1.25, "levels": levels}
    result.update(fields)
    return result


def multiturn_result(name, **figures):
    result = {"name": name, "command": name, "ready_ms": 700.0, "conversations": 12, "turns": 6, "max_tokens": 48,
              "requests": 72, "prompt_tokens": 3000, "cached_tokens": 1500, "cached_share": 0.5, "ttft_p50_ms": 5000.0,
              "ttft_p95_ms": 7000.0, "later_ttft_p50_ms": 5200.0, "prompt_tokens_by_number": {"0.0": 300, "0.1": 350}}
    result.update(figures)
    return result


class ReportTests(unittest.TestCase):
    """`bench_load.py report` on recorded results (fixtures written to files, as scripts/bench passes them)."""

    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.directory = directory.name
        self.out = os.path.join(self.directory, "BENCHMARKS.md")

    def report(self, results, multiturn=(), bench=None, bench_depth=None, old=None, section=None):
        """Runs the report command as scripts/bench does; returns the Markdown it wrote to self.out."""
        def write(name, data):
            path = os.path.join(self.directory, name)
            with open(path, "w") as f:
                json.dump(data, f)
            return path
        argv = ["bench_load.py", "report", "--out", self.out]
        for index, result in enumerate(results):
            argv += ["--result", write(f"result{index}.json", result)]
        for index, result in enumerate(multiturn):
            argv += ["--multiturn", write(f"multiturn{index}.json", result)]
        if bench:
            argv += ["--llama-bench", write("llama-bench.json", bench)]
        if bench_depth:
            argv += ["--llama-bench-depth", write("llama-bench-depth.json", bench_depth)]
        if section is not None:
            argv += ["--section", section]
        if old is not None:
            bench_load.write_atomic(self.out, old)
        saved, sys.argv = sys.argv, argv
        try:
            bench_load.main()
        finally:
            sys.argv = saved
        with open(self.out) as f:
            return f.read()

    def test_a_server_table_shows_every_figure_of_each_level(self):
        result = server_result("llama-server", [
            level_figures(1),
            level_figures(4, completed=3, failed=1, skipped_after_deadline=2, generated_tps=1234.56, cached_tokens=1200,
                          other_cpu_share=None, finish_reasons={"stop": 1, "length": 2}, errors=["HTTP 503: busy"])])
        report = self.report([result])
        self.assertIn("\n".join([
            "## llama-server", "",
            "| metric | c=1 | c=4 |",
            "|---|---:|---:|",
            "| requests ok / sent | 4 / 4 | 3 / 4 (2 skipped) |",
            "| generated tok/s (aggregate) | 10.0 | 1,234.6 |",
            "| per-stream tok/s (p50) | 10.0 | 10.0 |",
            "| TTFT p50 (ms) | 100 | 100 |",
            "| TTFT p95 (ms) | 200 | 200 |",
            "| prompt tok/s | 50.0 | 50.0 |",
            "| server CPU ms per token (prompt + generated) | 3.00 | 3.00 |",
            "| other processes' share of the CPUs | 1.0% | n/a |",
            "| completion tokens | 64 | 64 |",
            "| prompt tokens | 640 | 640 |",
            "| cached prompt tokens (reported) | n/a | 1,200 |",
            "| finish reasons | length: 4 | length: 2, stop: 1 |", "",
            "Ready (process start to first `/health` 200): **900 ms**; peak RSS (VmHWM): **300.0 MiB**; "
            "1-min load average before / after the load: 0.50 / 1.25.", "",
            "Errors: `HTTP 503: busy`", "",
            "Command: `llama-server --port PORT`", ""]), report)
        self.assertNotIn("## Ratios", report)

    def test_ratios_name_each_target_and_whether_it_is_met(self):
        def result(name, gain, ttft, ttft_at_8):
            return server_result(name, [level_figures(1, generated_tps=10 * gain, ttft_p50_ms=ttft),
                                        level_figures(4, generated_tps=40 * gain, ttft_p50_ms=2 * ttft),
                                        level_figures(8, generated_tps=80 * gain, ttft_p50_ms=ttft_at_8)],
                                 peak_rss_kib=300000 / gain)
        report = self.report([result("llama-server", 1.0, 100.0, 800.0), result("gemmactl serve", 1.25, 90.0, 1200.0)])
        self.assertIn("| metric | better | c=1 | c=4 | c=8 | target | met |\n|---|---|---:|---:|---:|---|---|\n", report)
        self.assertIn("| generated tok/s | higher | 1.25 | 1.25 | 1.25 | ≥ 1.00 at every level | yes |", report)
        # TTFT's target is for c=1 and c=4: a worse c=8 does not fail it.
        self.assertIn("| TTFT p50 | lower | 0.90 | 0.90 | 1.50 | ≤ 1.00 at c=1 and c=4 | yes |", report)
        self.assertIn("| per-stream tok/s | higher | 1.00 | 1.00 | 1.00 | | |", report)
        self.assertIn("| peak RSS | lower | 0.80 | | | ≤ 1.00 | yes |", report)
        self.assertIn("| ready time | lower | 1.00 | | | ≤ 1.00 | yes |", report)
        self.assertIn("| identical greedy outputs | | 12 of 12 requests | | | | |", report)
        slower = result("gemmactl serve", 0.9, 110.0, 800.0)
        report = self.report([result("llama-server", 1.0, 100.0, 800.0), slower])
        self.assertIn("| generated tok/s | higher | 0.90 | 0.90 | 0.90 | ≥ 1.00 at every level | **no** |", report)
        self.assertIn("| TTFT p50 | lower | 1.10 | 1.10 | 1.00 | ≤ 1.00 at c=1 and c=4 | **no** |", report)

    def test_with_rounds_ratios_are_medians_of_each_rounds_own_ratio(self):
        def result(name, per_round):
            return server_result(name, [level_figures(1, generated_tps=statistics.median(per_round),
                                                      per_round={"generated_tps": per_round})],
                                 rounds=len(per_round), ready_ms_per_round=[800.0, 1000.0])
        # Round by round gemmactl is 1.2 and 0.9 times llama-server: the median 1.05. Their medians are equal (1.00).
        report = self.report([result("llama-server", [10.0, 20.0]), result("gemmactl serve", [12.0, 18.0])])
        self.assertIn("| generated tok/s, each round | 10.0 / 20.0 |", report)
        self.assertIn("| generated tok/s, each round | 12.0 / 18.0 |", report)
        self.assertIn("**900 ms** (median; rounds: 800 / 1,000)", report)
        self.assertIn("| generated tok/s | higher | 1.05 | ≥ 1.00 at every level | yes |", report)
        self.assertIn("| prompt tok/s | higher | 1.00 | ≥ 1.00 at every level | yes |", report)  # a tie meets it
        self.assertIn("Ratios are medians of the 2 rounds' own ratios", report)
        self.assertIn("generated tok/s as the ratio of the two medians: 1.00.", report)

    def test_llama_bench_gives_the_ceiling_of_a_single_stream(self):
        bench = [{"n_prompt": 512, "n_gen": 0, "n_depth": 0, "n_threads": 2, "avg_ts": 800.0, "stddev_ts": 4.0},
                 {"n_prompt": 0, "n_gen": 128, "n_depth": 0, "n_threads": 2, "avg_ts": 80.0, "stddev_ts": 1.0}]
        depth = [{"n_prompt": 0, "n_gen": 128, "n_depth": 160, "n_threads": 2, "avg_ts": 50.0, "stddev_ts": 2.0}]
        results = [server_result("llama-server", [level_figures(1, per_stream_tps_p50=40.0)]),
                   server_result("gemmactl serve", [level_figures(1, per_stream_tps_p50=78.0)])]
        report = self.report(results, bench=bench, bench_depth=depth)
        self.assertIn("\n".join(["| test | threads | tok/s | ± |", "|---|---:|---:|---:|", "| pp512 | 2 | 800.0 | 4.0 |",
                                 "| tg128 | 2 | 80.0 | 1.0 |",
                                 "| tg128 at depth 160 (the load's prompt length) | 2 | 50.0 | 2.0 |"]), report)
        self.assertIn("| per-stream tok/s at c=1 ÷ llama-bench tg128 (candidate) | higher | 0.97 | ≥ 0.97 | yes |", report)
        self.assertIn("| per-stream tok/s at c=1 ÷ llama-bench tg128 at depth 160 (candidate) | higher | 1.56 |", report)
        self.assertIn("| the same for llama-server | higher | 0.80 |", report)

    def test_deterministic_and_multiturn_results_get_their_tables(self):
        results = [server_result("llama-server", [level_figures(1)]),
                   server_result("gemmactl serve", [level_figures(1, generated_tps=20.0, cpu_ms_per_token=2.0)]),
                   server_result("gemmactl serve --deterministic", [level_figures(1, generated_tps=15.0, ttft_p50_ms=150.0,
                                                                                   cpu_ms_per_token=2.5)])]
        multiturn = [multiturn_result("llama-server", cached_share=0.25),
                     multiturn_result("gemmactl serve", ttft_p50_ms=2500.0, ttft_p95_ms=7700.0, cached_share=0.75)]
        report = self.report(results, multiturn=multiturn)
        self.assertIn("\n".join(["| metric | better | c=1 |", "|---|---|---:|",
                                 "| generated tok/s | higher | 0.75 |",
                                 "| TTFT p50 | lower | 1.50 |",
                                 "| prompt tok/s | higher | 1.00 |",
                                 "| server CPU per token | lower | 1.25 |"]), report)
        self.assertIn("12 conversations at once, 6 turns each", report)
        self.assertIn("| TTFT p50 (ms) | lower | 5,000 | 2,500 | 0.50 | ≤ 1.00 | yes |", report)
        self.assertIn("| TTFT p95 (ms) | lower | 7,000 | 7,700 | 1.10 | ≤ 1.00 | **no** |", report)
        self.assertIn("| TTFT p50 after the first turn (ms) | lower | 5,200 | 5,200 | 1.00 | | |", report)
        self.assertIn("| cached share of prompt tokens | higher | 0.25 | 0.75 | 3.00 | ≥ 1.00 | yes |", report)

    def test_results_whose_servers_counted_a_prompt_differently_are_refused(self):
        base = server_result("llama-server", [level_figures(1)])
        other = server_result("gemmactl serve", [level_figures(1, prompt_tokens_by_number={"10": 160, "11": 171})])
        old = "# Benchmarks from the last run\n"
        for results, multiturn, message in [
                ([base, other], [], "the --result files: 1 of 2 prompts differ in token count, first request 11: "
                                    "llama-server 160, gemmactl serve 171"),
                ([base], [multiturn_result("llama-server"),
                          multiturn_result("gemmactl serve", prompt_tokens_by_number={"0.0": 300, "0.1": 351})],
                 "the --multiturn files: 1 of 2 prompts differ in token count, first request 0.1")]:
            with self.assertRaises(SystemExit) as exit:
                self.report(results, multiturn=multiturn, old=old)
            self.assertIn(message, str(exit.exception.code))
            self.assertIn("not a like-for-like comparison", str(exit.exception.code))
            with open(self.out) as f:
                self.assertEqual(f.read(), old)

    def test_a_file_of_the_wrong_kind_or_not_json_is_named(self):
        old = "# Benchmarks from the last run\n"
        with self.assertRaises(SystemExit) as exit:
            self.report([multiturn_result("llama-server")], old=old)
        self.assertRegex(str(exit.exception.code), r"result0\.json has no levels: this option takes a result of `bench_load.py drive`")
        broken = os.path.join(self.directory, "broken.json")
        bench_load.write_atomic(broken, '{"name": ')
        saved, sys.argv = sys.argv, ["bench_load.py", "report", "--result", broken, "--out", self.out]
        try:
            with self.assertRaises(SystemExit) as exit:
                bench_load.main()
        finally:
            sys.argv = saved
        self.assertIn(f"cannot read {broken}", str(exit.exception.code))
        with open(self.out) as f:
            self.assertEqual(f.read(), old)

    def test_sections_of_other_scripts_are_carried_over(self):
        kept = "<!-- scripts/bench-dispatch -->\nkept\n<!-- /scripts/bench-dispatch -->\n"
        report = self.report([server_result("llama-server", [level_figures(1)])], old="# old\n\n" + kept)
        self.assertTrue(report.endswith("\n" + kept), report[-200:])
        self.assertNotIn("# old", report)

    def test_a_report_with_a_section_keeps_the_main_part_and_moves_its_headings_down(self):
        main = "# Benchmarks: main\n\nbody\n"
        results = [server_result("llama-server", [level_figures(1)])]
        report = self.report(results, old=main, section="bench-repeat-peer-ngram-mod")
        self.assertTrue(report.startswith(main), report[:200])
        section = report[len(main):]
        self.assertIn("<!-- scripts/bench-repeat-peer-ngram-mod -->\n## Benchmarks: gemmactl serve vs llama-server", section)
        self.assertNotRegex(section, r"(?m)^# ")
        again = self.report(results, section="bench-repeat-peer-ngram-mod")
        self.assertEqual(again.count("<!-- scripts/bench-repeat-peer-ngram-mod -->"), 1)
        with self.assertRaises(SystemExit):
            self.report(results, section="Bench 1")


class MarkedSectionTests(unittest.TestCase):
    def test_a_section_is_replaced_in_place_and_survives_a_report(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "BENCHMARKS.md")
            bench_load.write_atomic(path, "# Benchmarks\n\nbody\n")
            bench_report.put_marked_section(path, "bench-dispatch", "old\n")
            bench_report.put_marked_section(path, "bench-dispatch", "new\n")
            second = "<!-- scripts/bench-dispatch -->\nnew\n<!-- /scripts/bench-dispatch -->\n"
            with open(path) as f:
                self.assertEqual(f.read(), "# Benchmarks\n\nbody\n\n" + second)
            self.assertEqual(bench_report.marked_sections(path), [second])


class BenchModelsTests(unittest.TestCase):
    """scripts/bench_models.py's report on recorded results."""

    @staticmethod
    def result(name, tok_s, switch_ms, rss, prompt_tokens=100):
        levels = [{"concurrency": c, "wall": 10.0, "completion_tokens": int(tok_s * 10), "ttft_p50_ms": 200.0,
                   "prompt_tokens": {"a:0": prompt_tokens, "b:1": prompt_tokens + 1}} for c in (2, 4)]
        return {"name": name, "ready_ms": 900.0, "switch_ms": [switch_ms, switch_ms + 10], "levels": levels,
                "peak_rss_mib": rss, "max_tokens": 64}

    def report(self, results):
        import bench_models
        with tempfile.TemporaryDirectory() as directory:
            out = os.path.join(directory, "BENCHMARKS.md")
            bench_load.write_atomic(out, "# main\n")
            argv = ["bench_models.py", "report", "--out", out, "--command", "scripts/bench-models", "--commit", "abc",
                    "--threads", "2"]
            for index, result in enumerate(results):
                path = os.path.join(directory, f"r{index}.json")
                bench_load.write_atomic(path, json.dumps(result))
                argv += ["--result", path]
            saved, sys.argv = sys.argv, argv
            try:
                bench_models.main()
            finally:
                sys.argv = saved
            with open(out) as f:
                return f.read()

    def test_ratios_are_per_round_medians_judged_against_the_targets(self):
        text = self.report([self.result("llama-server", 100, 1000, 1000), self.result("gemmactl serve", 110, 500, 700),
                            self.result("gemmactl serve", 90, 600, 900), self.result("llama-server", 100, 1000, 1000)])
        self.assertTrue(text.startswith("# main\n"))
        self.assertIn("<!-- scripts/bench-models -->", text)
        self.assertRegex(text, r"\| generated tok/s c=2 \| higher \| 100\.0 \| 100\.0 \| 1\.00 \| ≥ 1\.00 \| yes \|")
        self.assertRegex(text, r"\| switch ms \(p50\) \| lower \| 1,005\.0 \| 555\.0 \| 0\.55 \| ≤ 1\.00 \| yes \|")
        self.assertRegex(text, r"\| peak RSS MiB \(all processes\) \| lower \| 1,000\.0 \| 800\.0 \| 0\.80 \| ≤ 0\.80 \| yes \|")

    def test_different_prompt_token_counts_or_a_missing_server_are_refused(self):
        with self.assertRaisesRegex(SystemExit, "different prompt tokens"):
            self.report([self.result("llama-server", 100, 1000, 1000),
                          self.result("gemmactl serve", 100, 1000, 1000, prompt_tokens=99)])
        with self.assertRaisesRegex(SystemExit, "one result of each"):
            self.report([self.result("gemmactl serve", 100, 1000, 1000)])


class DispatchTests(unittest.TestCase):
    """scripts/bench_dispatch.py's imitation of the EPP's scorers."""

    def test_prefix_index_scores_the_share_of_leading_blocks_seen(self):
        import bench_dispatch
        shared = "system prompt " * 40
        seen = bench_dispatch.block_hashes(shared + "first conversation", 16)
        index = bench_dispatch.PrefixIndex(2)
        index.record(0, seen, capacity=1000)
        again = bench_dispatch.block_hashes(shared + "second conversation, a little longer", 16)
        self.assertGreater(index.match_ratio(0, again), 0.5)
        self.assertLess(index.match_ratio(0, again), 1.0)
        self.assertEqual(index.match_ratio(1, again), 0.0)
        index.record(1, again, capacity=3)  # an LRU of 3 blocks keeps only the newest
        self.assertEqual(len(index.seen[1]), 3)

    def test_queue_score_prefers_the_shortest_queue_and_is_neutral_when_equal(self):
        import bench_dispatch
        self.assertEqual(bench_dispatch.normalised_low_is_good([0, 2, 4]), [1.0, 0.5, 0.0])
        self.assertEqual(bench_dispatch.normalised_low_is_good([1, 1]), [1.0, 1.0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
