"""Build a tiny random-weight llama that `mlx_lm.load` accepts, in a few milliseconds.

Nothing is downloaded: the tokenizer is trained here with `tokenizers` on a few sentences
(byte-level BPE, so any text round-trips), saved through
`transformers.PreTrainedTokenizerFast.save_pretrained` with a chat template that also renders
`tools`, and the weights are drawn from a seeded numpy generator and written with
`safetensors` — so building needs neither mlx nor a network, only loading it does.

The same `(name, seed)` always gives byte-identical files, which lets tests compare the
gateway's answer with `mlx_lm`'s own. Other suites (the end-to-end tests through the proxy)
reuse `build_tiny_model`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

HEADS = 4
KV_HEADS = 2
VOCAB_TARGET = 384

BOS, EOS, PAD = "<s>", "</s>", "<pad>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", "<|tool|>"]

SENTENCES = [
    "Hello! How can I help you today?",
    "The quick brown fox jumps over the lazy dog.",
    "Local models answer without the request ever leaving the machine.",
    "mitmproxy shows every exchange, streamed token by token.",
    "What is the weather like in Paris? It is sunny and warm.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9, and punctuation: ,.;:!?-()[]{}'\"",
    "A tiny llama with random weights says surprising things.",
]

# Renders tools when given (so the server's "template supports tools" check has something
# to find) and ends the prompt with the assistant role token when asked.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if tools %}<|system|>Tools: {{ tools | tojson }}</s>{% endif %}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>{{ message['content'] }}</s>"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _train_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_TARGET,
        special_tokens=[BOS, EOS, PAD, *ROLE_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(SENTENCES, trainer=trainer)
    return tokenizer


@dataclass(frozen=True)
class Shape:
    hidden: int = 64
    layers: int = 2

    @property
    def intermediate(self) -> int:
        return 2 * self.hidden

    @property
    def head_dim(self) -> int:
        return self.hidden // HEADS


def _config(shape: Shape, vocab_size: int, bos_id: int, eos_id: int) -> dict[str, object]:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": shape.hidden,
        "num_hidden_layers": shape.layers,
        "intermediate_size": shape.intermediate,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "rms_norm_eps": 1e-5,
        "vocab_size": vocab_size,
        "max_position_embeddings": 4096,
        "rope_theta": 10000.0,
        "tie_word_embeddings": True,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "torch_dtype": "float32",
    }


def _weights(shape: Shape, vocab_size: int, seed: int) -> dict[str, np.ndarray]:
    """Llama parameter names and shapes as `mlx_lm.models.llama` expects them (strict load)."""
    rng = np.random.default_rng(seed)
    hidden, inner, head_dim = shape.hidden, shape.intermediate, shape.head_dim

    def rand(*shape: int) -> np.ndarray:
        # A wide spread makes the logits peaked, so greedy output varies from token to token
        # instead of repeating one token, and near-ties between two tokens are unlikely.
        return rng.normal(0.0, 0.5, size=shape).astype(np.float32)

    weights = {"model.embed_tokens.weight": rand(vocab_size, hidden)}
    for i in range(shape.layers):
        prefix = f"model.layers.{i}"
        weights |= {
            f"{prefix}.self_attn.q_proj.weight": rand(HEADS * head_dim, hidden),
            f"{prefix}.self_attn.k_proj.weight": rand(KV_HEADS * head_dim, hidden),
            f"{prefix}.self_attn.v_proj.weight": rand(KV_HEADS * head_dim, hidden),
            f"{prefix}.self_attn.o_proj.weight": rand(hidden, HEADS * head_dim),
            f"{prefix}.mlp.gate_proj.weight": rand(inner, hidden),
            f"{prefix}.mlp.up_proj.weight": rand(inner, hidden),
            f"{prefix}.mlp.down_proj.weight": rand(hidden, inner),
            f"{prefix}.input_layernorm.weight": np.ones(hidden, np.float32),
            f"{prefix}.post_attention_layernorm.weight": np.ones(hidden, np.float32),
        }
    weights["model.norm.weight"] = np.ones(hidden, np.float32)
    return weights


def build_tiny_model(
    folder: Path,
    name: str = "tiny-llama",
    *,
    seed: int = 0,
    chat_template: str = CHAT_TEMPLATE,
    hidden: int = 64,
    layers: int = 2,
) -> Path:
    """Write a loadable tiny llama to `folder/name` and return that path.

    Different seeds give different weights (same tokenizer), e.g. two distinct models for
    LRU tests. The folder is what `local.model_dirs` should point at; the model id is `name`.
    `hidden` (a multiple of 8) and `layers` make a slower model, e.g. for benchmarks.
    """
    shape = Shape(hidden, layers)
    path = Path(folder) / name
    path.mkdir(parents=True, exist_ok=True)

    tokenizer = _train_tokenizer()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=ROLE_TOKENS,
    )
    fast.chat_template = chat_template
    fast.save_pretrained(str(path))

    vocab_size = tokenizer.get_vocab_size()
    config = _config(shape, vocab_size, tokenizer.token_to_id(BOS), tokenizer.token_to_id(EOS))
    (path / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file(_weights(shape, vocab_size, seed), str(path / "model.safetensors"), {"format": "mlx"})
    return path
