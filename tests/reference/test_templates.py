"""Chat templates: transformers' apply_chat_template, running each model's own Jinja template, and our
engine (which recognises the template and writes it itself, lorafa-reference-probe chat) give the
same text, character for character, and the same trained spans, for single- and multi-turn
conversations with and without a system prompt, and the same generation prompt (where the template
defines one: the bare ChatML and Mistral templates have none).

The Jinja sources: Qwen3's from its committed tokenizer_config.json; Llama 3's from the one
packaging/fetch-test-assets.sh builds; ChatML, Qwen2.5 (both variants), Mistral-7B-Instruct,
Llama 3, Llama 3.2, Gemma 2 (gemma-2-9b-it), Phi-3-mini, Phi-3-small, Phi-3-medium and Phi-4-mini
as the `guidance` wheel carries them verbatim; Gemma 3 and Gemma 3n as the `unsloth` wheel carries
them (printed from their tokenizers); both wheels read from where that script downloads them, never
installed. Llama 3.1's (meta-llama/Llama-3.1-8B-Instruct's, also Llama 3.3's) as TRL, installed
for test_sft_labels.py, keeps it in trl/chat_templates/llama3_1.jinja (read, trl never imported).
The Llama 3.1+ templates write a "Today Date": both sides get the same fixed date
(apply_chat_template's date_string, the probe's --date), and without one the date each template
writes by itself (3.2's today's through transformers' strftime_now, 3.1's "26 Jul 2024"). The Gemma templates run with the committed gemma3 tokenizer (<bos>/<eos>), the Phi ones
with the committed phi4-mini tokenizer (<|endoftext|>, as Phi-3-mini and Phi-4-mini have it): the
text a template writes does not depend on the vocabulary.

The trained spans of the reference are found in its text: for each assistant message, its content
as the template writes it, through the end-of-turn marker that follows (<|im_end|>, <|eot_id|>,
the EOS token), searched from the end of the previous one.

Formats no Jinja template on this machine defines have their own references:
- Mistral V1, V3 and Tekken: Mistral's `mistral-common` library (its instruct tokenizers, with the
  tokenizer models its wheel ships), in fine-tuning mode; its tokens, written out one by one
  (special tokens by name), are the text.
- Alpaca: the Stanford Alpaca prompts as Meta's `llama-cookbook` wheel carries them (PROMPT_DICT
  of llama_cookbook/datasets/alpaca_dataset.py, read from the wheel packaging/fetch-test-assets.sh
  downloads, never installed): prompt + output + EOS, the loss on output + EOS.
- Plain (our own format: each prompt message and a newline, then the response and EOS) has no
  outside definition; tests/engine/data covers it."""
from __future__ import annotations

import ast
import importlib.util
import json
import time
import re
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

# The "Today Date" both sides give the Llama 3.1+ templates (not today's, so that a wrong default
# cannot pass).
DATE = "07 Dec 2026"

# For the Gemma, Phi and Llama 3.1+ templates: Gemma's trims each message (but not the system text
# it puts before the first user message), Llama 3.1's each message and the system text of its
# header, Phi's write it as it is.
WHITESPACE_CONVERSATIONS = {
    "whitespace around the contents": [
        {"role": "system", "content": " Answer politely. \n"},
        {"role": "user", "content": "  Hi there!\n"},
        {"role": "assistant", "content": "\n Hello. \t"},
        {"role": "user", "content": "\tBye "},
        {"role": "assistant", "content": "Goodbye!\n\n"},
    ],
}


def guidance_templates() -> dict[str, str]:
    """The *_template string constants of guidance/chat.py in the downloaded wheel."""
    return wheel_templates("guidance-*.whl", "guidance/chat.py")


def unsloth_templates() -> dict[str, str]:
    """The *_template string constants of unsloth/chat_templates.py in the downloaded wheel (Gemma
    3's and Gemma 3n's, printed from their tokenizers)."""
    return wheel_templates("unsloth-*.whl", "unsloth/chat_templates.py")


