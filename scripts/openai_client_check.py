#!/usr/bin/env python3
"""Uses the official `openai` package, as a user would, against a running server on 127.0.0.1.

  openai_client_check.py --port P [--api-key-env VAR] [--server gemmactl|llama-server]

Run by scripts/test-openai-client, which starts the server. Prints one line per check and a
closing `N passed, N failed`; exits 1 when a check fails.
"""

import argparse
import json
import math
import os
import re
import sys
import time
import traceback

import httpx
import jsonschema
import openai

MAX_TOKENS = 16
SCHEMA_MAX_TOKENS = 400

# Every construct of issue 15's list: required and optional properties, enum, const, an array with
# min/max items, a nested $ref into $defs, anyOf, a string format, additionalProperties: false.
PERSON_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "colour": {"enum": ["red", "green", "blue"]},
        "kind": {"const": "person"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "minItems": 1, "maxItems": 3},
        "address": {"$ref": "#/$defs/address"},
        "born": {"type": "string", "format": "date"},
        "id": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    },
    "required": ["name", "age", "colour", "kind", "tags", "address"],
    "additionalProperties": False,
    "$defs": {
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 20}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
            "required": ["city", "zip"],
            "additionalProperties": False,
        },
    },
}
PERSON_PROMPT = [{"role": "user", "content": "Invent a person who lives in a city. Answer as JSON."}]

WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 30}, "unit": {"enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"],
    "additionalProperties": False,
}
# Each tool's parameters, by name, to validate a call's arguments with jsonschema.
TOOL_PARAMETERS = {"get_weather": WEATHER_PARAMETERS, "record_person": PERSON_SCHEMA}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city.",
                                      "parameters": WEATHER_PARAMETERS}},
    {"type": "function", "function": {"name": "record_person", "description": "Stores a person.",
                                      "parameters": PERSON_SCHEMA}},
]
TOOL_PROMPT = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOL_MAX_TOKENS = 400


def validate_tool_call(name, arguments):
    """Validates a call's arguments (a dict, or JSON text as OpenAI sends it) against its tool's parameters."""
    expect(name in TOOL_PARAMETERS, f"a call of an unknown tool {name!r}")
    value = json.loads(arguments) if isinstance(arguments, str) else arguments
    jsonschema.validate(value, TOOL_PARAMETERS[name])
    if name == "record_person" and "born" in value:
        expect(re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value["born"]), f"born is {value['born']!r}")
    return value


