"""Models: checkpoints that transformers writes load into our engine and give transformers' logits
(float32, within 1e-4 of the logit scale) and the same greedy tokens, with and without the KV
cache. Every family (families.CASES), each saved as float32 in one file and as bfloat16 in
shards (so both dtypes and both layouts are read); Gemma 3, Phi-4-mini and Qwen3 also with their
config.json in the layout transformers 4 wrote (most checkpoints on the Hub)."""
from __future__ import annotations

import json
import unittest

import torch

import families
from reference import TempDirTestCase, assert_close, assert_same_tokens, our_logits, probe

LOGIT_TOLERANCE = 1e-4  # max|ours - transformers| / max|transformers|, float32
PROMPT_LENGTH = 6
NEW_TOKENS = 12


class ModelLogits(TempDirTestCase):
    def check_case(self, case: families.Case, dtype: torch.dtype, sharded: bool) -> None:
        variant = f"{case.name} {str(dtype).removeprefix('torch.')}{' sharded' if sharded else ''}"
        folder = families.save(case.build(), self.tmp / variant.replace(" ", "_"), dtype=dtype, sharded=sharded)
        if sharded:
            self.assertTrue((folder / "model.safetensors.index.json").exists(), f"{variant}: not sharded")
        reference = families.load(folder, case)
        inputs = families.inputs_for(case)
        theirs = families.hf_logits(reference, inputs)
        ours = our_logits(self.tmp, folder, inputs)
        assert_close(families.comparable(case, inputs, ours), families.comparable(case, inputs, theirs),
                     what=f"{variant}: logits", check="logits", case=variant, rel_to_scale=LOGIT_TOLERANCE)

    def test_every_family_fp32_unsharded(self):
        for case in families.CASES.values():
            with self.subTest(case=case.name):
                self.check_case(case, torch.float32, sharded=False)

    def test_every_family_bf16_sharded(self):
        for case in families.CASES.values():
            with self.subTest(case=case.name):
                self.check_case(case, torch.bfloat16, sharded=True)

    def test_tied_and_untied_heads_are_both_covered(self):
        tied = {name: bool(getattr(c.make_config(), "tie_word_embeddings", False)) for name, c in families.CASES.items()
                if c.kind != "classifier"}
        self.assertTrue(any(tied.values()) and not all(tied.values()), tied)


class GreedyGeneration(TempDirTestCase):
    def reference_tokens(self, model, case: families.Case, prompt: list[int], use_cache: bool) -> list[int]:
        config = model.config
        with torch.no_grad():
            out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                                 max_new_tokens=NEW_TOKENS, do_sample=False, num_beams=1, use_cache=use_cache,
                                 eos_token_id=config.eos_token_id, pad_token_id=case.pad_id,
                                 min_new_tokens=0, repetition_penalty=1.0)
        tokens = out[0].tolist()
        # decoder-only: the prompt comes back first; T5: the decoder start token does.
        return tokens[len(prompt):] if case.kind == "causal" else tokens[1:]

    def test_every_generative_family_with_and_without_the_cache(self):
        for case in families.CASES.values():
            if case.kind == "classifier":
                continue
            with self.subTest(case=case.name):
                folder = families.save(case.build(), self.tmp / case.name)
                reference = families.load(folder, case)
                prompt = families.inputs_for(case)["input_ids"][0, :PROMPT_LENGTH].tolist()
                for use_cache in (True, False):
                    theirs = self.reference_tokens(reference, case, prompt, use_cache)
                    out = probe("generate", folder, ",".join(map(str, prompt)), str(NEW_TOKENS),
                                "cache" if use_cache else "no-cache")
                    ours = json.loads(out)["tokens"]
                    label = f"{case.name} {'with' if use_cache else 'without'} the KV cache"
                    assert_same_tokens(ours, theirs, what=f"{label}: greedy tokens", check="greedy generation",
                                       case=label)


# Checkpoints on the Hub were mostly written by transformers 4, whose config.json keys differ from
# what transformers 5 saves: transformers 5 converts them when it loads (rope_theta + rope_scaling
# into rope_parameters, Gemma 3's sliding_window_pattern into layer_types, rope_local_base_freq
# into the sliding layers' base). Each edit rewrites a saved case's config.json into that layout
# (the keys of gemma-3-1b-it's, Phi-4-mini's and Qwen3-0.6B's config.json on the Hub) with the
# same meaning; both sides load that file.
def _hub_layout_gemma3(config: dict) -> dict:
    rope = config.pop("rope_parameters")
    config.pop("layer_types")
    config["sliding_window_pattern"] = 2  # layers 0 and 2 slide, layer 1 is global: as the case
    config["rope_theta"] = rope["full_attention"]["rope_theta"]
    config["rope_scaling"] = {k: v for k, v in rope["full_attention"].items() if k != "rope_theta"}
    config["rope_local_base_freq"] = rope["sliding_attention"]["rope_theta"]
    return config


def _hub_layout_phi4(config: dict) -> dict:
    rope = config.pop("rope_parameters")
    config["rope_theta"] = rope["rope_theta"]
    config["rope_scaling"] = {"type": "longrope", "short_factor": rope["short_factor"],
                              "long_factor": rope["long_factor"]}
    config["original_max_position_embeddings"] = rope["original_max_position_embeddings"]
    return config


def _hub_layout_qwen3(config: dict) -> dict:
    rope = config.pop("rope_parameters")
    config.pop("layer_types")
    config.update(rope_theta=rope["rope_theta"], rope_scaling=None, use_sliding_window=False,
                  sliding_window=32768, max_window_layers=1)
    return config


HUB_LAYOUTS = [("gemma3_text", _hub_layout_gemma3), ("phi4_mini", _hub_layout_phi4), ("qwen3", _hub_layout_qwen3)]


class HubConfigLayouts(TempDirTestCase):
    def test_transformers_4_config_keys_give_transformers_logits(self):
        for name, edit in HUB_LAYOUTS:
            case = families.CASES[name]
            with self.subTest(case=name):
                folder = families.save(case.build(), self.tmp / f"{name}_hub")
                path = folder / "config.json"
                path.write_text(json.dumps(edit(json.loads(path.read_text())), indent=2))
                reference = families.load(folder, case)
                inputs = families.inputs_for(case)
                theirs = families.hf_logits(reference, inputs)
                # The edit must not change the model: transformers gives the case's own logits.
                original = families.hf_logits(case.build(), inputs)
                assert_close(families.comparable(case, inputs, theirs), families.comparable(case, inputs, original),
                             what=f"{name}: transformers on the Hub layout vs the saved layout", check="logits",
                             case=name, rel_to_scale=1e-6)
                ours = our_logits(self.tmp, folder, inputs)
                assert_close(families.comparable(case, inputs, ours), families.comparable(case, inputs, theirs),
                             what=f"{name} (Hub config layout): logits", check="logits", case=f"{name} hub layout",
                             rel_to_scale=LOGIT_TOLERANCE)


if __name__ == "__main__":
    unittest.main()
