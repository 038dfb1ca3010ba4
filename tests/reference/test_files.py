"""Files: what we write loads in Hugging Face's libraries with our numbers, and what PEFT writes
loads in ours with PEFT's numbers.

- Our PEFT adapter (lorafa export --adapter), loaded by peft.PeftModel.from_pretrained on the
  transformers base, gives the logits our engine gives with the same adapter; our merged
  checkpoint (lorafa export --merged), loaded by transformers' Auto class, gives them too.
  Every family: Llama (LoRA-FA, LoRA, and full fine-tuning, whose merged checkpoint is the only
  export), Qwen2, Qwen3 (also with YaRN), Mistral, Gemma 3 (LoRA-FA and full), Phi-3 (adapters on
  the fused qkv_proj and gate_up_proj), Phi-4-mini, SmolLM3, GPT-2 (Conv1D layers: fan_in_fan_out), the Llama,
  Qwen3, BERT and RoBERTa sequence classifiers (head in modules_to_save) and T5; merged
  checkpoints in one file and sharded (model.safetensors.index.json, --shard-size).
- An adapter saved by PEFT (several target sets, GPT-2's fan_in_fan_out, a classifier head in
  modules_to_save, T5, Qwen3, Gemma 3, Phi-3's fused projections) imported by us, in memory (adapter application) and through
  `lorafa export --peft-adapter --merged`, gives PEFT's logits.
- safetensors opens every .safetensors file those runs and exports wrote.
Tolerance: logits within 1e-4 of the logit scale (float32)."""
from __future__ import annotations

import unittest
from pathlib import Path

import peft
import torch
from safetensors import safe_open

import families
from reference import DEMO_DATA, DEMO_MODEL, SOURCE, TempDirTestCase, assert_close, lorafa, our_logits, train_run

LOGIT_TOLERANCE = 1e-4
DEMO_VOCAB = 4096  # the demo tokenizer's vocabulary: runs tokenize with it


def check_every_safetensors_file(test: unittest.TestCase, *folders: Path, exported: bool) -> int:
    """Opens each .safetensors file below the folders with the safetensors package and reads every
    tensor; exports must also say format "pt" in __metadata__ (transformers refuses weights files
    that say otherwise). Returns how many files there were."""
    count = 0
    for folder in folders:
        for path in sorted(folder.rglob("*.safetensors")):
            with safe_open(str(path), framework="pt") as f:
                if exported:
                    test.assertEqual((f.metadata() or {}).get("format"), "pt", f"{path}: __metadata__ format")
                for key in f.keys():
                    tensor = f.get_tensor(key)
                    test.assertTrue(torch.isfinite(tensor.float()).all(), f"{path}: {key} is not finite")
            count += 1
    return count


TEXT = {"path": str(DEMO_DATA / "moby_dick_train.jsonl"), "format": "text"}
SPAM = {"path": str(DEMO_DATA / "spam_train.jsonl"), "format": "classification"}
PAIRS = {"path": str(SOURCE / "tests/fixtures/data/en_fr_pairs.tsv"), "format": "source-target",
         "source_column": "english", "target_column": "french"}

# (case, method, run configuration's dataset, targets, merged shard size or None): one training
# run each, every family; full fine-tuning exports only the merged checkpoint. A shard size makes
# the merged export several files and an index (the default, 5 GB, writes one).
EXPORT_RUNS = [
    ("llama", "lora-fa", TEXT, "all-linear", 300_000),
    ("llama", "lora", TEXT, "q_proj,v_proj", None),
    ("llama", "full", TEXT, None, 400_000),
    ("qwen2", "lora-fa", TEXT, "all-linear", None),
    ("mistral", "lora", TEXT, "q_proj,k_proj,v_proj,o_proj", None),
    ("gpt2", "lora-fa", TEXT, "c_attn,c_fc", None),
    ("llama_cls", "lora-fa", SPAM, "all-linear", None),
    ("bert_cls", "lora-fa", SPAM, "all-linear", None),
    ("roberta_cls", "lora", SPAM, "query,value", None),
    ("t5_v1_1", "lora-fa", PAIRS, "q,v,wo", None),
    ("qwen3", "lora-fa", TEXT, "all-linear", None),
    ("qwen3_cls", "lora", SPAM, "q_proj,v_proj", None),
    ("gemma3_text", "lora-fa", TEXT, "all-linear", None),
    ("gemma3_text", "full", TEXT, None, None),
    ("phi3", "lora-fa", TEXT, "qkv_proj,gate_up_proj", None),  # the fused projections, as PEFT names them
    ("phi4_mini", "lora", TEXT, "all-linear", None),
    ("smollm3", "lora-fa", TEXT, "all-linear", None),
    ("qwen3_yarn", "lora-fa", TEXT, "q_proj,v_proj", None),
]


