#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lorafa {

class Tokenizer;

enum class ChatRole { System, User, Assistant };

/// One turn of a conversation.
struct ChatMessage {
  ChatRole role = ChatRole::User;
  std::string content;
};

/// The prompt formats the engine writes itself (we do not run Jinja). Each reproduces the public
/// template character for character, including newlines, spaces and the BOS/EOS text.
enum class ChatTemplateKind {
  /// `<|im_start|>{role}\n{content}<|im_end|>\n` per message (Qwen2/2.5, many fine-tunes).
  ChatML,
  /// ChatML as Qwen3's template writes it in non-thinking mode: the final assistant answer (after
  /// the last user message) starts with an empty `<think>\n\n</think>\n\n` block, which is part of
  /// the prompt (it is what the template's generation prompt holds with enable_thinking=false).
  /// Reasoning given inline as `<think>…</think>` is kept in that block and trained on.
  Qwen3,
  /// `<|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content|trim}<|eot_id|>`
  /// (Meta Llama 3 / 3.0 Instruct). Llama 3.1's "Cutting Knowledge Date" header is not written.
  Llama3,
  /// Llama 3.1 / 3.2 / 3.3 Instruct: Llama 3's turns after a system header that is always written,
  /// `<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date:
  /// December 2023\nToday Date: {date}\n\n{system message|trim}<|eot_id|>`; a leading system
  /// message goes there (its text may be empty), later ones are written as turns. Tools are not.
  Llama31,
  /// Mistral tokenizer V1 (Mistral-7B-Instruct v0.1/v0.2, Mixtral-8x7B):
  /// `<s> [INST] {user} [/INST] {assistant}</s>`; a system message goes before the first user
  /// message, followed by "\n\n".
  MistralV1,
  /// Mistral tokenizer V3 (Mistral-7B-Instruct v0.3, Mixtral-8x22B, Codestral):
  /// `<s>[INST] {user}[/INST] {assistant}</s>`; a system message goes before the last user
  /// message, followed by "\n\n" (as mistral-common does).
  MistralV3,
  /// Mistral V3-Tekken (Mistral-Nemo, Pixtral, Ministral): `<s>[INST]{user}[/INST]{assistant}</s>`,
  /// system message before the last user message.
  MistralTekken,
  /// Gemma 2/3 instruct: `<bos><start_of_turn>user\n{content|trim}<end_of_turn>\n<start_of_turn>model\n…`
  /// ("model" for the assistant role). A leading system message goes into the first user turn,
  /// followed by "\n\n", as Gemma 3's template does (Gemma 2's rejects system messages). Roles
  /// must alternate user/assistant after it. No EOS after the last answer.
  Gemma,
  /// Phi-3/Phi-3.5-mini instruct: `<|{role}|>\n{content}<|end|>\n` per message, no BOS; the EOS
  /// text after the last message (generation prompt `<|assistant|>\n` instead).
  Phi3,
  /// Phi-4-mini instruct: `<|{role}|>{content}<|end|>` per message without newlines; the EOS text
  /// after the last message (generation prompt `<|assistant|>` instead).
  Phi4Mini,
  /// The Stanford Alpaca prompt ("Below is an instruction that describes a task…", then
  /// "### Instruction:", optionally "### Input:", and "### Response:" followed directly by the
  /// output and the EOS text, exactly as in Alpaca's train.py). One instruction, one response.
  Alpaca,
  /// No markers: each non-assistant message followed by "\n"; each assistant message followed by
  /// the EOS text.
  Plain,
};

/// Byte range [begin, end) of a rendered text.
struct TextSpan {
  std::size_t begin = 0;
  std::size_t end = 0;
  bool operator==(const TextSpan& other) const { return begin == other.begin && end == other.end; }
};

/// A conversation written out by a template.
struct RenderedChat {
  std::string text;
  /// The parts the model learns to write: each assistant message's content with its end-of-turn
  /// marker (`<|im_end|>`, `<|eot_id|>`, the EOS text), never the text that follows the marker.
  /// In text order, non-overlapping.
  std::vector<TextSpan> responseSpans;
};

struct ChatTemplateOptions {
  /// The BOS and EOS token text (the tokenizer's, e.g. "<s>" and "</s>"). Empty: the template's
  /// usual text (Llama 3: "<|begin_of_text|>"; Mistral: "<s>" and "</s>"; Gemma: "<bos>"; Phi-3
  /// and Phi-4-mini: "<|endoftext|>"; Alpaca and Plain: none).
  std::string bosToken;
  std::string eosToken;
  /// ChatML/Qwen3: written as the system message when the conversation has none (Qwen2 and 2.5
  /// templates have one; detectChatTemplate() finds it). Empty: no system message is added.
  std::string defaultSystemPrompt;
  /// Llama 3.1: the "Today Date: " text, e.g. "26 Jul 2024". Empty: today's date, as the 3.2
  /// template's strftime_now("%d %b %Y") writes it (local time, English month abbreviation).
  std::string dateString;
  /// End with what starts the assistant's answer (e.g. "<|im_start|>assistant\n"); for inference
  /// and previews. The conversation must then end with a user message.
  bool addGenerationPrompt = false;
};

