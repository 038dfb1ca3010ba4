"""Tiny checkpoints of every model family the engine supports, made by transformers' own config
and model classes (random weights, save_pretrained): the reference tests load them into both
transformers and our engine.

A case is a name, a config factory and the transformers class that builds the model. Variants
(checkpoint dtype, sharding) are applied when saving.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import transformers as tf

VOCAB = 96


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "causal", "classifier" or "seq2seq"
    make_config: Callable[[], tf.PretrainedConfig]
    model_class: type
    pad_id: int = 0

    def config(self, vocab: int = VOCAB, num_labels: int | None = None) -> tf.PretrainedConfig:
        config = self.make_config()
        config.vocab_size = vocab
        if num_labels is not None:
            config.num_labels = num_labels
        return config

    def build(self, seed: int = 0, vocab: int = VOCAB, num_labels: int | None = None) -> torch.nn.Module:
        torch.manual_seed(seed)
        model = self.model_class(self.config(vocab, num_labels))
        model.eval()
        return model


def _llama_like(config_class, **extra):
    def make():
        values = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      initializer_range=0.2, bos_token_id=1, eos_token_id=2, pad_token_id=0)
        values.update(extra)
        return config_class(**values)
    return make


CASES: dict[str, Case] = {c.name: c for c in [
    # Llama 2 layout: untied head, default RoPE, grouped-query attention.
    Case("llama", "causal", _llama_like(tf.LlamaConfig), tf.LlamaForCausalLM),
    # Llama 3.2 layout: tied embeddings, llama3 RoPE scaling, theta 500000.
    Case("llama_tied_llama3rope", "causal",
         _llama_like(tf.LlamaConfig, tie_word_embeddings=True,
                     rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                      "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                      "original_max_position_embeddings": 16}),
         tf.LlamaForCausalLM),
    # Linear position interpolation (e.g. long-context Llama 2 fine-tunes).
    Case("llama_linear_rope", "causal",
         _llama_like(tf.LlamaConfig, rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0}),
         tf.LlamaForCausalLM),
    # Dynamic NTK scaling: the base grows once a sequence is longer than max_position_embeddings
    # (8 here, so the 12-token inputs use it).
    Case("llama_dynamic_rope", "causal",
         _llama_like(tf.LlamaConfig, max_position_embeddings=8,
                     rope_parameters={"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0}),
         tf.LlamaForCausalLM),
    # Qwen2 / Qwen2.5: q, k, v biases, tied head as the small Qwen2.5 models.
    Case("qwen2", "causal",
         _llama_like(tf.Qwen2Config, tie_word_embeddings=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
         tf.Qwen2ForCausalLM),
    Case("mistral", "causal", _llama_like(tf.MistralConfig, sliding_window=None), tf.MistralForCausalLM),
    # Mistral 7B v0.1: every layer attends over a sliding window (5 here, shorter than the inputs).
    Case("mistral_sliding", "causal", _llama_like(tf.MistralConfig, sliding_window=5), tf.MistralForCausalLM),
    # Qwen3: q/k RMSNorm per head, head_dim wider than hidden/heads (as Qwen3-0.6B), tied head.
    Case("qwen3", "causal",
         _llama_like(tf.Qwen3Config, head_dim=32, tie_word_embeddings=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
         tf.Qwen3ForCausalLM),
    # Qwen3 with YaRN for long context (as the Qwen3 model cards describe): factor 3 over 16
    # original positions, where max_position_embeddings / original is 4 (the config's factor wins).
    Case("qwen3_yarn", "causal",
         _llama_like(tf.Qwen3Config, head_dim=16,
                     rope_parameters={"rope_type": "yarn", "rope_theta": 1000000.0, "factor": 3.0,
                                      "original_max_position_embeddings": 16}),
         tf.Qwen3ForCausalLM),
    # SmolLM3: every 4th layer without RoPE (NoPE); with use_sliding_window those layers slide.
    Case("smollm3", "causal",
         _llama_like(tf.SmolLM3Config, num_hidden_layers=4, use_sliding_window=True, sliding_window=5,
                     tie_word_embeddings=True),
         tf.SmolLM3ForCausalLM),
    # Gemma 3 text (gemma-3-1b layout): (1 + w) norms around attention and MLP, q/k norms, scaled
    # embeddings, GeGLU (tanh GELU), query_pre_attn_scalar, sliding layers (window 4) with their
    # own RoPE base next to a global layer with linear scaling, final logit soft-capping.
    Case("gemma3_text", "causal",
         lambda: tf.Gemma3TextConfig(
             vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
             num_key_value_heads=2, head_dim=16, max_position_embeddings=64, initializer_range=0.2,
             query_pre_attn_scalar=24, sliding_window=4, final_logit_softcapping=30.0,
             layer_types=["sliding_attention", "full_attention", "sliding_attention"],
             rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0},
                              "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}},
             bos_token_id=2, eos_token_id=1, pad_token_id=0),
         tf.Gemma3ForCausalLM),
    # Phi-3-mini-4k: fused qkv_proj and gate_up_proj, sliding window over every layer.
    Case("phi3", "causal", _llama_like(tf.Phi3Config, sliding_window=7), tf.Phi3ForCausalLM),
    # Phi-4-mini: partial rotary (3/4 of each head), LongRoPE whose long factors apply beyond 8
    # positions (the 12-token inputs use them; generation crosses over from the short ones when it
    # starts below), tied head.
    Case("phi4_mini", "causal",
         _llama_like(tf.Phi3Config, partial_rotary_factor=0.75, tie_word_embeddings=True,
                     original_max_position_embeddings=8,
                     rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0, "partial_rotary_factor": 0.75,
                                      "short_factor": [1.0, 1.1, 1.3, 1.6, 2.0, 2.5],
                                      "long_factor": [1.5, 2.0, 3.0, 4.5, 6.0, 8.0],
                                      "original_max_position_embeddings": 8}),
         tf.Phi3ForCausalLM),
    Case("gpt2", "causal",
         lambda: tf.GPT2Config(vocab_size=VOCAB, n_embd=64, n_layer=2, n_head=4, n_positions=64,
                               initializer_range=0.2, bos_token_id=1, eos_token_id=2),
         tf.GPT2LMHeadModel),
    # A decoder-only LM as a sequence classifier (the last real token's state through a `score` head).
    Case("llama_cls", "classifier", _llama_like(tf.LlamaConfig, num_labels=3), tf.LlamaForSequenceClassification),
    Case("qwen3_cls", "classifier", _llama_like(tf.Qwen3Config, head_dim=32, num_labels=3),
         tf.Qwen3ForSequenceClassification),
    Case("phi3_cls", "classifier", _llama_like(tf.Phi3Config, num_labels=2), tf.Phi3ForSequenceClassification),
    Case("gemma3_cls", "classifier",
         lambda: tf.Gemma3TextConfig(
             vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, head_dim=16, max_position_embeddings=64, initializer_range=0.2,
             query_pre_attn_scalar=16, sliding_window=4, layer_types=["sliding_attention", "full_attention"],
             num_labels=3, bos_token_id=2, eos_token_id=1, pad_token_id=0),
         tf.Gemma3TextForSequenceClassification),
    Case("bert_cls", "classifier",
         lambda: tf.BertConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=96, max_position_embeddings=64, num_labels=3,
                               initializer_range=0.2, pad_token_id=0),
         tf.BertForSequenceClassification),
    Case("roberta_cls", "classifier",
         lambda: tf.RobertaConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=96, max_position_embeddings=66, num_labels=2,
                                  initializer_range=0.2, pad_token_id=1, bos_token_id=0, eos_token_id=2),
         tf.RobertaForSequenceClassification, pad_id=1),
    # T5 v1.0: ReLU feed-forward, tied embeddings (the head scaled by d_model^-0.5).
    Case("t5_v1_0", "seq2seq",
         lambda: tf.T5Config(vocab_size=VOCAB, d_model=64, d_kv=16, d_ff=96, num_layers=2, num_heads=4,
                             relative_attention_num_buckets=8, relative_attention_max_distance=20,
                             feed_forward_proj="relu", tie_word_embeddings=True, initializer_factor=1.0,
                             decoder_start_token_id=0, pad_token_id=0, eos_token_id=1),
         tf.T5ForConditionalGeneration),
    # T5 v1.1 / Flan-T5: gated GELU, no output rescaling (transformers 5 writes it tied, with
    # scale_decoder_outputs false). More encoder than decoder layers (the other way round,
    # transformers 5.25's own generate fails with the KV cache: IndexError in cache_utils).
    Case("t5_v1_1", "seq2seq",
         lambda: tf.T5Config(vocab_size=VOCAB, d_model=64, d_kv=16, d_ff=96, num_layers=3, num_decoder_layers=2,
                             num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=20,
                             feed_forward_proj="gated-gelu", tie_word_embeddings=False, initializer_factor=1.0,
                             decoder_start_token_id=0, pad_token_id=0, eos_token_id=1),
         tf.T5ForConditionalGeneration),
]}


def save(model: torch.nn.Module, directory: Path, *, dtype: torch.dtype = torch.float32,
         sharded: bool = False) -> Path:
    """save_pretrained in `dtype`; sharded: shards of at most 40 kB (several files and an index)."""
    model = model.to(dtype)
    kwargs = {"max_shard_size": "40KB"} if sharded else {}
    model.save_pretrained(str(directory), **kwargs)
    model.to(torch.float32)
    return directory


def load(directory: Path, case: Case) -> torch.nn.Module:
    """transformers' own loading of a saved case, computing in float32 (eager attention)."""
    model = case.model_class.from_pretrained(str(directory), dtype=torch.float32, attn_implementation="eager")
    model.eval()
    return model


def inputs_for(case: Case, seed: int = 1) -> dict[str, torch.Tensor]:
    """Two rows, the second right-padded, ids clear of the special tokens."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (2, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    ids[1, 9:] = case.pad_id
    out = {"input_ids": ids, "attention_mask": mask}
    if case.kind == "seq2seq":
        decoder = torch.randint(3, VOCAB, (2, 7), generator=g)
        decoder[:, 0] = 0  # decoder_start_token_id
        out["decoder_input_ids"] = decoder
    return out


def hf_logits(model: torch.nn.Module, inputs: dict) -> torch.Tensor:
    """transformers' logits for `inputs` (eval mode, no gradients)."""
    model.eval()
    with torch.no_grad():
        return model(**inputs).logits


def comparable(case: Case, inputs: dict, logits: torch.Tensor) -> torch.Tensor:
    """Causal LMs: the logits of real tokens only (padding positions hold no meaningful values)."""
    return logits[inputs["attention_mask"].bool()] if case.kind == "causal" else logits