class OurExportsLoadInHuggingFace(TempDirTestCase):
    def test_adapter_in_peft_and_merged_in_transformers_give_our_logits(self):
        files = 0
        for name, method, dataset, targets, shard_size in EXPORT_RUNS:
            case = families.CASES[name]
            label = f"{name} {method}"
            with self.subTest(case=label):
                work = self.tmp / label.replace(" ", "_")
                base_dir = work / "base"
                num_labels = 2 if case.kind == "classifier" else None
                families.save(case.build(vocab=DEMO_VOCAB, num_labels=num_labels), base_dir)
                for name_ in ("tokenizer.json", "tokenizer_config.json"):
                    (base_dir / name_).write_bytes((DEMO_MODEL / name_).read_bytes())
                config = {"name": label, "model": str(base_dir), "output_dir": str(work / "run"), "method": method,
                          "dataset": dict(dataset, validation_fraction=0.0),
                          "optim": {"lr": 0.05 if targets else 0.01, "schedule": "constant", "grad_clip": 0.0},
                          "train": {"batch_size": 2, "max_seq_len": 24, "seed": 3, "device": "cpu"},
                          "eval": {"generate_max_examples": 0}}
                if targets:
                    config["adapter"] = {"rank": 4, "alpha": 8, "targets": targets}
                store, run_id = train_run(work, config, steps=2)
                adapter_dir, merged_dir = work / "adapter", work / "merged"
                shards = ["--shard-size", shard_size] if shard_size else []
                lorafa("export", run_id, "--store", store, "--merged", merged_dir, *shards)
                if shard_size:
                    index = merged_dir / "model.safetensors.index.json"
                    self.assertTrue(index.exists(), f"{label}: no {index.name} for --shard-size {shard_size}")
                    self.assertGreater(len(list(merged_dir.glob("model-*-of-*.safetensors"))), 1,
                                       f"{label}: --shard-size {shard_size} wrote one shard")

                inputs = families.inputs_for(case)
                inputs["input_ids"] = inputs["input_ids"] * 41 % DEMO_VOCAB  # spread over the vocabulary
                if case.pad_id:
                    inputs["input_ids"][inputs["attention_mask"] == 0] = case.pad_id
                base_logits = families.hf_logits(families.load(base_dir, case), inputs)
                merged_logits = families.hf_logits(families.load(merged_dir, case), inputs)
                if targets:
                    lorafa("export", run_id, "--store", store, "--adapter", adapter_dir)
                    ours = our_logits(work, base_dir, inputs, "--adapter", adapter_dir, "--method", method)
                    with_adapter = peft.PeftModel.from_pretrained(families.load(base_dir, case), str(adapter_dir))
                    self.assertTrue(any(p.abs().sum() > 0 for n, p in with_adapter.named_parameters() if "lora_B" in n),
                                    f"{label}: the exported adapter's B is still zero; the test would prove nothing")
                    theirs = families.hf_logits(with_adapter, inputs)
                    assert_close(families.comparable(case, inputs, ours), families.comparable(case, inputs, theirs),
                                 what=f"{label}: our adapter in PEFT", check="our PEFT adapter in peft", case=label,
                                 rel_to_scale=LOGIT_TOLERANCE)
                else:
                    # Full fine-tuning has no adapter: our engine's logits of the exported model.
                    ours = our_logits(work, merged_dir, inputs)
                    theirs = merged_logits
                assert_close(families.comparable(case, inputs, ours), families.comparable(case, inputs, merged_logits),
                             what=f"{label}: our merged checkpoint in transformers",
                             check="our merged checkpoint in transformers", case=label,
                             rel_to_scale=LOGIT_TOLERANCE)
                self.assertFalse(torch.allclose(families.comparable(case, inputs, base_logits),
                                                families.comparable(case, inputs, theirs), rtol=0, atol=1e-6),
                                 f"{label}: training does not change the logits; the test would prove nothing")
                files += check_every_safetensors_file(self, work / "run", exported=False)  # checkpoints
                files += check_every_safetensors_file(self, *[d for d in (adapter_dir, merged_dir) if d.exists()],
                                                      exported=True)
        self.assertGreater(files, 20)