def trl_templates() -> dict[str, str]:
    """The chat_templates/*.jinja files of the installed trl package, by file stem, read (trl is
    found, not imported)."""
    spec = importlib.util.find_spec("trl")
    if spec is None or spec.origin is None:
        return {}
    folder = Path(spec.origin).parent / "chat_templates"
    return {f.stem: f.read_text(encoding="utf-8") for f in sorted(folder.glob("*.jinja"))}


def wheel_templates(pattern: str, member: str) -> dict[str, str]:
    """The *_template string constants of the Python file `member` of the newest downloaded wheel
    matching `pattern`, read (never imported)."""
    wheels = sorted(WHEELS.glob(pattern))
    if not wheels:
        return {}
    with zipfile.ZipFile(wheels[-1]) as wheel:
        source = wheel.read(member).decode("utf-8")
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
    g.update({"unsloth " + name: text for name, text in unsloth_templates().items()})
    g.update({"trl " + name: text for name, text in trl_templates().items()})
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
        ("Llama 3.2 (guidance llama3dot2_template)", llama3, "llama3dot2_template", "<|eot_id|>", "llama3.1"),
        ("Llama 3.1 (trl llama3_1.jinja)", llama3, "trl llama3_1", "<|eot_id|>", "llama3.1"),
        ("Gemma 3 (unsloth gemma3_template)", TOKENIZERS / "gemma3", "unsloth gemma3_template", "<end_of_turn>",
         "gemma"),
        ("Gemma 3n (unsloth gemma3n_template)", TOKENIZERS / "gemma3", "unsloth gemma3n_template", "<end_of_turn>",
         "gemma"),
        ("Gemma 2 (guidance gemma2_9b_it_template)", TOKENIZERS / "gemma3", "gemma2_9b_it_template", "<end_of_turn>",
         "gemma"),
        ("Phi-3-mini (guidance phi3_mini_template)", TOKENIZERS / "phi4-mini", "phi3_mini_template", "<|end|>", "phi3"),
        ("Phi-4-mini (guidance phi_4_mini_template)", TOKENIZERS / "phi4-mini", "phi_4_mini_template", "<|end|>",
         "phi4-mini"),
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
        content = m["content"].strip() if kind in ("llama3", "llama3.1", "gemma") else m["content"]
        # Mistral's V1 and V3 write an assistant message as ' ' + content + eos_token: the space is
        # part of it (and of its first token, "▁Paris"); Tekken writes none.
        if kind in ("mistral-v1", "mistral-v3"):
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
    def test_every_template_gives_transformers_text_and_spans(self):
        cases, missing = template_cases()
        for label, folder, template, marker, kind in cases:
            tokenizer_dir = self.tokenizer_folder(folder, template)
            reference = AutoTokenizer.from_pretrained(str(tokenizer_dir))
            conversations = dict(CONVERSATIONS)
            if kind in ("gemma", "phi3", "phi4-mini", "llama3.1"):
                conversations.update(WHITESPACE_CONVERSATIONS)
            # Llama 3.1+: the same fixed "Today Date" on both sides.
            date = ["--date", DATE] if kind == "llama3.1" else []
            for name, messages in conversations.items():
                with self.subTest(template=label, conversation=name):
                    conversation = self.tmp / "conversation.json"
                    for generation_prompt in (False, True):
                        msgs = messages[:-1] if generation_prompt else messages
                        conversation.write_text(json.dumps(msgs), encoding="utf-8")
                        ours = json.loads(probe("chat", tokenizer_dir, conversation, *date,
                                                *(["--generation-prompt"] if generation_prompt else [])))
                        self.assertEqual(ours["template"], kind, f"{label}: recognised as {ours['template']}")
                        if generation_prompt and "add_generation_prompt" not in reference.chat_template:
                            continue  # this template defines no generation prompt to compare with
                        if msgs[0]["role"] == "system" and "System role not supported" in reference.chat_template:
                            # Gemma 2's template rejects a system message (the engine writes it as
                            # Gemma 3's does, and says so in its note): check that it does.
                            with self.assertRaisesRegex(Exception, "System role not supported"):
                                reference.apply_chat_template(msgs, tokenize=False)
                            self.assertIn("rejects system messages", ours["note"])
                            continue
                        theirs = reference.apply_chat_template(msgs, tokenize=False,
                                                               add_generation_prompt=generation_prompt,
                                                               enable_thinking=False,
                                                               **({"date_string": DATE} if date else {}))
                        what = f"{label}, {name}{', generation prompt' if generation_prompt else ''}"
                        record("chat template text", what, 0.0 if ours["text"] == theirs else 1.0, 0.0,
                               "texts differing (0: identical)")
                        self.assertEqual(ours["text"], theirs, f"{what}: {text_difference(ours['text'], theirs)}")
                        expected = byte_offsets(theirs, reference_spans(theirs, msgs, marker, kind))
                        self.assertEqual(ours["spans"], expected, f"{what}: trained spans (byte offsets)")
        if missing:
            print("not present, run packaging/fetch-test-assets.sh: " + "; ".join(missing), file=sys.stderr)


