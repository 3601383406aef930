#!/usr/bin/env python3
"""Uses the official `anthropic` package, as a user would, against a running server on 127.0.0.1.

  anthropic_client_check.py --port P [--api-key-env VAR] [--server gemmactl|llama-server]

Run by scripts/test-openai-client, which starts the server. Prints one line per check and a
closing `N passed, N failed`; exits 1 when a check fails.
"""

import argparse
import json
import os
import sys

import anthropic
import jsonschema

from openai_client_check import TOOL_MAX_TOKENS, WEATHER_PARAMETERS, Checks, expect

MAX_TOKENS = 16
WEATHER_TOOL = {"name": "get_weather", "description": "The weather in a city.", "input_schema": WEATHER_PARAMETERS}
MESSAGES = [{"role": "user", "content": "Name three colours of the rainbow."}]
SYSTEM = "You answer briefly."
# Newer SDKs have no `temperature` argument; the API (and this server) still read the field.
GREEDY = {"temperature": 0}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key-env", default="OPENAI_CHECK_API_KEY")
    parser.add_argument("--server", choices=["gemmactl", "llama-server"], default="gemmactl")
    args = parser.parse_args()
    key = os.environ[args.api_key_env]
    base_url = f"http://127.0.0.1:{args.port}"

    # The wrapper clears proxy variables, so this reaches 127.0.0.1 directly.
    def client_with(api_key):
        return anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0, timeout=300)

    client = client_with(key)
    checks = Checks()
    state = {}

    def create():
        message = client.messages.create(model="local", max_tokens=MAX_TOKENS, system=SYSTEM, messages=MESSAGES, extra_body=GREEDY)
        expect(message.type == "message" and message.role == "assistant", f"type {message.type!r}, role {message.role!r}")
        expect(message.id, "the message has no id")
        texts = [block.text for block in message.content if block.type == "text"]
        expect(len(texts) == 1 and texts[0].strip(), f"content {message.content!r}")
        expect(message.stop_reason in ("end_turn", "max_tokens"), f"stop_reason {message.stop_reason!r}")
        expect(0 < message.usage.output_tokens <= MAX_TOKENS, f"usage.output_tokens {message.usage.output_tokens}")
        expect(message.usage.input_tokens > 0, f"usage.input_tokens {message.usage.input_tokens}")
        state["input_tokens"] = message.usage.input_tokens + (message.usage.cache_read_input_tokens or 0)
        return f"{message.usage.output_tokens} tokens, stop {message.stop_reason}"

    def stream():
        with client.messages.stream(model="local", max_tokens=MAX_TOKENS, system=SYSTEM, messages=MESSAGES,
                                    extra_body=GREEDY) as streamed:
            text = "".join(streamed.text_stream)
            final = streamed.get_final_message()
        expect(text.strip(), "text_stream carried no text")
        final_text = "".join(block.text for block in final.content if block.type == "text")
        expect(final_text == text, f"get_final_message() has {final_text!r}, text_stream gave {text!r}")
        expect(final.stop_reason in ("end_turn", "max_tokens"), f"stop_reason {final.stop_reason!r}")
        expect(0 < final.usage.output_tokens <= MAX_TOKENS, f"usage.output_tokens {final.usage.output_tokens}")
        return f"{len(text)} characters, stop {final.stop_reason}"

    def count_tokens():
        counted = client.messages.count_tokens(model="local", system=SYSTEM, messages=MESSAGES)
        expect(counted.input_tokens > 0, f"input_tokens {counted.input_tokens}")
        if "input_tokens" in state:
            expect(counted.input_tokens == state["input_tokens"],
                   f"count_tokens says {counted.input_tokens}, messages.create's usage {state['input_tokens']}")
        return f"{counted.input_tokens} tokens"

    def tool_round_trip():
        question = {"role": "user", "content": "What is the weather in Paris?"}
        message = client.messages.create(model="local", max_tokens=TOOL_MAX_TOKENS, messages=[question], tools=[WEATHER_TOOL],
                                         tool_choice={"type": "tool", "name": "get_weather"}, extra_body=GREEDY)
        expect(message.stop_reason == "tool_use", f"stop_reason {message.stop_reason!r}: {message.content!r}")
        calls = [block for block in message.content if block.type == "tool_use"]
        expect(len(calls) == 1 and calls[0].name == "get_weather", f"content {message.content!r}")
        jsonschema.validate(calls[0].input, WEATHER_PARAMETERS)
        with client.messages.stream(model="local", max_tokens=TOOL_MAX_TOKENS, messages=[question], tools=[WEATHER_TOOL],
                                    tool_choice={"type": "any"}, extra_body=GREEDY) as streamed:
            final = streamed.get_final_message()
        streamed_calls = [block for block in final.content if block.type == "tool_use"]
        expect(len(streamed_calls) == 1, f"streamed content {final.content!r}")
        jsonschema.validate(streamed_calls[0].input, WEATHER_PARAMETERS)
        history = [question, {"role": "assistant", "content": message.content},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "18 degrees, sunny"}]}]
        answer = client.messages.create(model="local", max_tokens=MAX_TOKENS, messages=history, tools=[WEATHER_TOOL],
                                        tool_choice={"type": "none"} if args.server == "gemmactl" else {"type": "auto"}, extra_body=GREEDY)
        expect(answer.stop_reason in ("end_turn", "max_tokens", "tool_use"), f"stop_reason {answer.stop_reason!r}")
        expect(answer.content, "the answer to the tool result is empty")
        return f"get_weather({json.dumps(calls[0].input)}), streamed too, then {answer.stop_reason}"

    def errors():
        try:
            client_with("not-the-key").messages.create(model="local", max_tokens=4, messages=MESSAGES)
        except anthropic.AuthenticationError as error:
            expect(error.status_code == 401, f"status {error.status_code}")
        else:
            raise AssertionError("a wrong key did not raise anthropic.AuthenticationError")
        if args.server != "gemmactl":
            return "401 (llama-server does not refuse bad blocks)"
        try:
            client.messages.create(model="local", max_tokens=4, messages=[{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]}])
        except anthropic.BadRequestError as error:
            expect(error.status_code == 400, f"status {error.status_code}")
            body = error.body or {}
            expect(body.get("type") == "error" and body.get("error", {}).get("type") == "invalid_request_error", f"body {body!r}")
            expect("messages[0].content[0].type" in str(error), f"the error does not name the field: {error}")
        else:
            raise AssertionError("an image block did not raise anthropic.BadRequestError")
        return "AuthenticationError 401, BadRequestError 400 naming the field"

    checks.run("messages.create", create)
    checks.run("messages.stream: text_stream and get_final_message", stream)
    checks.run("messages.count_tokens equals create's input usage", count_tokens)
    checks.run("tools: tool_choice tool and any, tool_use input validates (jsonschema), tool_result round trip", tool_round_trip)
    checks.run("errors: AuthenticationError, BadRequestError", errors)
    checks.finish()


if __name__ == "__main__":
    main()
