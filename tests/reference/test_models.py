"""Models: checkpoints that transformers writes load into our engine and give transformers' logits
(float32, within 1e-4 of the logit scale) and the same greedy tokens, with and without the KV
cache. Every family (families.CASES), each saved as float32 in one file and as bfloat16 in
shards (so both dtypes and both layouts are read)."""
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


if __name__ == "__main__":
    unittest.main()