def validate_person(text):
    """Parses `text` and validates it against PERSON_SCHEMA; `born` must look like a date.

    Formats are annotations to jsonschema (and to llama.cpp's grammar a date is digits in the right
    places, so 2023-02-31 passes), hence the shape check instead of a FormatChecker."""
    value = json.loads(text)
    jsonschema.validate(value, PERSON_SCHEMA)
    if "born" in value:
        expect(re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value["born"]), f"born is {value['born']!r}")
    return value


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, function):
        try:
            detail = function()
        except Exception as error:  # any failure, assertion or client error, is this check's failure
            self.failed += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}")
            if os.environ.get("GEMMACTL_TEST_VERBOSE"):
                traceback.print_exc()
        else:
            self.passed += 1
            print(f"ok   {name}" + (f" ({detail})" if detail else ""))

    def finish(self):
        """Prints the closing `N passed, N failed` line and exits 1 when a check failed."""
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def check_usage(usage, max_completion=None):
    expect(usage is not None, "no usage in the response")
    expect(usage.prompt_tokens > 0, f"usage.prompt_tokens is {usage.prompt_tokens}")
    expect(usage.completion_tokens > 0, f"usage.completion_tokens is {usage.completion_tokens}")
    expect(usage.total_tokens == usage.prompt_tokens + usage.completion_tokens,
           f"usage.total_tokens {usage.total_tokens} != {usage.prompt_tokens} + {usage.completion_tokens}")
    if max_completion is not None:
        expect(usage.completion_tokens <= max_completion,
               f"usage.completion_tokens {usage.completion_tokens} exceeds max_tokens {max_completion}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key-env", default="OPENAI_CHECK_API_KEY")
    parser.add_argument("--server", choices=["gemmactl", "llama-server"], default="gemmactl")
    parser.add_argument("--embedding-dimension", type=int, default=640,
                        help="expected vector length (640 for Gemma 3 270M; 0 to accept any)")
    parser.add_argument("--native-port", type=int,
                        help="only the native-syntax checks, against a server rendering chats with Qwen 3's template "
                             "(reasoning_content, streamed tool-call argument fragments)")
    args = parser.parse_args()
    key = os.environ[args.api_key_env]
    if args.native_port:
        native_checks(args.native_port, key)
    base_url = f"http://127.0.0.1:{args.port}/v1"

    # The wrapper clears proxy variables, so this reaches 127.0.0.1 directly.
    def client_with(api_key):
        return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=300)

    client = client_with(key)
    checks = Checks()
    state = {}
    messages = [
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": "Name three colours of the rainbow."},
    ]

    def models_list():
        models = list(client.models.list())
        expect(len(models) >= 1, "models.list() returned no models")
        ids = [m.id for m in models]
        expect(all(isinstance(i, str) and i for i in ids), f"a model has an empty id: {ids}")
        state["model"] = ids[0]
        return f"{len(ids)} model(s), first {ids[0]!r}"

    def chat_non_stream():
        response = client.chat.completions.create(model=state.get("model", "default"), messages=messages,
                                                  max_tokens=MAX_TOKENS, temperature=0)
        expect(response.object == "chat.completion", f"object is {response.object!r}")
        expect(response.id, "the response has no id")
        expect(len(response.choices) == 1, f"{len(response.choices)} choices, expected 1")
        choice = response.choices[0]
        expect(choice.message.role == "assistant", f"role is {choice.message.role!r}")
        expect(isinstance(choice.message.content, str) and choice.message.content.strip(),
               f"empty content: {choice.message.content!r}")
        expect(choice.finish_reason in ("stop", "length"), f"finish_reason is {choice.finish_reason!r}")
        check_usage(response.usage, MAX_TOKENS)
        if choice.finish_reason == "length":
            expect(response.usage.completion_tokens == MAX_TOKENS,
                   f"finish_reason length after {response.usage.completion_tokens} of {MAX_TOKENS} tokens")
        return f"{response.usage.completion_tokens} tokens, finish {choice.finish_reason}"

    def chat_stream():
        stream = client.chat.completions.create(model=state.get("model", "default"), messages=messages,
                                                max_tokens=MAX_TOKENS, temperature=0, stream=True,
                                                stream_options={"include_usage": True})
        pieces, finish, usage, roles, ids, after_usage = [], None, None, [], set(), 0
        for chunk in stream:
            expect(chunk.object == "chat.completion.chunk", f"chunk object is {chunk.object!r}")
            ids.add(chunk.id)
            if usage is not None:
                after_usage += 1
            if chunk.usage is not None:
                usage = chunk.usage
                expect(not chunk.choices, "the usage chunk also carries choices (OpenAI sends choices: [])")
            for choice in chunk.choices:
                if choice.delta.role:
                    roles.append(choice.delta.role)
                if choice.delta.content:
                    expect(finish is None, "content arrived after finish_reason")
                    pieces.append(choice.delta.content)
                if choice.finish_reason:
                    finish = choice.finish_reason
        text = "".join(pieces)
        expect(text.strip(), "the stream carried no content")
        expect(roles and roles[0] == "assistant", f"no assistant role in the first deltas (roles: {roles})")
        expect(finish in ("stop", "length"), f"finish_reason is {finish!r}")
        expect(len(ids) == 1, f"chunks carry {len(ids)} different ids")
        expect(after_usage == 0, f"{after_usage} chunk(s) after the usage chunk")
        check_usage(usage, MAX_TOKENS)
        return f"{len(pieces)} deltas, {usage.completion_tokens} tokens, finish {finish}"

    def chat_one_token():
        response = client.chat.completions.create(model=state.get("model", "default"), messages=messages,
                                                  max_tokens=1, temperature=0)
        expect(response.choices[0].finish_reason == "length",
               f"finish_reason {response.choices[0].finish_reason!r} with max_tokens=1")
        expect(response.usage.completion_tokens == 1, f"completion_tokens {response.usage.completion_tokens}, expected 1")

    def completions_non_stream():
        response = client.completions.create(model=state.get("model", "default"), prompt="The capital of France is",
                                             max_tokens=MAX_TOKENS, temperature=0)
        expect(response.object == "text_completion", f"object is {response.object!r}")
        expect(len(response.choices) == 1, f"{len(response.choices)} choices")
        choice = response.choices[0]
        expect(isinstance(choice.text, str) and choice.text, f"empty text: {choice.text!r}")
        expect(choice.finish_reason in ("stop", "length"), f"finish_reason is {choice.finish_reason!r}")
        check_usage(response.usage, MAX_TOKENS)
        return f"{choice.text.strip()[:40]!r}"

    def completions_stream():
        stream = client.completions.create(model=state.get("model", "default"), prompt="Once upon a time",
                                           max_tokens=MAX_TOKENS, temperature=0, stream=True)
        pieces, finish = [], None
        for chunk in stream:
            for choice in chunk.choices:
                if choice.text:
                    pieces.append(choice.text)
                if choice.finish_reason:
                    finish = choice.finish_reason
        expect("".join(pieces), "the stream carried no text")
        expect(finish in ("stop", "length"), f"finish_reason is {finish!r}")
        return f"{len(pieces)} chunks, finish {finish}"

    def embeddings():
        inputs = ["The cat sat on the mat.", "Quarterly revenue grew by four percent.", "The cat sat on the mat."]
        response = client.embeddings.create(model=state.get("model", "default"), input=inputs)
        expect(len(response.data) == 3, f"{len(response.data)} vectors for 3 inputs")
        expect([d.index for d in response.data] == [0, 1, 2], f"indexes {[d.index for d in response.data]}")
        vectors = [d.embedding for d in response.data]
        dimension = len(vectors[0])
        expect(all(len(v) == dimension for v in vectors), f"vector lengths differ: {[len(v) for v in vectors]}")
        if args.embedding_dimension:
            expect(dimension == args.embedding_dimension, f"dimension {dimension}, expected {args.embedding_dimension}")
        for v in vectors:
            norm = math.sqrt(sum(x * x for x in v))
            expect(abs(norm - 1) < 1e-3, f"norm {norm}, expected 1 (normalized)")
        same = max(abs(a - b) for a, b in zip(vectors[0], vectors[2]))
        expect(same < 1e-5, f"the same input gave different vectors (max difference {same})")
        cosine = sum(a * b for a, b in zip(vectors[0], vectors[1]))
        expect(cosine < 0.999, f"different inputs gave the same vector (cosine {cosine})")
        expect(response.usage.prompt_tokens > 0, f"usage.prompt_tokens is {response.usage.prompt_tokens}")
        single = client.embeddings.create(model=state.get("model", "default"), input="The cat sat on the mat.")
        expect(len(single.data) == 1, "a string input did not give one vector")
        return f"dimension {dimension}, cosine(different) {cosine:.3f}"

    def wrong_key():
        bad = client_with(key + "-wrong")
        try:
            bad.models.list()
        except openai.AuthenticationError as error:
            expect(error.status_code == 401, f"status {error.status_code}")
            expect(key not in str(error), "the error echoes the real key")
            return "401"
        raise AssertionError("models.list() with a wrong key did not raise openai.AuthenticationError")

    def wrong_key_chat():
        bad = client_with("not-the-key")
        try:
            bad.chat.completions.create(model=state.get("model", "default"), messages=messages, max_tokens=4)
        except openai.AuthenticationError:
            return "401"
        raise AssertionError("chat with a wrong key did not raise openai.AuthenticationError")

    def empty_messages():
        try:
            client.chat.completions.create(model=state.get("model", "default"), messages=[], max_tokens=4)
        except openai.BadRequestError as error:
            expect(error.status_code == 400, f"status {error.status_code}")
            return "400"
        raise AssertionError("empty messages did not raise openai.BadRequestError")

    def abandoned_request_frees_its_slot():
        # The SDK gives up after its timeout and closes the connection: the generation must stop
        # then, not run on to max_tokens holding a slot.
        impatient = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=1.5)
        try:
            impatient.completions.create(model=state.get("model", "default"), prompt="1, 2, 3, 4, 5, 6, 7, 8,",
                                         max_tokens=4000, temperature=0)
        except openai.APITimeoutError:
            pass
        else:
            raise AssertionError("a 4000-token completion finished within 1.5 s; the check needs it to time out")
        # Polled, with a bound far below what 4000 tokens of counting take: freed because the client
        # left, not because the reply ended (how fast is not this check's business).
        left = time.monotonic()
        while True:
            slots = httpx.get(f"http://127.0.0.1:{args.port}/slots", headers={"Authorization": f"Bearer {key}"},
                              timeout=10).json()
            if not any(slot["is_processing"] for slot in slots):
                return f"slot free {time.monotonic() - left:.2f} s after the client left"
            if time.monotonic() - left > 10.0:
                raise AssertionError(f"a slot was still processing 10 s after the client left: {slots}")
            time.sleep(0.05)

    def chat_json_schema():
        response = client.chat.completions.create(
            model=state.get("model", "default"), messages=PERSON_PROMPT, max_tokens=SCHEMA_MAX_TOKENS, temperature=0,
            response_format={"type": "json_schema",
                             "json_schema": {"name": "person", "strict": True, "schema": PERSON_SCHEMA}})
        choice = response.choices[0]
        expect(choice.finish_reason == "stop", f"finish_reason {choice.finish_reason!r}: {choice.message.content!r}")
        value = validate_person(choice.message.content)
        return f"{response.usage.completion_tokens} tokens, {sorted(value)}"

    def chat_json_schema_stream():
        stream = client.chat.completions.create(
            model=state.get("model", "default"), messages=PERSON_PROMPT, max_tokens=SCHEMA_MAX_TOKENS, temperature=0.7,
            seed=11, stream=True,
            response_format={"type": "json_schema",
                             "json_schema": {"name": "person", "strict": True, "schema": PERSON_SCHEMA}})
        pieces, finish = [], None
        for chunk in stream:
            for choice in chunk.choices:
                pieces.append(choice.delta.content or "")
                finish = choice.finish_reason or finish
        expect(finish == "stop", f"finish_reason {finish!r}: {''.join(pieces)!r}")
        validate_person("".join(pieces))
        return f"{len(pieces)} deltas, temperature 0.7"

    def chat_json_schema_invalid():
        try:
            client.chat.completions.create(
                model=state.get("model", "default"), messages=messages, max_tokens=4,
                response_format={"type": "json_schema",
                                 "json_schema": {"name": "broken", "schema": {"$ref": "#/$defs/nowhere"}}})
        except openai.BadRequestError as error:
            expect(error.status_code == 400, f"status {error.status_code}")
            expect("response_format.json_schema.schema" in str(error), f"the error does not name the field: {error}")
            return "400 naming response_format.json_schema.schema"
        raise AssertionError("an unresolvable $ref did not raise openai.BadRequestError")

    def tool_calls_checked(choice, expected_name=None):
        expect(choice.finish_reason == "tool_calls", f"finish_reason {choice.finish_reason!r}: {choice.message!r}")
        calls = choice.message.tool_calls or []
        expect(len(calls) >= 1, f"no tool_calls: {choice.message!r}")
        for call in calls:
            expect(call.type == "function" and call.id, f"call {call!r}")
            if expected_name:
                expect(call.function.name == expected_name, f"called {call.function.name!r}, not {expected_name!r}")
            validate_tool_call(call.function.name, call.function.arguments)
        return calls

    def chat_tools_required():
        response = client.chat.completions.create(
            model=state.get("model", "default"), messages=TOOL_PROMPT, tools=TOOLS, tool_choice="required",
            max_tokens=TOOL_MAX_TOKENS, temperature=0)
        choice = response.choices[0]
        calls = tool_calls_checked(choice)
        expect(choice.message.content is None, f"content {choice.message.content!r} beside the tool calls")
        state["tool_turn"] = choice.message
        return ", ".join(f"{c.function.name}({c.function.arguments})" for c in calls)[:120]

    def chat_tools_named():
        response = client.chat.completions.create(
            model=state.get("model", "default"), messages=PERSON_PROMPT, tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "record_person"}},
            max_tokens=TOOL_MAX_TOKENS, temperature=0)
        calls = tool_calls_checked(response.choices[0], "record_person")
        return f"{len(calls)} call(s) of record_person, arguments validate"

    def chat_tools_stream():
        stream = client.chat.completions.create(
            model=state.get("model", "default"), messages=TOOL_PROMPT, tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            max_tokens=TOOL_MAX_TOKENS, temperature=0, stream=True)
        calls, finish, content = {}, None, ""
        for chunk in stream:
            for choice in chunk.choices:
                content += choice.delta.content or ""
                for delta in choice.delta.tool_calls or []:
                    call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
                    call["id"] = delta.id or call["id"]
                    if delta.function:
                        call["name"] += delta.function.name or ""
                        call["arguments"] += delta.function.arguments or ""
                finish = choice.finish_reason or finish
        expect(finish == "tool_calls", f"finish_reason {finish!r}")
        expect(not content, f"content {content!r} beside the tool calls")
        expect(list(calls) == [0], f"tool call indexes {list(calls)}")
        expect(calls[0]["id"], "the streamed call has no id")
        expect(calls[0]["name"] == "get_weather", f"called {calls[0]['name']!r}")
        validate_tool_call(calls[0]["name"], calls[0]["arguments"])
        return f"get_weather({calls[0]['arguments']})"

    def chat_tools_history():
        turn = state.get("tool_turn")
        expect(turn is not None, "no tool call from the required check to answer")
        call = turn.tool_calls[0]
        history = TOOL_PROMPT + [turn.model_dump(exclude_none=True),
                                 {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature": 21, "sky": "clear"})}]
        response = client.chat.completions.create(model=state.get("model", "default"), messages=history, tools=TOOLS,
                                                  max_tokens=TOOL_MAX_TOKENS, temperature=0)
        choice = response.choices[0]
        if choice.finish_reason == "tool_calls":
            tool_calls_checked(choice)
            return "answered with another call"
        expect(choice.finish_reason == "stop", f"finish_reason {choice.finish_reason!r}")
        expect(isinstance(choice.message.content, str) and not choice.message.tool_calls, f"message {choice.message!r}")
        return f"answered {choice.message.content[:40]!r}"

    def chat_tools_none():
        response = client.chat.completions.create(model=state.get("model", "default"), messages=TOOL_PROMPT, tools=TOOLS,
                                                  tool_choice="none", max_tokens=MAX_TOKENS, temperature=0)
        choice = response.choices[0]
        expect(not choice.message.tool_calls, f"tool_calls with tool_choice none: {choice.message.tool_calls!r}")
        expect(isinstance(choice.message.content, str) and choice.message.content, f"content {choice.message.content!r}")
        expect(choice.finish_reason in ("stop", "length"), f"finish_reason {choice.finish_reason!r}")

    def chat_tools_invalid():
        for fields, field in [
            ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "launch_rocket"}}},
             "tool_choice.function.name"),
            ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tools[0].function.name"),
            ({"tools": TOOLS, "response_format": {"type": "json_object"}}, "response_format"),
        ]:
            try:
                client.chat.completions.create(model=state.get("model", "default"), messages=TOOL_PROMPT, max_tokens=4, **fields)
            except openai.BadRequestError as error:
                expect(error.status_code == 400, f"status {error.status_code}")
                expect(field in str(error), f"the error does not name {field}: {error}")
            else:
                raise AssertionError(f"{sorted(fields)} did not raise openai.BadRequestError")
        return "400s name tool_choice.function.name, tools[0].function.name, response_format"

    def chat_n_choices_extra_body():
        response = client.chat.completions.create(
            model=state.get("model", "default"), messages=messages, max_tokens=4, n=2,
            extra_body={"grammar": 'root ::= "yes" | "no"', "n_probs": 1, "cache_prompt": False})
        expect([choice.index for choice in response.choices] == [0, 1], f"choices {response.choices!r}")
        for choice in response.choices:
            expect(choice.message.content in ("yes", "no"), f"grammar not followed: {choice.message.content!r}")
        expect(response.system_fingerprint, "no system_fingerprint")
        timings = (response.model_extra or {}).get("timings") or {}
        expect(timings.get("predicted_n", 0) >= 1, f"no llama-server timings: {response.model_extra!r}")
        return f"{[choice.message.content for choice in response.choices]}, fingerprint {response.system_fingerprint}"

    def chat_stream_extra_body():
        stream = client.chat.completions.create(
            model=state.get("model", "default"), messages=messages, max_tokens=3, stream=True,
            extra_body={"timings_per_token": True, "return_progress": True, "ignore_eos": True})
        progress, timed, content = 0, 0, 0
        for chunk in stream:
            extra = chunk.model_extra or {}
            progress += "prompt_progress" in extra
            if chunk.choices and chunk.choices[0].delta.content:
                content += 1
                timed += "timings" in extra
        expect(progress >= 1, "no prompt_progress chunk")
        expect(content >= 1 and timed == content, f"{timed} of {content} content chunks carry timings")
        return f"{progress} progress chunks, {content} content chunks with timings"

    def completions_logit_bias_extra_body():
        banned = client.completions.create(
            model=state.get("model", "default"), prompt="The capital of France is", max_tokens=1, temperature=0,
            logit_bias={"506": -100})
        expect(banned.choices[0].text != " the", f"logit_bias ignored: {banned.choices[0].text!r}")
        return f"first token {banned.choices[0].text!r} with ' the' banned"

    def grammar_invalid_extra_body():
        try:
            client.chat.completions.create(model=state.get("model", "default"), messages=messages, max_tokens=2,
                                           extra_body={"grammar": "root ::= nope"})
        except openai.BadRequestError as error:
            expect(error.status_code == 400, f"status {error.status_code}")
            expect("grammar" in str(error), f"the error does not name the field: {error}")
            return "400 naming grammar"
        raise AssertionError("an invalid grammar did not raise openai.BadRequestError")

    def responses_non_stream():
        response = client.responses.create(model=state.get("model", "default"), input="Name three colours of the rainbow.",
                                           instructions="You answer briefly.", max_output_tokens=MAX_TOKENS, temperature=0)
        expect(response.object == "response", f"object is {response.object!r}")
        expect(response.status == "completed", f"status is {response.status!r}")
        expect(response.id.startswith("resp_"), f"id is {response.id!r}")
        expect(response.output_text.strip(), f"empty output_text: {response.output_text!r}")
        usage = response.usage
        expect(0 < usage.output_tokens <= MAX_TOKENS, f"usage.output_tokens is {usage.output_tokens}")
        expect(usage.total_tokens == usage.input_tokens + usage.output_tokens, f"usage does not add up: {usage}")
        return f"{usage.output_tokens} tokens"

    def responses_stream():
        stream = client.responses.create(model=state.get("model", "default"),
                                         input=[{"role": "user", "content": [{"type": "input_text", "text": "Count: 1, 2, 3,"}]}],
                                         max_output_tokens=MAX_TOKENS, temperature=0, stream=True)
        types, deltas, done_text, completed = [], [], None, None
        for event in stream:
            types.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            elif event.type == "response.output_text.done":
                done_text = event.text
            elif event.type == "response.completed":
                completed = event.response
        expect(types[:2] == ["response.created", "response.in_progress"], f"first events: {types[:2]}")
        expect(types[-1] == "response.completed", f"last event: {types[-1]}")
        expect(deltas and done_text == "".join(deltas), f"output_text.done {done_text!r} != the deltas joined")
        expect(completed is not None and completed.output_text == done_text, "response.completed's text differs")
        return f"{len(types)} events, {len(deltas)} deltas"

    def responses_previous_id():
        try:
            client.responses.create(model=state.get("model", "default"), input="hi", previous_response_id="resp_x")
        except openai.BadRequestError as error:
            expect("previous_response_id" in str(error), f"the error does not name previous_response_id: {error}")
        else:
            raise AssertionError("previous_response_id did not raise openai.BadRequestError")
        return "400, as llama-server"

    checks.run("models.list", models_list)
    checks.run("chat.completions.create", chat_non_stream)
    checks.run("chat.completions.create stream", chat_stream)
    checks.run("chat.completions.create max_tokens=1", chat_one_token)
    checks.run("completions.create", completions_non_stream)
    checks.run("completions.create stream", completions_stream)
    checks.run("embeddings.create", embeddings)
    checks.run("responses.create", responses_non_stream)
    checks.run("responses.create stream", responses_stream)
    checks.run("responses.create previous_response_id raises BadRequestError", responses_previous_id)
    checks.run("wrong key raises AuthenticationError (models)", wrong_key)
    checks.run("wrong key raises AuthenticationError (chat)", wrong_key_chat)
    checks.run("chat.completions.create json_schema validates (jsonschema)", chat_json_schema)
    checks.run("chat.completions.create json_schema stream, sampled, validates", chat_json_schema_stream)
    checks.run("chat.completions.create tools, tool_choice=required: tool_calls validate (jsonschema)", chat_tools_required)
    checks.run("chat.completions.create tools, tool_choice=<function>: that function, validates", chat_tools_named)
    checks.run("chat.completions.create tools stream: tool_calls deltas validate", chat_tools_stream)
    checks.run("chat.completions.create with the call and a role=tool result in the history", chat_tools_history)
    checks.run("chat.completions.create tools, tool_choice=none: plain content", chat_tools_none)
    checks.run("chat.completions.create n=2, extra_body grammar/n_probs/cache_prompt: timings, system_fingerprint",
               chat_n_choices_extra_body)
    checks.run("chat.completions.create stream, extra_body timings_per_token/return_progress/ignore_eos", chat_stream_extra_body)
    checks.run("completions.create logit_bias bans a token", completions_logit_bias_extra_body)
    if args.server == "gemmactl":  # llama-server answers empty messages with 200
        checks.run("empty messages raise BadRequestError", empty_messages)
        checks.run("an abandoned request frees its slot (the generation stops)", abandoned_request_frees_its_slot)
        checks.run("an unusable json_schema raises BadRequestError naming the field", chat_json_schema_invalid)
        checks.run("tools that cannot be honoured raise BadRequestError naming the field", chat_tools_invalid)
        checks.run("an invalid grammar raises BadRequestError naming the field", grammar_invalid_extra_body)

    checks.finish()


