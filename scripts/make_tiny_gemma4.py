"""A tiny Gemma 4 GGUF with random weights, for tests: llama.cpp's `gemma4` architecture at toy
size (two layers, one sliding-window and one full-attention, as the real models alternate them),
the vocabulary of another GGUF (the default Gemma 3 model) with Gemma 4's chat tokens written over
unused entries, and Gemma 4's chat template. It generates noise, but it loads, tokenizes, renders
chats and runs the whole serving path as a Gemma 4 model does.

Run by scripts/make-tiny-gemma4 with the pinned llama.cpp's gguf-py on PYTHONPATH.

    python make_tiny_gemma4.py --vocab-from GGUF --template JINJA --out GGUF
"""

import argparse

import numpy as np

import gguf

# Gemma 4's chat tokens. Gemma 4's converter leaves those a chat parser must read as user-defined
# (rendered in the output text); the others are control tokens.
VISIBLE = ["<|channel>", "<channel|>", "<|tool_call>", "<tool_call|>", "<|tool_response>", "<tool_response|>", '<|"|>']
CONTROL = ["<|turn>", "<turn|>", "<|think|>", "<|tool>", "<tool|>", "<|image|>", "<|audio|>", "<|video|>"]

N_EMBD = 64
N_LAYER = 2
N_HEAD = 2
N_HEAD_KV = 1
HEAD_DIM = 32
N_FF = 128
SLIDING_WINDOW = 16
# The full-attention layers' proportional RoPE (partial_rotary_factor 0.25), as the converter writes it.
ROPE_FREQS = [1.0] * (HEAD_DIM // 8) + [1e30] * (HEAD_DIM // 2 - HEAD_DIM // 8)


def field_value(field):
    """A scalar or array field of a GGUFReader as Python values."""
    kind = field.types[0]
    if kind == gguf.GGUFValueType.ARRAY:
        item = field.types[1]
        values = [field.parts[i] for i in field.data]
        if item == gguf.GGUFValueType.STRING:
            return [bytes(v).decode("utf-8", errors="surrogateescape") for v in values], item
        return [v[0].item() for v in values], item
    part = field.parts[field.data[0]]
    if kind == gguf.GGUFValueType.STRING:
        return bytes(part).decode("utf-8"), None
    return part[0].item(), None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-from", required=True)
    parser.add_argument("--template", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()

    reader = gguf.GGUFReader(args.vocab_from)
    tokenizer = {name: field_value(field) for name, field in reader.fields.items() if name.startswith("tokenizer.ggml.")}
    tokens, _ = tokenizer["tokenizer.ggml.tokens"]
    types, _ = tokenizer["tokenizer.ggml.token_type"]
    tokens, types = list(tokens), list(types)
    unused = [i for i, text in enumerate(tokens) if text.startswith("<unused")]
    wanted = VISIBLE + CONTROL
    if len(unused) < len(wanted):
        raise SystemExit(f"{args.vocab_from} has {len(unused)} unused tokens, {len(wanted)} are needed")
    for index, text in zip(unused, wanted):
        tokens[index] = text
        types[index] = int(gguf.TokenType.USER_DEFINED if text in VISIBLE else gguf.TokenType.CONTROL)
    tokenizer["tokenizer.ggml.tokens"] = (tokens, gguf.GGUFValueType.STRING)
    tokenizer["tokenizer.ggml.token_type"] = (types, gguf.GGUFValueType.INT32)

    writer = gguf.GGUFWriter(args.out, "gemma4")
    writer.add_name("tiny-gemma4 (random weights, tests only)")
    writer.add_context_length(4096)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_key_length(HEAD_DIM)
    writer.add_value_length(HEAD_DIM)
    writer.add_key_length_swa(HEAD_DIM)
    writer.add_value_length_swa(HEAD_DIM)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_rope_dimension_count_swa(HEAD_DIM)
    writer.add_rope_freq_base(1_000_000.0)
    writer.add_rope_freq_base_swa(10_000.0)
    writer.add_sliding_window(SLIDING_WINDOW)
    writer.add_sliding_window_pattern([True, False])
    writer.add_shared_kv_layers(0)
    writer.add_embedding_length_per_layer_input(0)
    writer.add_final_logit_softcapping(30.0)

    for name, (value, item) in tokenizer.items():
        if item is None:
            if isinstance(value, str):
                writer.add_string(name, value)
            elif isinstance(value, bool):
                writer.add_bool(name, value)
            elif isinstance(value, float):
                writer.add_float32(name, value)
            else:
                writer.add_uint32(name, value)
        elif item == gguf.GGUFValueType.STRING:
            writer.add_array(name, value)
        elif item == gguf.GGUFValueType.FLOAT32:
            writer.add_array(name, [float(v) for v in value])
        else:
            writer.add_array(name, [int(v) for v in value])
    with open(args.template, encoding="utf-8") as file:
        writer.add_chat_template(file.read())

    rng = np.random.default_rng(args.seed)

    def weight(*shape, dtype=np.float16):
        return (rng.standard_normal(shape) * 0.05).astype(dtype)

    def name(tensor, layer=None):
        return gguf.TENSOR_NAMES[tensor].format(bid=layer) + ".weight"

    T = gguf.MODEL_TENSOR
    ones = lambda n: np.ones(n, dtype=np.float32)  # noqa: E731
    writer.add_tensor(name(T.TOKEN_EMBD), weight(len(tokens), N_EMBD))
    writer.add_tensor(name(T.OUTPUT_NORM), ones(N_EMBD))
    writer.add_tensor(name(T.ROPE_FREQS), np.array(ROPE_FREQS, dtype=np.float32))
    for layer in range(N_LAYER):
        writer.add_tensor(name(T.ATTN_NORM, layer), ones(N_EMBD))
        writer.add_tensor(name(T.ATTN_Q, layer), weight(N_HEAD * HEAD_DIM, N_EMBD))
        writer.add_tensor(name(T.ATTN_K, layer), weight(N_HEAD_KV * HEAD_DIM, N_EMBD))
        writer.add_tensor(name(T.ATTN_V, layer), weight(N_HEAD_KV * HEAD_DIM, N_EMBD))
        writer.add_tensor(name(T.ATTN_OUT, layer), weight(N_EMBD, N_HEAD * HEAD_DIM))
        writer.add_tensor(name(T.ATTN_Q_NORM, layer), ones(HEAD_DIM))
        writer.add_tensor(name(T.ATTN_K_NORM, layer), ones(HEAD_DIM))
        writer.add_tensor(name(T.ATTN_POST_NORM, layer), ones(N_EMBD))
        writer.add_tensor(name(T.FFN_NORM, layer), ones(N_EMBD))
        writer.add_tensor(name(T.FFN_GATE, layer), weight(N_FF, N_EMBD))
        writer.add_tensor(name(T.FFN_UP, layer), weight(N_FF, N_EMBD))
        writer.add_tensor(name(T.FFN_DOWN, layer), weight(N_EMBD, N_FF))
        writer.add_tensor(name(T.FFN_POST_NORM, layer), ones(N_EMBD))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