/// Writes a conversation with a template. Throws std::invalid_argument with a message a user can
/// act on when the template cannot express it (Mistral: roles must alternate user/assistant after
/// one optional leading system message; Alpaca: exactly one user and one assistant message).
RenderedChat renderChat(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                        const ChatTemplateOptions& options = {});

/// Writes an Alpaca-style record (instruction, optional input, output). The Alpaca template uses
/// its two prompts (with and without input); every other template gets one user message
/// `instruction` + "\n\n" + `input` (just `instruction` when input is empty) and one assistant
/// message `output`. An empty output with addGenerationPrompt gives the prompt only.
RenderedChat renderInstruction(ChatTemplateKind kind, const std::string& instruction,
                               const std::string& input, const std::string& output,
                               const ChatTemplateOptions& options = {});

/// Today's date as Llama 3.2's template writes it with transformers' strftime_now("%d %b %Y"):
/// local time, two-digit day, English month abbreviation, e.g. "07 Dec 2026".
std::string todayDateString();

/// Whether text written by the template is tokenized without the tokenizer's own special tokens
/// (BOS): true for the chat templates, which write what they need (transformers'
/// apply_chat_template does the same); false for Alpaca and Plain, which get the tokenizer's BOS
/// like any text.
bool templateOwnsSpecialTokens(ChatTemplateKind kind);

/// What a tokenizer_config.json "chat_template" (Jinja source) was recognised as.
struct ChatTemplateDetection {
  std::optional<ChatTemplateKind> kind; ///< empty: not recognised
  /// A system prompt the template writes when there is none (ChatML templates of Qwen2/2.5).
  std::string defaultSystemPrompt;
  /// The date a Llama 3.1/3.3 template writes when none is passed ("26 Jul 2024": they have no
  /// strftime_now branch); empty when the template writes today's date (Llama 3.2) or none.
  std::string dateString;
  /// Why it was not recognised, or what the engine's version leaves out; empty when exact.
  std::string note;
};

/// Recognises a Jinja chat template by its distinctive markers ("<|im_start|>",
/// "<|start_header_id|>" with or without "Cutting Knowledge Date", "[INST]" and the spacing around
/// it, "<start_of_turn>", "<|user|>" and "<|end|>" with or without a newline after the role,
/// "### Instruction:").
ChatTemplateDetection detectChatTemplate(std::string_view jinjaSource);

/// The template a run uses, and where it came from.
struct ChatTemplateChoice {
  ChatTemplateKind kind = ChatTemplateKind::Plain;
  std::string defaultSystemPrompt; ///< from the tokenizer's template, for ChatTemplateOptions
  std::string dateString;          ///< from the tokenizer's template, for ChatTemplateOptions
  std::string note;                ///< what the engine's version of the template leaves out
  bool fromTokenizer = false;      ///< recognised in tokenizer_config.json (not requested)
};

/// The template to use: `requested` when given; otherwise the one recognised in the tokenizer's
/// chat_template; when the tokenizer has none, `fallback` (e.g. Alpaca for instruction data)
/// when given. Throws std::invalid_argument asking the user to pick one of the supported
/// templates when there is nothing to go on or the template is not recognised.
ChatTemplateChoice resolveChatTemplate(const Tokenizer& tokenizer, std::optional<ChatTemplateKind> requested,
                                       std::optional<ChatTemplateKind> fallback = std::nullopt);

const char* toString(ChatTemplateKind kind);
const char* toString(ChatRole role);
/// "chatml", "qwen3", "llama3", "llama3.1", "mistral-v1", "mistral-v3", "mistral-tekken", "gemma",
/// "phi3", "phi4-mini", "alpaca", "plain"; "llama3.2" and "llama3.3" (and "llama31" … "llama33")
/// name llama3.1 too (case-insensitive; "-" or "_" or nothing between words).
std::optional<ChatTemplateKind> parseChatTemplateKind(std::string_view text);
/// "system", "user", "assistant"; ShareGPT's "human" and "gpt" too.
std::optional<ChatRole> parseChatRole(std::string_view text);
/// The names parseChatTemplateKind accepts, comma-separated, for messages and --help.
std::string chatTemplateNames();

} // namespace lorafa