class Llama31TemplatesWriteTheirOwnDate(TempDirTestCase):
    """Without a date_string, Llama 3.2's template writes today's date (transformers' strftime_now,
    "%d %b %Y", local time) and Llama 3.1's "26 Jul 2024"; the engine, given no --date, writes the
    same (the date it takes from the 3.1 template, today's for 3.2)."""

    def test_default_dates(self):
        g = guidance_templates()
        g.update({"trl " + name: text for name, text in trl_templates().items()})
        folder = TOKENIZERS / "pypi" / "llama3"
        cases = [(label, g[name]) for label, name in (("Llama 3.2 (guidance llama3dot2_template)", "llama3dot2_template"),
                                                      ("Llama 3.1 (trl llama3_1.jinja)", "trl llama3_1"))
                 if name in g]
        if not cases or not (folder / "tokenizer.json").exists():
            self.skipTest("Llama 3's tokenizer or the Llama 3.1+ templates are not present: run "
                          "packaging/fetch-test-assets.sh")
        messages = CONVERSATIONS["single turn with a system prompt"]
        for label, template in cases:
            tokenizer_dir = self.tokenizer_folder(folder, template)
            reference = AutoTokenizer.from_pretrained(str(tokenizer_dir))
            for generation_prompt in (False, True):
                with self.subTest(template=label, generation_prompt=generation_prompt):
                    msgs = messages[:-1] if generation_prompt else messages
                    conversation = self.tmp / "conversation.json"
                    conversation.write_text(json.dumps(msgs), encoding="utf-8")
                    # Both sides in the same day: again if midnight passed in between.
                    for _ in range(2):
                        day = time.strftime("%d %b %Y")
                        ours = json.loads(probe("chat", tokenizer_dir, conversation,
                                                *(["--generation-prompt"] if generation_prompt else [])))
                        theirs = reference.apply_chat_template(msgs, tokenize=False,
                                                               add_generation_prompt=generation_prompt)
                        if time.strftime("%d %b %Y") == day:
                            break
                    expected_date = day if "strftime_now" in template else "26 Jul 2024"
                    self.assertIn(f"\nToday Date: {expected_date}\n\n", theirs)
                    what = f"{label}, the template's own date{', generation prompt' if generation_prompt else ''}"
                    record("chat template text", what, 0.0 if ours["text"] == theirs else 1.0, 0.0,
                           "texts differing (0: identical)")
                    self.assertEqual(ours["text"], theirs, f"{what}: {text_difference(ours['text'], theirs)}")


