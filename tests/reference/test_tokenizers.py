"""Tokenizers: the `tokenizers` package (Hugging Face's Rust core) and our engine (`lorafa tokenize`)
encode and decode every committed tokenizer the same way, live, on the 341 texts of
tests/fixtures/tokenizers/generate_reference.py plus 200 seeded random texts that no committed
expectation holds. Exact: the same ids with and without special tokens, the same decoded text with
and without skipping special tokens."""
from __future__ import annotations

import json
import sys
import unittest
from pathlib import Path

from tokenizers import Tokenizer

from reference import DEMO_MODEL, SOURCE, TempDirTestCase, lorafa, record

FIXTURES = SOURCE / "tests" / "fixtures" / "tokenizers"
sys.path.insert(0, str(FIXTURES))
import generate_reference as committed  # noqa: E402  (the committed text set and its generator)

TOKENIZERS = {
    "bert (WordPiece)": FIXTURES / "bert" / "tokenizer.json",
    "gpt2 (byte-level BPE)": FIXTURES / "gpt2" / "tokenizer.json",
    "mistral (SentencePiece BPE, byte fallback)": FIXTURES / "mistral" / "tokenizer.json",
    "qwen3 (byte-level BPE, NFC)": FIXTURES / "qwen3" / "tokenizer.json",
    "llama3 (byte-level BPE, ignore_merges)": FIXTURES / "pypi" / "llama3" / "tokenizer.json",
    "demo model (trained by lorafa tokenizer-train)": DEMO_MODEL / "tokenizer.json",
}


def fresh_random_texts(count: int = 200, seed: int = 20261207) -> list[str]:
    """Random mixtures of the committed generator's ingredients under another seed."""
    random = committed.mulberry32(seed)
    texts = []
    for _ in range(count):
        text = ""
        for _ in range(int(random() * 60)):
            if random() < 0.25:
                text += committed.WORDS[int(random() * len(committed.WORDS))]
            else:
                pool = list(committed.POOLS[int(random() * len(committed.POOLS))])
                text += pool[int(random() * len(pool))]
        texts.append(text)
    return texts


TEXTS = committed.TEXTS + fresh_random_texts()


def first_difference(ours: list, theirs: list, texts: list[str], what: str) -> str | None:
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            return f"{what}: text #{i} {texts[i]!r}\n  ours:      {a!r}\n  reference: {b!r}"
    if len(ours) != len(theirs):
        return f"{what}: {len(ours)} results for {len(theirs)} texts"
    return None


class TokenizersPackageAgrees(TempDirTestCase):
    def test_encode_and_decode_every_committed_tokenizer(self):
        self.assertEqual(len(committed.TEXTS), 341)
        missing = []
        for name, path in TOKENIZERS.items():
            if not path.exists():
                missing.append(f"{name}: {path}")
                continue
            with self.subTest(tokenizer=name):
                reference = Tokenizer.from_file(str(path))
                inputs = self.tmp / "texts.jsonl"
                inputs.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), encoding="utf-8")
                problems = []
                for special in (True, False):
                    args = ["tokenize", "--tokenizer", path, "--input", inputs] + ([] if special else ["--no-special"])
                    ours = [[int(i) for i in line.split()] for line in lorafa(*args).split("\n")[:len(TEXTS)]]
                    theirs = [reference.encode(t, add_special_tokens=special).ids for t in TEXTS]
                    problem = first_difference(ours, theirs, TEXTS, f"{name}: ids{'' if special else ' without special tokens'}")
                    if problem:
                        problems.append(problem)
                    record("tokenizer encode", f"{name}{'' if special else ', no special tokens'}",
                           float(sum(a != b for a, b in zip(ours, theirs))), 0.0, "texts differing")
                    if not special:
                        continue
                    ids_file = self.tmp / "ids.jsonl"
                    ids_file.write_text("".join(json.dumps({"ids": ids}) + "\n" for ids in theirs), encoding="utf-8")
                    for skip in (False, True):
                        out = lorafa("tokenize", "--tokenizer", path, "--decode", "--input", ids_file,
                                     *(["--no-special"] if skip else []))
                        decoded = [json.loads(line)["text"] for line in out.split("\n") if line]  # not splitlines(): U+2028 is text
                        expected = [reference.decode(ids, skip_special_tokens=skip) for ids in theirs]
                        problem = first_difference(decoded, expected, TEXTS,
                                                   f"{name}: decode{' skipping special tokens' if skip else ''}")
                        if problem:
                            problems.append(problem)
                        record("tokenizer decode", f"{name}{', skipping special tokens' if skip else ''}",
                               float(sum(a != b for a, b in zip(decoded, expected))), 0.0, "texts differing")
                self.assertFalse(problems, "\n".join(problems))
        if missing:
            # Llama 3's tokenizer is built at test time (packaging/fetch-test-assets.sh), never committed.
            print("not present, run packaging/fetch-test-assets.sh: " + "; ".join(missing), file=sys.stderr)
            self.assertEqual([m for m in missing if "llama3" not in m], [], "committed tokenizers missing")


if __name__ == "__main__":
    unittest.main()
