#!/usr/bin/env python3
"""Uses the official `ollama` package, as a user would, against a running gemmactl on 127.0.0.1.

  ollama_client_check.py --port P [--api-key-env VAR] [--manage MODEL]

With --manage, only model management is checked, against a server started with
--allow-model-management whose hub (HF_ENDPOINT) serves MODEL (hf.co/ORG/REPO:QUANT): pull() with
streamed progress, the pulled model in list() and answering, copy(), delete(). Without it, pull()
must be refused with 403 (the server runs without the flag).

Run by scripts/test-openai-client, which starts the server. Prints one line per check and a
closing `N passed, N failed`; exits 1 when a check fails.
"""

import argparse
import json
import os
import sys
import time

import httpx
import ollama

from openai_client_check import (PERSON_PROMPT, PERSON_SCHEMA, SCHEMA_MAX_TOKENS, TOOL_MAX_TOKENS, TOOL_PROMPT, TOOLS, Checks,
                                 expect, validate_person, validate_tool_call)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key-env", default="OPENAI_CHECK_API_KEY")
    parser.add_argument("--manage", metavar="MODEL")
    args = parser.parse_args()
    key = os.environ[args.api_key_env]
    host = f"http://127.0.0.1:{args.port}"
    client = ollama.Client(host=host, headers={"Authorization": f"Bearer {key}"}, timeout=300)
    checks = Checks()
    state = {}
    if args.manage:
        manage(client, args.manage, checks)
        checks.finish()

    def probe():
        # Tools find an Ollama server by GET / (no key), as Ollama answers it.
        response = httpx.get(host + "/", timeout=10)
        expect(response.status_code == 200, f"GET / answered {response.status_code}")
        expect(response.text == "Ollama is running", f"GET / said {response.text!r}")
        expect(httpx.head(host + "/", timeout=10).status_code == 200, "HEAD / is not 200")
        expect(httpx.head(host + "/health", timeout=10).status_code == 200, "HEAD /health is not 200")

    def list_models():
        # The digest is hashed in the background after loading: "" for the first seconds.
        deadline = time.monotonic() + 60
        models = client.list().models
        while models and not models[0].digest and time.monotonic() < deadline:
            time.sleep(0.2)
            models = client.list().models
        expect(len(models) == 1, f"{len(models)} models listed")
        model = models[0]
        state["model"] = model.model
        expect(model.digest and len(model.digest) == 64, f"digest {model.digest!r} is not a sha256")
        expect(model.details.format == "gguf", f"details.format {model.details.format!r}")
        return f"{model.model}, digest {model.digest[:12]}"

    def show():
        shown = client.show(state.get("model", "gemma"))
        expect(shown.details.family == "gemma3", f"details.family {shown.details.family!r}")
        expect(shown.modelinfo.get("general.architecture") == "gemma3", "model_info lacks general.architecture")
        expect(isinstance(shown.modelinfo.get("gemma3.context_length"), int), "model_info lacks gemma3.context_length")
        expect("completion" in (shown.capabilities or []), f"capabilities {shown.capabilities}")
        expect("tools" in (shown.capabilities or []), f"capabilities {shown.capabilities}")
        expect(shown.template and "start_of_turn" in shown.template, "no chat template")
        expect(shown.parameters and "temperature" in shown.parameters, f"parameters {shown.parameters!r}")
        return f"{len(shown.modelinfo)} model_info keys, capabilities {shown.capabilities}"

    def ps():
        running = client.ps().models
        expect(len(running) == 1, f"{len(running)} models running")
        context = running[0].context_length
        expect(isinstance(context, int) and context > 0, f"context_length {context!r}")
        return f"context_length {context}"

    def chat():
        response = client.chat(model=state.get("model", "gemma"), messages=[{"role": "user", "content": "Name a colour."}],
                               options={"num_predict": 8, "temperature": 0})
        expect(response.message.role == "assistant", f"role {response.message.role!r}")
        expect(response.message.content.strip(), "empty content")
        expect(response.done, "done is false")
        expect(0 < response.eval_count <= 8, f"eval_count {response.eval_count}")

    def chat_stream():
        parts = list(client.chat(model=state.get("model", "gemma"), messages=[{"role": "user", "content": "Count to three."}],
                                 options={"num_predict": 8, "temperature": 0}, stream=True))
        expect(len(parts) >= 2 and parts[-1].done, f"{len(parts)} parts, last done {parts[-1].done if parts else None}")
        expect("".join(p.message.content for p in parts).strip(), "the stream carried no content")

    def generate():
        response = client.generate(model=state.get("model", "gemma"), prompt="The sky is", options={"num_predict": 4})
        expect(response.response, "empty response")
        expect(response.done_reason in ("stop", "length"), f"done_reason {response.done_reason!r}")

    def format_schema():
        response = client.chat(model=state.get("model", "gemma"), messages=PERSON_PROMPT, format=PERSON_SCHEMA,
                               options={"temperature": 0, "num_predict": SCHEMA_MAX_TOKENS})
        expect(response.done_reason == "stop", f"done_reason {response.done_reason!r}: {response.message.content!r}")
        value = validate_person(response.message.content)
        json_mode = client.generate(model=state.get("model", "gemma"), prompt="Describe a cat as JSON.", format="json",
                                    options={"temperature": 0, "num_predict": 120})
        if json_mode.done_reason == "stop":
            expect(isinstance(json.loads(json_mode.response), dict), f"format json gave {json_mode.response!r}")
        return f"{sorted(value)}"

    def tools():
        # Ollama has no tool_choice: offered one tool and asked to use it, the model calls it or answers.
        weather = [TOOLS[0]]
        prompt = [{"role": "user", "content": "Use the tool to get the weather in Paris."}]
        options = {"temperature": 0, "num_predict": TOOL_MAX_TOKENS}
        response = client.chat(model=state.get("model", "gemma"), messages=prompt, tools=weather, options=options)
        calls = response.message.tool_calls or []
        expect(calls, f"no tool_calls: {response.message!r}")
        for call in calls:
            expect(call.function.name == "get_weather", f"called {call.function.name!r}")
            expect(isinstance(call.function.arguments, dict), f"arguments {call.function.arguments!r} are not an object")
            validate_tool_call(call.function.name, call.function.arguments)
        streamed = [part for part in client.chat(model=state.get("model", "gemma"), messages=prompt, tools=weather,
                                                 options=options, stream=True)]
        expect(streamed and streamed[-1].done, "the stream did not end with done")
        streamed_calls = [call for part in streamed for call in (part.message.tool_calls or [])]
        expect(len(streamed_calls) == 1, f"{len(streamed_calls)} streamed tool calls")
        validate_tool_call(streamed_calls[0].function.name, streamed_calls[0].function.arguments)
        history = prompt + [response.message, {"role": "tool", "content": '{"temperature": 21}', "tool_name": "get_weather"}]
        answer = client.chat(model=state.get("model", "gemma"), messages=history, tools=weather, options=options)
        expect(answer.done, "the answer to the tool result is not done")
        return f"get_weather({json.dumps(calls[0].function.arguments)}), streamed too"

    def think():
        # The default model's template has no thinking syntax: think=True is Ollama's 400, think=False answers.
        model = state.get("model", "gemma")
        expect("thinking" not in (client.show(model).capabilities or []), "capabilities list thinking")
        error = refused(lambda: client.chat(model=model, messages=[{"role": "user", "content": "Hi"}], think=True,
                                            options={"num_predict": 4}), 400, "think=True on a model without thinking")
        expect("does not support thinking" in str(error), f"{error}")
        response = client.chat(model=model, messages=[{"role": "user", "content": "Hi"}], think=False, options={"num_predict": 4})
        expect(response.message.content and not response.message.thinking, f"think=False: {response.message!r}")
        streamed = list(client.generate(model=model, prompt="Hi", think=False, options={"num_predict": 4}, stream=True))
        expect(streamed and streamed[-1].done and not any(part.thinking for part in streamed), "generate think=False")
        return "think=True: 400, think=False: content and no thinking"

    def embeddings():
        legacy = client.embeddings(model=state.get("model", "gemma"), prompt="The cat sat on the mat.")
        embed = client.embed(model=state.get("model", "gemma"), input="The cat sat on the mat.")
        expect(len(legacy.embedding) == 640, f"legacy embedding has {len(legacy.embedding)} dimensions")
        difference = max(abs(a - b) for a, b in zip(legacy.embedding, embed.embeddings[0]))
        expect(difference < 1e-5, f"/api/embeddings and /api/embed differ by {difference}")

    def wrong_key():
        bad = ollama.Client(host=host, headers={"Authorization": "Bearer not-the-key"}, timeout=30)
        refused(bad.list, 401, "list() with a wrong key")
        return "401"

    checks.run("GET / and HEAD probes", probe)
    checks.run("list (digest)", list_models)
    checks.run("show", show)
    checks.run("ps (context_length)", ps)
    checks.run("chat", chat)
    checks.run("chat stream", chat_stream)
    checks.run("generate", generate)
    checks.run("chat format=<schema> validates (jsonschema), generate format=json", format_schema)
    checks.run("chat tools=[…]: message.tool_calls validate (jsonschema), streamed, tool result in history", tools)
    checks.run("think=True on a model without thinking raises ResponseError; think=False answers", think)
    checks.run("embeddings (legacy) and embed agree", embeddings)
    def management_refused():
        error = refused(lambda: client.pull("hf.co/org/repo:Q4_K_M"), 403, "pull() on a server without --allow-model-management")
        expect("--allow-model-management" in str(error.error), f"error {error.error!r}")
        return "403 naming --allow-model-management"

    checks.run("wrong key raises ResponseError", wrong_key)
    checks.run("pull() without --allow-model-management raises ResponseError 403", management_refused)
    checks.finish()


