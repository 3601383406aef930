#!/usr/bin/env python3
"""Tests for bench_load.py's checks and its SSE client, against a stand-in server on loopback."""

import http.server
import json
import os
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_load  # noqa: E402


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


class ReportTests(unittest.TestCase):
    """The report's ratio table against two canned results: values, targets and verdicts."""

    @staticmethod
    def result(name, gain, ttft):
        def level(c, ttft_ms):
            level = {"concurrency": c, "generated_tps": 10.0 * c * gain, "per_stream_tps_p50": 10.0, "ttft_p50_ms": ttft_ms,
                     "ttft_p95_ms": 2 * ttft_ms, "prompt_tps": 50.0, "cpu_ms_per_token": 3.0, "other_cpu_share": 0.0,
                     "cached_tokens": None, "finish_reasons": {"length": 4}, "errors": [], "texts": {"0": "same"}}
            for key in bench_load.SUM_KEYS:
                level.setdefault(key, 4)
            return level
        return {"name": name, "rounds": 1, "max_tokens": 16, "ready_ms": 900, "peak_rss_kib": 300000 / gain,
                "loadavg_before": 0.0, "loadavg_after": 1.0, "command": name, "levels": [level(1, ttft), level(4, 2 * ttft)]}

    def test_ratios_name_each_target_and_whether_it_is_met(self):
        with tempfile.TemporaryDirectory() as directory:
            paths = []
            for name, gain, ttft in [("llama-server", 1.0, 100.0), ("gemmactl serve", 1.25, 110.0)]:
                paths.append(os.path.join(directory, name + ".json"))
                with open(paths[-1], "w") as f:
                    json.dump(self.result(name, gain, ttft), f)
            out = os.path.join(directory, "BENCHMARKS.md")
            argv, sys.argv = sys.argv, ["bench_load.py", "report", "--result", paths[0], "--result", paths[1], "--out", out]
            try:
                bench_load.main()
            finally:
                sys.argv = argv
            with open(out) as f:
                report = f.read()
        self.assertIn("| generated tok/s | higher | 1.25 | 1.25 | ≥ 1.00 at every level | yes |", report)
        self.assertIn("| TTFT p50 | lower | 1.10 | 1.10 | ≤ 1.00 at c=1 and c=4 | **no** |", report)
        self.assertIn("| per-stream tok/s | higher | 1.00 | 1.00 | | |", report)
        self.assertIn("| peak RSS | lower | 0.80 | | ≤ 1.00 | yes |", report)
        self.assertIn("| identical greedy outputs | | 2 of 2 requests | | | |", report)


class MarkedSectionTests(unittest.TestCase):
    def test_a_section_is_replaced_in_place_and_survives_a_report(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "BENCHMARKS.md")
            bench_load.write_atomic(path, "# Benchmarks\n\nbody\n")
            bench_load.put_marked_section(path, "bench-dispatch", "old\n")
            bench_load.put_marked_section(path, "bench-dispatch", "new\n")
            second = "<!-- scripts/bench-dispatch -->\nnew\n<!-- /scripts/bench-dispatch -->\n"
            with open(path) as f:
                self.assertEqual(f.read(), "# Benchmarks\n\nbody\n\n" + second)
            self.assertEqual(bench_load.marked_sections(path), [second])


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
