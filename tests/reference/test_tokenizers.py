"""Tokenizers: the `tokenizers` package (Hugging Face's Rust core) and our engine (`lorafa tokenize`)
encode and decode every committed tokenizer the same way, live, on the 341 texts of
tests/fixtures/tokenizers/generate_reference.py plus 200 seeded random texts that no committed
expectation holds; and the 37 variants that script makes (Metaspace Mistral, 28 edits of GPT-2's and
BERT's files, 8 of the Unigram fixtures'). Exact: the same ids with and without special tokens, the
same decoded text with and without skipping special tokens."""
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
    "unigram-t5 (SentencePiece Unigram, nmt_nfkc Precompiled)": FIXTURES / "unigram-t5" / "tokenizer.json",
    "unigram-byte-fallback (Unigram, nfkc Precompiled, byte fallback)":
        FIXTURES / "unigram-byte-fallback" / "tokenizer.json",
    "unigram-identity (Unigram, ALBERT layout)": FIXTURES / "unigram-identity" / "tokenizer.json",
    "llama3 (byte-level BPE, ignore_merges)": FIXTURES / "pypi" / "llama3" / "tokenizer.json",
    "demo model (trained by lorafa tokenizer-train)": DEMO_MODEL / "tokenizer.json",
}
# Small tokenizers with the pipelines of Gemma 3 and Phi-4-mini (their make_tokenizer.py).
TOKENIZERS.update({
    "gemma3 (SentencePiece BPE converted by transformers, byte fallback)": FIXTURES / "gemma3" / "tokenizer.json",
    "phi4-mini (byte-level BPE, o200k split pattern)": FIXTURES / "phi4-mini" / "tokenizer.json",
})


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
    def compare(self, name: str, path: Path, texts: list[str]) -> list[str]:
        """Both implementations on `texts`; returns the problems found (empty: identical)."""
        reference = Tokenizer.from_file(str(path))
        inputs = self.tmp / "texts.jsonl"
        inputs.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
        problems = []
        for special in (True, False):
            args = ["tokenize", "--tokenizer", path, "--input", inputs] + ([] if special else ["--no-special"])
            ours = [[int(i) for i in line.split()] for line in lorafa(*args).split("\n")[:len(texts)]]
            theirs = [reference.encode(t, add_special_tokens=special).ids for t in texts]
            problem = first_difference(ours, theirs, texts, f"{name}: ids{'' if special else ' without special tokens'}")
            if problem:
                problems.append(problem)
            record("tokenizer encode", f"{name}{'' if special else ', no special tokens'}",
                   float(sum(a != b for a, b in zip(ours, theirs))), 0.0, "texts differing")
            if not special:
                continue
            # A post-processor may name ids the vocabulary lacks (variant bert-processing puts BERT's
            # [CLS]/[SEP] ids on GPT-2's vocabulary): `tokenizers` decodes them as nothing, lorafa
            # tokenize --decode refuses them with file:line (input checking, by design). Only
            # in-vocabulary sequences are decoded.
            size = reference.get_vocab_size(with_added_tokens=True)
            kept = [i for i, ids in enumerate(theirs) if all(0 <= t < size for t in ids)]
            if len(kept) < len(theirs):
                print(f"{name}: {len(theirs) - len(kept)} of {len(theirs)} id sequences hold ids outside the "
                      f"vocabulary ({size}); not decoded", file=sys.stderr)
            texts, theirs = [texts[i] for i in kept], [theirs[i] for i in kept]
            ids_file = self.tmp / "ids.jsonl"
            ids_file.write_text("".join(json.dumps({"ids": ids}) + "\n" for ids in theirs), encoding="utf-8")
            for skip in (False, True):
                out = lorafa("tokenize", "--tokenizer", path, "--decode", "--input", ids_file,
                             *(["--no-special"] if skip else []))
                decoded = [json.loads(line)["text"] for line in out.split("\n") if line]  # not splitlines(): U+2028 is text
                expected = [reference.decode(ids, skip_special_tokens=skip) for ids in theirs]
                problem = first_difference(decoded, expected, texts, f"{name}: decode{' skipping special tokens' if skip else ''}")
                if problem:
                    problems.append(problem)
                record("tokenizer decode", f"{name}{', skipping special tokens' if skip else ''}",
                       float(sum(a != b for a, b in zip(decoded, expected))), 0.0, "texts differing")
        return problems

    def test_encode_and_decode_every_committed_tokenizer(self):
        self.assertEqual(len(committed.TEXTS), 341)
        missing = []
        for name, path in TOKENIZERS.items():
            if not path.exists():
                missing.append(f"{name}: {path}")
                continue
            with self.subTest(tokenizer=name):
                problems = self.compare(name, path, TEXTS)
                self.assertFalse(problems, "\n".join(problems))
        if missing:
            # Llama 3's tokenizer is built at test time (packaging/fetch-test-assets.sh), never committed.
            print("not present, run packaging/fetch-test-assets.sh: " + "; ".join(missing), file=sys.stderr)
            self.assertEqual([m for m in missing if "llama3" not in m], [], "committed tokenizers missing")

    def test_every_variant_of_the_fixture_generator(self):
        """The Metaspace Mistral, the 28 edits of GPT-2's and BERT's files (one per normalizer,
        pre-tokenizer, post-processor and added-token option) and the 8 of the Unigram fixtures that
        tests/fixtures/tokenizers/generate_reference.py makes, on its variant texts plus 60 fresh
        random ones."""
        texts = committed.HAND_PICKED + committed.RANDOM_TEXTS[:100] + fresh_random_texts(60, seed=7)
        variants = [("mistral-metaspace", committed.metaspace_variant(
            (FIXTURES / "mistral" / "tokenizer.json").read_text(encoding="utf-8")))]
        for name, base, edit in committed.VARIANTS:
            tokenizer_json = json.loads((FIXTURES / base / "tokenizer.json").read_text(encoding="utf-8"))
            tokenizer_json.update(edit)
            variants.append((name, json.dumps(tokenizer_json)))
        precompiled = committed.t5_precompiled()
        for name, base, edit in committed.UNIGRAM_VARIANTS:
            tokenizer_json = json.loads((FIXTURES / base / "tokenizer.json").read_text(encoding="utf-8"))
            tokenizer_json.update(committed.resolve(edit, precompiled))
            variants.append((name, json.dumps(tokenizer_json)))
        self.assertGreaterEqual(len(variants), 37)
        for name, text in variants:
            with self.subTest(variant=name):
                path = self.tmp / f"{name}.json"
                path.write_text(text, encoding="utf-8")
                problems = self.compare(f"variant {name}", path, texts)
                self.assertFalse(problems, "\n".join(problems))


if __name__ == "__main__":
    unittest.main()
