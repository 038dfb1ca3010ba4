#include "lorafa/ChatTemplate.h"

#include "lorafa/Tokenizer.h"

#include <stdexcept>

namespace lorafa {
namespace {

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// Undoes the escapes a Jinja (Python-style) string literal may use.
std::string unescapeLiteral(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      const char next = text[++i];
      switch (next) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      default: out += next; break; // \\, \', \"
      }
    } else {
      out += text[i];
    }
  }
  return out;
}

// The system prompt a ChatML template writes when there is none: a literal
// "<|im_start|>system\n…<|im_end|>" whose text is not an expression.
std::string findDefaultSystemPrompt(std::string_view source) {
  const std::string_view head = "<|im_start|>system";
  for (std::size_t at = source.find(head); at != std::string_view::npos; at = source.find(head, at + 1)) {
    std::size_t begin = at + head.size();
    if (source.substr(begin, 2) == "\\n") {
      begin += 2;
    } else if (source.substr(begin, 1) == "\n") {
      begin += 1;
    } else {
      continue;
    }
    const std::size_t end = source.find("<|im_end|>", begin);
    if (end == std::string_view::npos || end == begin) continue;
    const std::string_view body = source.substr(begin, end - begin);
    if (body.find_first_of("'\"{}+") != std::string_view::npos) continue; // an expression, not text
    return unescapeLiteral(body);
  }
  return {};
}

// The literal of `set date_string = "…"` in a Llama 3.1 template; empty when there is none.
std::string findDefaultDate(std::string_view source) {
  const std::string_view head = "date_string";
  for (std::size_t at = source.find(head); at != std::string_view::npos; at = source.find(head, at + 1)) {
    std::size_t i = at + head.size();
    while (i < source.size() && source[i] == ' ')
      ++i;
    if (i >= source.size() || source[i] != '=') continue;
    ++i;
    while (i < source.size() && source[i] == ' ')
      ++i;
    if (i >= source.size() || (source[i] != '"' && source[i] != '\'')) continue;
    const std::size_t end = source.find(source[i], i + 1);
    if (end == std::string_view::npos) continue;
    return unescapeLiteral(source.substr(i + 1, end - i - 1));
  }
  return {};
}

// Whether the role tags of a Phi template ("<|user|>", "'<|' + message['role'] + '|>'") are
// followed by a newline (Phi-3) or directly by the content (Phi-4-mini). Literal concatenations
// (' + ') are removed first, so "'<|user|>' + '\n'" reads as "'<|user|>\n'".
bool phiRoleTagEndsWithNewline(std::string_view source) {
  std::string joined;
  for (std::size_t i = 0; i < source.size();) {
    const std::string_view rest = source.substr(i);
    if (rest.substr(0, 5) == "' + '" || rest.substr(0, 5) == "\" + \"") {
      i += 5;
    } else {
      joined += source[i++];
    }
  }
  return contains(joined, "|>\n") || contains(joined, "|>\\n");
}

} // namespace