class Phi3VariantsDifferAsTheNoteSays(TempDirTestCase):
    """The engine writes Phi-3-mini's form for every Phi-3 template and names, in its note, what
    Phi-3-small's (a BOS token first) and Phi-3-medium's (no system messages, no EOS at the end)
    write differently: apply_chat_template with those templates gives the engine's text changed in
    exactly that way."""

    def test_small_adds_bos_and_medium_drops_system_and_eos(self):
        g = guidance_templates()
        if "phi3_small_template" not in g:
            self.skipTest("the guidance wheel is not present: run packaging/fetch-test-assets.sh")
        folder = TOKENIZERS / "phi4-mini"
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        bos, eos = config["bos_token"], config["eos_token"]
        for variant in ("phi3_small_template", "phi3_medium_template"):
            tokenizer_dir = self.tokenizer_folder(folder, g[variant])
            reference = AutoTokenizer.from_pretrained(str(tokenizer_dir))
            for name, messages in CONVERSATIONS.items():
                for generation_prompt in (False, True):
                    with self.subTest(template=variant, conversation=name, generation_prompt=generation_prompt):
                        msgs = messages[:-1] if generation_prompt else messages
                        conversation = self.tmp / "conversation.json"
                        conversation.write_text(json.dumps(msgs), encoding="utf-8")
                        ours = json.loads(probe("chat", tokenizer_dir, conversation,
                                                *(["--generation-prompt"] if generation_prompt else [])))
                        self.assertEqual(ours["template"], "phi3")
                        theirs = reference.apply_chat_template(msgs, tokenize=False,
                                                               add_generation_prompt=generation_prompt)
                        if variant == "phi3_small_template":
                            self.assertIn("BOS", ours["note"])
                            self.assertEqual(bos + ours["text"], theirs)
                            continue
                        self.assertIn("no EOS", ours["note"])
                        expected = ours["text"] if generation_prompt else ours["text"][:-len(eos)]
                        if msgs[0]["role"] == "system":
                            expected = expected.replace(f"<|system|>\n{msgs[0]['content']}<|end|>\n", "", 1)
                        self.assertEqual(expected, theirs, text_difference(expected, theirs))


def pieces_to_text(pieces: str) -> str:
    """SentencePiece pieces, joined ("▁" for a space, "<0x0A>" for a byte), as plain text."""
    out, raw = [], bytearray()
    for part in re.split(r"(<0x[0-9A-F]{2}>)", pieces):
        if re.fullmatch(r"<0x[0-9A-F]{2}>", part):
            raw.append(int(part[3:5], 16))
            continue
        if raw:
            out.append(raw.decode("utf-8"))
            raw = bytearray()
        out.append(part.replace("\u2581", " "))
    if raw:
        out.append(raw.decode("utf-8"))
    return "".join(out)


def mistral_text(reference, tokens: list[int]) -> str:
    """The text of mistral-common's tokens, token by token, special tokens as their names: Tekken's
    tokens are bytes (a character may span several), SentencePiece's are pieces."""
    from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy
    raw = reference.instruct_tokenizer.tokenizer
    if hasattr(raw, "id_to_byte_piece"):
        return b"".join(raw.id_to_byte_piece(t, SpecialTokenPolicy.KEEP) for t in tokens).decode("utf-8")
    return pieces_to_text("".join(raw.id_to_piece(t) for t in tokens))


def mistral_tokenizers() -> list[tuple[str, str, str]]:
    """(label, tokenizer file in mistral-common's data folder, the template name we use)."""
    return [("Mistral V1 (mistral-common, tokenizer.model.v1)", "tokenizer.model.v1", "mistral-v1"),
            ("Mistral V3 (mistral-common, instruct tokenizer 240323 v3)", "mistral_instruct_tokenizer_240323.model.v3",
             "mistral-v3"),
            ("Mistral Tekken (mistral-common, tekken_240718.json)", "tekken_240718.json", "mistral-tekken")]