def native_checks(port, key):
    """Thinking and tool calls in a template's own syntax, read by the SDK as llama-server sends them.

    The server renders chats with Qwen 3's template; the default model cannot think, so a GBNF grammar
    forces a reply in Qwen 3's thinking syntax; a required call with thinking off is constrained by
    the grammar llama.cpp builds for Qwen 3's <tool_call> syntax."""
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0, timeout=300)
    checks = Checks()
    forced = {"grammar": 'root ::= "<think>\\nJust greet.\\n</think>\\n\\nHello there!"'}
    greeting = [{"role": "user", "content": "Hi"}]

    def reasoning_whole():
        response = client.chat.completions.create(model="default", messages=greeting, max_tokens=32, temperature=0,
                                                  extra_body=forced)
        message = response.choices[0].message
        expect(getattr(message, "reasoning_content", None) == "Just greet.\n",
               f"reasoning_content {getattr(message, 'reasoning_content', None)!r}")
        expect(message.content == "Hello there!", f"content {message.content!r}")
        return "reasoning_content apart from content"

    def reasoning_stream():
        reasoning, content = "", ""
        for chunk in client.chat.completions.create(model="default", messages=greeting, max_tokens=32, temperature=0,
                                                    stream=True, extra_body=forced):
            if chunk.choices:
                delta = chunk.choices[0].delta
                reasoning += getattr(delta, "reasoning_content", None) or ""
                content += delta.content or ""
        expect(reasoning == "Just greet.\n", f"streamed reasoning_content {reasoning!r}")
        expect(content == "Hello there!", f"streamed content {content!r}")
        return "delta.reasoning_content, then delta.content"

    def tool_call_fragments():
        calls, fragments, finish = {}, 0, None
        stream = client.chat.completions.create(
            model="default", messages=TOOL_PROMPT, tools=TOOLS[:1], tool_choice="required", max_tokens=60,
            temperature=0, stream=True, extra_body={"chat_template_kwargs": {"enable_thinking": False}})
        for chunk in stream:
            if not chunk.choices:
                continue
            finish = chunk.choices[0].finish_reason or finish
            for call in chunk.choices[0].delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"name": None, "arguments": "", "id": None})
                if call.function and call.function.name:
                    expect(entry["name"] is None and entry["arguments"] == "", "a call's name came after its arguments")
                    entry["name"], entry["id"] = call.function.name, call.id
                if call.function and call.function.arguments:
                    expect(entry["name"] is not None, "arguments arrived before the call's name")
                    entry["arguments"] += call.function.arguments
                    fragments += 1
        # The default model, held to the call syntax, calls again and again (the stock llama-server too,
        # parallel_tool_calls or not) until max_tokens: the first call is whole, a last one may be cut.
        expect(0 in calls, f"no tool_calls deltas (finish_reason {finish!r})")
        expect(finish in ("tool_calls", "length"), f"finish_reason {finish!r}")
        first = calls[0]
        expect(first["id"], f"a call without an id: {first}")
        expect(fragments > len(calls), f"{fragments} argument fragments for {len(calls)} call(s): not streamed incrementally")
        validate_tool_call(first["name"], first["arguments"])
        return f"{len(calls)} call(s) in {fragments} argument fragments, the first valid"

    checks.run("native syntax: message.reasoning_content (Qwen 3's <think>)", reasoning_whole)
    checks.run("native syntax: streamed delta.reasoning_content", reasoning_stream)
    checks.run("native syntax: streamed tool call, name first then argument fragments (Qwen 3's <tool_call>)",
               tool_call_fragments)
    checks.finish()


if __name__ == "__main__":
    main()