# (case, PEFT LoraConfig arguments): adapters PEFT writes, each imported by us.
PEFT_ADAPTERS = [
    ("llama", {"target_modules": ["q_proj", "v_proj"]}),
    ("llama", {"target_modules": "all-linear"}),
    ("llama", {"target_modules": r".*\.mlp\.(gate|up)_proj"}),
    ("qwen2", {"target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"], "use_rslora": True}),
    ("mistral", {"target_modules": ["down_proj"]}),
    ("gpt2", {"target_modules": ["c_attn", "c_proj"], "fan_in_fan_out": True}),
    ("bert_cls", {"target_modules": ["query", "value"], "task_type": "SEQ_CLS", "modules_to_save": ["classifier"]}),
    ("roberta_cls", {"target_modules": ["query", "value", "dense"], "task_type": "SEQ_CLS"}),
    ("t5_v1_0", {"target_modules": ["q", "v"], "task_type": "SEQ_2_SEQ_LM"}),
    ("qwen3", {"target_modules": ["q_proj", "k_proj", "down_proj"]}),
    ("gemma3_text", {"target_modules": "all-linear"}),
    ("phi3", {"target_modules": ["qkv_proj", "o_proj", "gate_up_proj"]}),
]


class PeftAdaptersLoadInOurEngine(TempDirTestCase):
    def test_peft_saved_adapters_give_peft_logits(self):
        for name, lora_args in PEFT_ADAPTERS:
            case = families.CASES[name]
            label = f"{name} {lora_args}"
            with self.subTest(case=label):
                work = self.tmp / f"peft_{len(list(self.tmp.iterdir()))}"
                base_dir = families.save(case.build(), work / "base")
                model = families.load(base_dir, case)
                args = dict(r=4, lora_alpha=8, lora_dropout=0.0, **lora_args)
                with_adapter = peft.get_peft_model(model, peft.LoraConfig(**args))
                torch.manual_seed(7)
                with torch.no_grad():  # B starts at zero: give it (and the head) values that matter
                    for n, p in with_adapter.named_parameters():
                        if "lora_B" in n or "modules_to_save" in n:
                            p.add_(torch.randn_like(p) * 0.3)
                adapter_dir = work / "adapter"
                with_adapter.save_pretrained(str(adapter_dir))
                inputs = families.inputs_for(case)
                theirs = families.hf_logits(with_adapter, inputs)
                ours = our_logits(work, base_dir, inputs, "--adapter", adapter_dir)
                assert_close(families.comparable(case, inputs, ours), families.comparable(case, inputs, theirs),
                             what=f"{label}: PEFT's adapter applied by us", check="PEFT adapter applied by us",
                             case=label, rel_to_scale=LOGIT_TOLERANCE)
                merged_dir = work / "merged"
                lorafa("export", "--peft-adapter", adapter_dir, "--base", base_dir, "--merged", merged_dir)
                merged = our_logits(work, merged_dir, inputs)
                assert_close(families.comparable(case, inputs, merged), families.comparable(case, inputs, theirs),
                             what=f"{label}: PEFT's adapter merged by lorafa export", check="PEFT adapter merged by us",
                             case=label, rel_to_scale=LOGIT_TOLERANCE)
                check_every_safetensors_file(self, merged_dir, exported=True)


if __name__ == "__main__":
    unittest.main()