class MistralFormatsAgreeWithMistralCommon(TempDirTestCase):
    def test_v1_v3_and_tekken_give_mistral_common_text_and_spans(self):
        import mistral_common
        from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
        from mistral_common.protocol.instruct.request import ChatCompletionRequest
        from mistral_common.protocol.instruct.validator import ValidationMode
        from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

        data = Path(mistral_common.__file__).parent / "data"
        classes = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}
        # Our side needs a tokenizer for the BOS/EOS text: Mistral's own (<s>, </s>).
        tokenizer_dir = TOKENIZERS / "mistral"
        for label, file, kind in mistral_tokenizers():
            # Fine-tuning mode takes a conversation ending with the answer; the serving mode one
            # ending with the user's turn (what generation sends).
            references = {mode: MistralTokenizer.from_file(str(data / file), mode=mode)
                          for mode in (ValidationMode.finetuning, ValidationMode.test)}
            for name, messages in CONVERSATIONS.items():
                for generation_prompt in (False, True):
                    with self.subTest(template=label, conversation=name, generation_prompt=generation_prompt):
                        msgs = messages[:-1] if generation_prompt else messages
                        reference = references[ValidationMode.test if generation_prompt else ValidationMode.finetuning]
                        request = ChatCompletionRequest(messages=[classes[m["role"]](content=m["content"]) for m in msgs])
                        theirs = mistral_text(reference, reference.encode_chat_completion(request).tokens)
                        conversation = self.tmp / "conversation.json"
                        conversation.write_text(json.dumps(msgs), encoding="utf-8")
                        ours = json.loads(probe("chat", tokenizer_dir, conversation, "--template", kind,
                                                *(["--generation-prompt"] if generation_prompt else [])))
                        what = f"{label}, {name}{', generation prompt' if generation_prompt else ''}"
                        record("chat template text", what, 0.0 if ours["text"] == theirs else 1.0, 0.0,
                               "texts differing (0: identical)")
                        self.assertEqual(ours["text"], theirs, f"{what}: {text_difference(ours['text'], theirs)}")
                        expected = byte_offsets(theirs, reference_spans(theirs, msgs, "</s>", kind))
                        self.assertEqual(ours["spans"], expected, f"{what}: trained spans (byte offsets)")


def alpaca_prompts() -> dict[str, str] | None:
    """PROMPT_DICT of llama_cookbook/datasets/alpaca_dataset.py in the downloaded wheel."""
    wheels = sorted(WHEELS.glob("llama_cookbook-*.whl"))
    if not wheels:
        return None
    with zipfile.ZipFile(wheels[-1]) as wheel:
        source = wheel.read("llama_cookbook/datasets/alpaca_dataset.py").decode("utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["PROMPT_DICT"]:
            return ast.literal_eval(node.value)
    raise AssertionError("llama_cookbook/datasets/alpaca_dataset.py has no PROMPT_DICT")


class AlpacaAgreesWithTheStanfordPrompts(TempDirTestCase):
    RECORDS = [
        {"instruction": "Give three tips for staying healthy.", "input": "", "output": "1. Eat well.\n2. Sleep.\n3. Move."},
        {"instruction": "Translate to French.", "input": "Good morning — how are you?", "output": "Bonjour — comment ça va ?"},
    ]

    def test_instruction_records_give_the_stanford_text_and_loss_span(self):
        prompts = alpaca_prompts()
        if prompts is None:
            self.skipTest("the llama-cookbook wheel is not present: run packaging/fetch-test-assets.sh")
        tokenizer_dir = TOKENIZERS / "mistral"
        eos = json.loads((tokenizer_dir / "tokenizer_config.json").read_text(encoding="utf-8"))["eos_token"]
        eos = eos["content"] if isinstance(eos, dict) else eos
        for record_ in self.RECORDS:
            for generation_prompt in (False, True):
                what = f"Alpaca, {'with' if record_['input'] else 'without'} input" + \
                       (", generation prompt" if generation_prompt else "")
                with self.subTest(what):
                    prompt = prompts["prompt_input" if record_["input"] else "prompt_no_input"].format_map(record_)
                    # llama-cookbook's InstructionDataset: prompt + output, the EOS token appended;
                    # labels of the prompt's tokens masked, so the loss covers output + EOS.
                    theirs = prompt if generation_prompt else prompt + record_["output"] + eos
                    spans = [] if generation_prompt else [(len(prompt), len(theirs))]
                    data = dict(record_, output="") if generation_prompt else record_
                    conversation = self.tmp / "record.json"
                    conversation.write_text(json.dumps(data), encoding="utf-8")
                    ours = json.loads(probe("chat", tokenizer_dir, conversation, "--template", "alpaca",
                                            *(["--generation-prompt"] if generation_prompt else [])))
                    record("chat template text", what, 0.0 if ours["text"] == theirs else 1.0, 0.0,
                           "texts differing (0: identical)")
                    self.assertEqual(ours["text"], theirs, f"{what}: {text_difference(ours['text'], theirs)}")
                    self.assertEqual(ours["spans"], byte_offsets(theirs, spans), f"{what}: trained spans (byte offsets)")


if __name__ == "__main__":
    unittest.main()
