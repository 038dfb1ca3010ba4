"""The tokens a training step learns from: our data pipeline (what the Trainer collates, dumped by
lorafa-reference-probe train) vs TRL's SFTTrainer with completion_only_loss, on the same records
and the same tokenizer. TRL's own preparation of the dataset (tokenize, completion_mask) and its
collator give the reference rows: their input ids must equal ours token for token, and the
positions their labels keep (not -100) must be the ones ours keep.

- Instruction data (our Alpaca format) vs TRL's prompt-completion text: the Stanford prompt (as
  llama-cookbook's wheel carries it) as the prompt, the output as the completion; TRL appends the
  EOS token and tokenizes prompt + completion as one text, with the tokenizer's special tokens.
- Chat data (one answer, with and without a system prompt) vs TRL's conversational
  prompt-completion, rendered by the model's own Jinja template (Llama 3's tokenizer_config.json):
  exactly the same tokens train.
- ChatML (Qwen2.5's template, which the guidance wheel carries): one documented difference. TRL's completion runs to the end of the
  rendered conversation, so it also trains on the newline after <|im_end|>; we stop at
  <|im_end|> (the newline belongs to the next turn's framing, and generation stops at
  <|im_end|>). Asserted as exactly that: TRL's positions are ours plus one newline token.
Tolerance: none (ids and positions identical)."""
from __future__ import annotations

import json
import logging
import unittest
from pathlib import Path

import torch
from datasets import Dataset
from safetensors.torch import load_file as load_safetensors
from transformers import AutoTokenizer
from trl import SFTConfig, SFTTrainer

import families
from reference import TempDirTestCase, probe, record
from test_templates import TOKENIZERS, alpaca_prompts, guidance_templates