ChatTemplateDetection detectChatTemplate(std::string_view source) {
  ChatTemplateDetection d;
  if (source.empty()) {
    d.note = "there is no chat_template";
    return d;
  }
  if (contains(source, "<|im_sep|>")) {
    d.note = "it is the Phi-4 format (<|im_start|>role<|im_sep|>), which the engine does not write";
    return d;
  }
  if (contains(source, "<|im_start|>")) {
    d.kind = contains(source, "<think>") ? ChatTemplateKind::Qwen3 : ChatTemplateKind::ChatML;
    d.defaultSystemPrompt = findDefaultSystemPrompt(source);
    if (d.kind == ChatTemplateKind::Qwen3) {
      d.note = "the non-thinking form is written (an empty <think> block before the final answer)";
    }
    if (contains(source, "tool_call") || contains(source, "tools")) {
      d.note += std::string(d.note.empty() ? "" : "; ") + "tool definitions and tool calls are not written";
    }
    return d;
  }
  if (contains(source, "<|start_header_id|>")) {
    if (!contains(source, "Cutting Knowledge Date")) {
      d.kind = ChatTemplateKind::Llama3;
      return d;
    }
    // Llama 3.1+. 3.2's template writes today's date (strftime_now); 3.1's and 3.3's the fixed
    // default of `set date_string = "26 Jul 2024"` unless a date_string is passed.
    d.kind = ChatTemplateKind::Llama31;
    if (!contains(source, "strftime_now")) d.dateString = findDefaultDate(source);
    d.note = "tool definitions and tool calls are not written";
    return d;
  }
  if (contains(source, "[INST]")) {
    if (contains(source, "<<SYS>>")) {
      d.note = "it is the Llama 2 chat format ([INST] with <<SYS>>), which the engine does not write";
      return d;
    }
    if (contains(source, "[SYSTEM_PROMPT]")) {
      d.note = "it is a Mistral V7 template ([SYSTEM_PROMPT]), which the engine does not write";
      return d;
    }
    const std::size_t close = source.find("[/INST]");
    const std::size_t open = source.find("[INST]");
    if (close != std::string_view::npos && close > 0 && source[close - 1] == ' ') {
      d.kind = ChatTemplateKind::MistralV1;
      if (!contains(source, " [INST] ")) {
        d.note = "the template's spacing differs from Mistral's documented V1 form, which the engine writes "
                 "(<s> [INST] user [/INST] answer</s>)";
      }
    } else if (open + 6 < source.size() && source[open + 6] == ' ') {
      d.kind = ChatTemplateKind::MistralV3;
    } else {
      d.kind = ChatTemplateKind::MistralTekken;
    }
    return d;
  }
  if (contains(source, "<start_of_turn>")) {
    d.kind = ChatTemplateKind::Gemma;
    if (!contains(source, "first_user_prefix") && contains(source, "System role not supported")) {
      d.note = "this template (Gemma 1/2) rejects system messages; the engine writes one into the first user "
               "turn, as Gemma 3's template does";
    }
    return d;
  }
  if (contains(source, "<|end|>") && (contains(source, "<|user|>") || contains(source, "<|assistant|>"))) {
    if (!phiRoleTagEndsWithNewline(source)) {
      d.kind = ChatTemplateKind::Phi4Mini;
      if (contains(source, "tools")) d.note = "tool definitions are not written";
      return d;
    }
    d.kind = ChatTemplateKind::Phi3;
    // The engine writes Phi-3-mini's (and Phi-3.5-mini's) form; say where others differ.
    if (contains(source, "bos_token")) {
      d.note = "the template writes the BOS token first (Phi-3-small), which the engine's phi3 form does not";
    }
    if (!contains(source, "eos_token")) {
      d.note += std::string(d.note.empty() ? "" : "; ") +
                "the template writes no EOS after the last message and ignores system messages (Phi-3-medium), "
                "where the engine's phi3 form writes both";
    }
    return d;
  }
  if (contains(source, "### Instruction:") && contains(source, "### Response:")) {
    d.kind = ChatTemplateKind::Alpaca;
    return d;
  }
  d.note = "none of its markers (<|im_start|>, <|start_header_id|>, [INST], <start_of_turn>, <|user|> with "
           "<|end|>, ### Instruction:) were found";
  return d;
}

ChatTemplateChoice resolveChatTemplate(const Tokenizer& tokenizer, std::optional<ChatTemplateKind> requested,
                                       std::optional<ChatTemplateKind> fallback) {
  const std::string source = tokenizer.chatTemplateSource();
  const ChatTemplateDetection detected = detectChatTemplate(source);
  ChatTemplateChoice choice;
  if (requested) {
    choice.kind = *requested;
    if (detected.kind == requested) {
      choice.defaultSystemPrompt = detected.defaultSystemPrompt;
      choice.dateString = detected.dateString;
    }
    return choice;
  }
  if (source.empty()) {
    if (fallback) {
      choice.kind = *fallback;
      return choice;
    }
    throw std::invalid_argument("the tokenizer has no chat_template in tokenizer_config.json; choose a chat "
                                "template: " +
                                chatTemplateNames());
  }
  if (!detected.kind) {
    throw std::invalid_argument("the tokenizer's chat_template is not one the engine can write (" +
                                detected.note + "); choose a chat template: " + chatTemplateNames());
  }
  choice.kind = *detected.kind;
  choice.defaultSystemPrompt = detected.defaultSystemPrompt;
  choice.dateString = detected.dateString;
  choice.note = detected.note;
  choice.fromTokenizer = true;
  return choice;
}

} // namespace lorafa