def refused(call, status, what):
    """The ollama.ResponseError `call` raises, which must carry `status`."""
    try:
        call()
    except ollama.ResponseError as error:
        expect(error.status_code == status, f"{what}: status {error.status_code}, expected {status}")
        return error
    raise AssertionError(f"{what} did not raise ollama.ResponseError")


def manage(client, model, checks):
    """pull(), list(), chat, ps(), copy() and delete() on a server with --allow-model-management."""
    copy = "gemmactl-check-copy:latest"

    def pull():
        updates = list(client.pull(model, stream=True))
        statuses = [update.status for update in updates]
        expect(statuses[0] == "pulling manifest", f"first status {statuses[0]!r}")
        expect(statuses[-1] == "success", f"last status {statuses[-1]!r}")
        expect("verifying sha256 digest" in statuses, f"statuses {sorted(set(statuses))}")
        sized = [update for update in updates if update.total]
        expect(sized and sized[-1].completed == sized[-1].total, "no progress reached its total")
        return f"{len(updates)} progress updates, {sized[-1].total} bytes"

    def listed():
        names = [entry.model for entry in client.list().models]
        expect(model in names, f"{model} not in list(): {names}")
        return f"{len(names)} models"

    def answers():
        response = client.chat(model=model, messages=[{"role": "user", "content": "Name a colour."}],
                               options={"num_predict": 4, "temperature": 0})
        expect(response.message.content.strip(), "empty content")
        running = [entry.model for entry in client.ps().models]
        expect(model in running, f"{model} not in ps(): {running}")
        return f"{response.message.content.strip()!r}"

    def refuses_loaded():
        refused(lambda: client.delete(model), 409, "delete() of a loaded model")
        return "409 while loaded"

    def copy_and_delete():
        expect(client.copy(model, copy).status == "success", "copy() did not succeed")
        names = [entry.model for entry in client.list().models]
        expect(copy in names, f"{copy} not in list(): {names}")
        client.generate(model=model, keep_alive=0)  # Ollama's unload idiom
        for name in (copy, model):
            expect(client.delete(name).status == "success", f"delete({name}) did not succeed")
        names = [entry.model for entry in client.list().models]
        expect(model not in names and copy not in names, f"still listed: {names}")
        refused(lambda: client.delete(model), 404, "delete() of a deleted model")
        return "copied, unloaded, deleted; deleting again is 404"

    checks.run(f"pull({model}) streams progress to success", pull)
    checks.run("the pulled model is in list()", listed)
    checks.run("the pulled model answers chat() and is in ps()", answers)
    checks.run("delete() of a loaded model raises ResponseError 409", refuses_loaded)
    checks.run("copy() and delete()", copy_and_delete)


if __name__ == "__main__":
    main()