INSTRUCTIONS = [
    {"instruction": "Give three tips for staying healthy.", "input": "", "output": "1. Eat well.\n2. Sleep.\n3. Move."},
    {"instruction": "Translate to French.", "input": "Good morning — how are you?", "output": "Bonjour — comment ça va ?"},
    {"instruction": "Name a colour.", "input": "", "output": "Blue"},
]
CHATS = [
    [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris."}],
    [{"role": "system", "content": "You answer in one word."}, {"role": "user", "content": "Name a primary colour."},
     {"role": "assistant", "content": "Red"}],
    [{"role": "user", "content": "Hi!\nCan you count to three?"}, {"role": "assistant", "content": "One, two, three. ✨"}],
]
MAX_LENGTH = 512


class SftLabelsAgreeWithTrl(TempDirTestCase):
    def model_dir(self, tokenizer_dir: Path) -> Path:
        """A tiny Llama over the tokenizer's whole vocabulary, with its files beside it."""
        vocab = len(AutoTokenizer.from_pretrained(str(tokenizer_dir)))
        case = families.CASES["llama_tied_llama3rope"]
        folder = families.save(case.build(vocab=vocab), self.tmp / f"model{len(list(self.tmp.iterdir()))}")
        for name in ("tokenizer.json", "tokenizer_config.json"):
            (folder / name).write_bytes((tokenizer_dir / name).read_bytes())
        return folder

    def our_rows(self, model_dir: Path, records: list[dict], data_format: str,
                 template: str = "auto") -> list[tuple[list[int], list[int]]]:
        """(input ids, positions whose label is kept) of every training row our Trainer collates."""
        data = self.tmp / "data.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        config = {"model": str(model_dir), "output_dir": str(self.tmp / "run"), "method": "lora-fa",
                  "dataset": {"path": str(data), "format": data_format, "validation_fraction": 0.0,
                              "template": template},
                  "adapter": {"rank": 2, "alpha": 4, "targets": "q_proj"},
                  "train": {"batch_size": len(records), "max_seq_len": MAX_LENGTH, "max_steps": 1, "seed": 1,
                            "device": "cpu", "save_every": 0},
                  "eval": {"generate_max_examples": 0}}
        path = self.tmp / "run.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        probe("train", path, self.tmp / "out.safetensors", 1)
        batch = load_safetensors(str(self.tmp / "out.safetensors"))
        rows = []
        for ids, mask, labels in zip(batch["batch.input_ids"], batch["batch.attention_mask"], batch["batch.labels"]):
            keep = mask.bool()
            rows.append((ids[keep].tolist(), torch.nonzero((labels != -100) & keep).flatten().tolist()))
        return rows

    def trl_rows(self, model_dir: Path, tokenizer_dir: Path, records: list[dict]) -> list[tuple[list[int], list[int]]]:
        """The same through TRL: SFTTrainer prepares the dataset, its collator makes the labels."""
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = families.load(model_dir, families.CASES["llama_tied_llama3rope"])
        args = SFTConfig(output_dir=str(self.tmp / "trl"), completion_only_loss=True, max_length=MAX_LENGTH,
                         packing=False, report_to="none", use_cpu=True, dataset_num_proc=None)
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(records), processing_class=tokenizer)
        rows = []
        for example in trainer.train_dataset:
            collated = trainer.data_collator([example])
            ids, labels = collated["input_ids"][0], collated["labels"][0]
            rows.append((ids.tolist(), torch.nonzero(labels != -100).flatten().tolist()))
        return rows

    def compare(self, what: str, ours: list, theirs: list, extra_trl_token: int | None = None):
        self.assertEqual(len(ours), len(theirs), f"{what}: {len(ours)} rows of ours, {len(theirs)} of TRL's")
        by_ids = {tuple(ids): kept for ids, kept in ours}
        differing = 0
        for ids, kept in theirs:
            self.assertIn(tuple(ids), by_ids, f"{what}: TRL's row {ids} is none of ours:\n"
                          + "\n".join(str(i) for i, _ in ours))
            expected = kept
            if extra_trl_token is not None:
                # TRL's completion runs through the newline after the end-of-turn marker.
                self.assertEqual(ids[kept[-1]], extra_trl_token, f"{what}: TRL's last trained token")
                expected = kept[:-1]
            differing += by_ids[tuple(ids)] != expected
            self.assertEqual(by_ids[tuple(ids)], expected, f"{what}: trained positions of row {ids}")
        record("SFT labels vs TRL", what, float(differing), 0.0, "rows whose trained tokens differ")

    def test_instruction_records(self):
        prompts = alpaca_prompts()
        if prompts is None:
            self.skipTest("the llama-cookbook wheel is not present: run packaging/fetch-test-assets.sh")
        folders = [TOKENIZERS / "mistral", TOKENIZERS / "pypi" / "llama3"]
        for folder in folders:
            if not (folder / "tokenizer.json").exists():
                print(f"not present, run packaging/fetch-test-assets.sh: {folder}")
                continue
            with self.subTest(tokenizer=folder.name):
                tokenizer_dir = self.tokenizer_folder(folder, None)
                model_dir = self.model_dir(tokenizer_dir)
                trl_records = [{"prompt": prompts["prompt_input" if r["input"] else "prompt_no_input"].format_map(r),
                                "completion": r["output"]} for r in INSTRUCTIONS]
                # Named: with a tokenizer that has a chat template (Llama 3's) the engine would
                # otherwise write instruction records in that template.
                self.compare(f"Alpaca records, {folder.name} tokenizer",
                             self.our_rows(model_dir, INSTRUCTIONS, "alpaca", template="alpaca"),
                             self.trl_rows(model_dir, tokenizer_dir, trl_records))

    def test_chat_records(self):
        g = guidance_templates()
        # Not Mistral's: transformers 5 rebuilds a legacy Llama/Mistral tokenizer's pre-tokenization
        # (README, "What these tests found"), so TRL's ids of "<s> [INST]" differ from the
        # tokenizer.json's own (ours, `tokenizers`, llama.cpp) before any label is compared.
        cases = [("Llama 3 (its tokenizer_config.json)", TOKENIZERS / "pypi" / "llama3", None, None),
                 ("Qwen2.5 ChatML (guidance)", TOKENIZERS / "qwen3", g.get("qwen2dot5_template"), "\n")]
        for label, folder, template, extra in cases:
            if not (folder / "tokenizer_config.json").exists() or (folder.name != "llama3" and template is None):
                print(f"not present, run packaging/fetch-test-assets.sh: {label}")
                continue
            with self.subTest(template=label):
                tokenizer_dir = self.tokenizer_folder(folder, template)
                model_dir = self.model_dir(tokenizer_dir)
                extra_token = None
                if extra is not None:
                    encoded = AutoTokenizer.from_pretrained(str(tokenizer_dir)).encode(extra, add_special_tokens=False)
                    self.assertEqual(len(encoded), 1, f"{label}: {extra!r} is not one token")
                    extra_token = encoded[0]
                trl_records = [{"prompt": c[:-1], "completion": c[-1:]} for c in CHATS]
                self.compare(f"chat records, {label}", self.our_rows(model_dir, [{"messages": c} for c in CHATS], "chat"),
                             self.trl_rows(model_dir, tokenizer_dir, trl_records), extra_token)


if __name__ == "__main__":
    logging.getLogger("transformers").setLevel(logging.ERROR)
    unittest.main()
