#include "lorafa/ChatTemplate.h"

#include "data/TextUtil.h"

#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace lorafa {
namespace {

// Text plus the spans marked as response while it is written.
class ChatWriter {
public:
  void add(std::string_view part) { m_out.text.append(part.data(), part.size()); }
  void beginResponse() { m_begin = m_out.text.size(); }
  void endResponse() {
    if (m_out.text.size() > m_begin) m_out.responseSpans.push_back(TextSpan{m_begin, m_out.text.size()});
  }
  RenderedChat take() { return std::move(m_out); }

private:
  RenderedChat m_out;
  std::size_t m_begin = 0;
};

const char* const kAlpacaPromptNoInput = "Below is an instruction that describes a task. "
                                         "Write a response that appropriately completes the request.\n\n"
                                         "### Instruction:\n";
const char* const kAlpacaPromptInput = "Below is an instruction that describes a task, paired with an input "
                                       "that provides further context. "
                                       "Write a response that appropriately completes the request.\n\n"
                                       "### Instruction:\n";

[[noreturn]] void reject(ChatTemplateKind kind, const std::string& problem) {
  throw std::invalid_argument(std::string("the ") + toString(kind) + " template " + problem);
}

void requireMessages(ChatTemplateKind kind, const std::vector<ChatMessage>& messages, bool generationPrompt) {
  if (messages.empty()) reject(kind, "needs at least one message");
  if (generationPrompt && messages.back().role == ChatRole::Assistant) {
    reject(kind, "cannot add a generation prompt after an assistant message (the conversation must end with "
                 "a user message)");
  }
}

// Checks that messages[first..] alternate user/assistant/user/…; returns the last user message's
// index.
std::size_t requireAlternation(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                               std::size_t first) {
  std::size_t lastUser = messages.size();
  for (std::size_t i = first; i < messages.size(); ++i) {
    const ChatRole expected = (i - first) % 2 == 0 ? ChatRole::User : ChatRole::Assistant;
    if (messages[i].role != expected) {
      reject(kind, std::string("needs roles alternating user/assistant/user/… after one optional system "
                               "message; message ") +
                       std::to_string(i + 1) + " is " + toString(messages[i].role) + " where " +
                       toString(expected) + " was expected");
    }
    if (expected == ChatRole::User) lastUser = i;
  }
  if (lastUser == messages.size()) reject(kind, "needs a user message");
  return lastUser;
}

RenderedChat renderChatMl(const std::vector<ChatMessage>& messages, const ChatTemplateOptions& options,
                          bool qwen3) {
  const ChatTemplateKind kind = qwen3 ? ChatTemplateKind::Qwen3 : ChatTemplateKind::ChatML;
  requireMessages(kind, messages, options.addGenerationPrompt);
  ChatWriter w;
  if (!options.defaultSystemPrompt.empty() && messages.front().role != ChatRole::System) {
    w.add("<|im_start|>system\n");
    w.add(options.defaultSystemPrompt);
    w.add("<|im_end|>\n");
  }
  // Qwen3 writes the think block only on answers after the last user message.
  std::size_t lastUser = messages.size() - 1;
  for (std::size_t i = messages.size(); i-- > 0;) {
    if (messages[i].role == ChatRole::User) {
      lastUser = i;
      break;
    }
  }
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role != ChatRole::Assistant) {
      w.add("<|im_start|>");
      w.add(toString(m.role));
      w.add("\n");
      w.add(m.content);
      w.add("<|im_end|>\n");
      continue;
    }
    w.add("<|im_start|>assistant\n");
    if (!qwen3) {
      w.beginResponse();
      w.add(m.content);
    } else {
      // As Qwen3's template: inline reasoning "<think>r</think>c" is split into r and c.
      std::string_view content = m.content;
      std::string_view reasoning;
      const std::size_t close = content.find("</think>");
      if (close != std::string_view::npos) {
        std::string_view before = content.substr(0, close);
        while (!before.empty() && before.back() == '\n')
          before.remove_suffix(1);
        const std::size_t open = before.rfind("<think>");
        if (open != std::string_view::npos) before.remove_prefix(open + 7);
        while (!before.empty() && before.front() == '\n')
          before.remove_prefix(1);
        reasoning = before;
        content = content.substr(content.rfind("</think>") + 8);
        while (!content.empty() && content.front() == '\n')
          content.remove_prefix(1);
      }
      while (!reasoning.empty() && reasoning.front() == '\n')
        reasoning.remove_prefix(1);
      while (!reasoning.empty() && reasoning.back() == '\n')
        reasoning.remove_suffix(1);
      const bool last = i + 1 == messages.size();
      if (i > lastUser && (last || !reasoning.empty())) {
        if (reasoning.empty()) {
          w.add("<think>\n\n</think>\n\n"); // prompt: the non-thinking generation prompt
          w.beginResponse();
        } else {
          w.beginResponse();
          w.add("<think>\n");
          w.add(reasoning);
          w.add("\n</think>\n\n");
        }
      } else {
        w.beginResponse();
      }
      w.add(content);
    }
    w.add("<|im_end|>");
    w.endResponse();
    w.add("\n");
  }
  if (options.addGenerationPrompt) {
    w.add("<|im_start|>assistant\n");
    if (qwen3) w.add("<think>\n\n</think>\n\n");
  }
  return w.take();
}

// Llama 3: every message as a turn. Llama 3.1: first the system header with the knowledge
// cutoff and the date, holding the leading system message if there is one.
RenderedChat renderLlama3(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                          const ChatTemplateOptions& options) {
  requireMessages(kind, messages, options.addGenerationPrompt);
  ChatWriter w;
  w.add(options.bosToken.empty() ? "<|begin_of_text|>" : options.bosToken);
  std::size_t first = 0;
  if (kind == ChatTemplateKind::Llama31) {
    w.add("<|start_header_id|>system<|end_header_id|>\n\n");
    w.add("Cutting Knowledge Date: December 2023\nToday Date: ");
    w.add(options.dateString.empty() ? todayDateString() : options.dateString);
    w.add("\n\n");
    if (messages.front().role == ChatRole::System) {
      w.add(stripPythonWhitespace(messages.front().content));
      first = 1;
    }
    w.add("<|eot_id|>");
  }
  for (std::size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    w.add("<|start_header_id|>");
    w.add(toString(m.role));
    w.add("<|end_header_id|>\n\n");
    const bool response = m.role == ChatRole::Assistant;
    if (response) w.beginResponse();
    w.add(stripPythonWhitespace(m.content));
    w.add("<|eot_id|>");
    if (response) w.endResponse();
  }
  if (options.addGenerationPrompt) w.add("<|start_header_id|>assistant<|end_header_id|>\n\n");
  return w.take();
}

RenderedChat renderMistral(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                           const ChatTemplateOptions& options) {
  requireMessages(kind, messages, options.addGenerationPrompt);
  std::size_t first = 0;
  const std::string* system = nullptr;
  if (messages.front().role == ChatRole::System) {
    system = &messages.front().content;
    first = 1;
  }
  const std::size_t lastUser = requireAlternation(kind, messages, first);
  // V1 puts the system prompt before the first user message, V3 and Tekken before the last one.
  const std::size_t systemAt = kind == ChatTemplateKind::MistralV1 ? first : lastUser;
  const std::string_view eos = options.eosToken.empty() ? std::string_view("</s>") : options.eosToken;

  ChatWriter w;
  w.add(options.bosToken.empty() ? "<s>" : options.bosToken);
  for (std::size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == ChatRole::User) {
      w.add(kind == ChatTemplateKind::MistralV1   ? " [INST] "
            : kind == ChatTemplateKind::MistralV3 ? "[INST] "
                                                  : "[INST]");
      if (system != nullptr && i == systemAt) {
        w.add(*system);
        w.add("\n\n");
      }
      w.add(m.content);
      w.add(kind == ChatTemplateKind::MistralV1 ? " [/INST]" : "[/INST]");
    } else {
      w.beginResponse();
      if (kind != ChatTemplateKind::MistralTekken) w.add(" ");
      w.add(m.content);
      w.add(eos);
      w.endResponse();
    }
  }
  return w.take();
}

// Gemma 3's template: the system message (untrimmed) and "\n\n" open the first user turn; every
// content is trimmed; the assistant's role is "model".
RenderedChat renderGemma(const std::vector<ChatMessage>& messages, const ChatTemplateOptions& options) {
  requireMessages(ChatTemplateKind::Gemma, messages, options.addGenerationPrompt);
  const std::size_t first = messages.front().role == ChatRole::System ? 1 : 0;
  requireAlternation(ChatTemplateKind::Gemma, messages, first);
  ChatWriter w;
  w.add(options.bosToken.empty() ? "<bos>" : options.bosToken);
  for (std::size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const bool response = m.role == ChatRole::Assistant;
    w.add(response ? "<start_of_turn>model\n" : "<start_of_turn>user\n");
    if (i == first && first == 1) {
      w.add(messages.front().content);
      w.add("\n\n");
    }
    if (response) w.beginResponse();
    w.add(stripPythonWhitespace(m.content));
    w.add("<end_of_turn>");
    if (response) w.endResponse();
    w.add("\n");
  }
  if (options.addGenerationPrompt) w.add("<start_of_turn>model\n");
  return w.take();
}

// Phi-3 (a newline after each role tag and each <|end|>) and Phi-4-mini (none): every message in
// order, then the generation prompt or, when there is none, the EOS text.
RenderedChat renderPhi(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                       const ChatTemplateOptions& options) {
  requireMessages(kind, messages, options.addGenerationPrompt);
  const char* const newline = kind == ChatTemplateKind::Phi3 ? "\n" : "";
  ChatWriter w;
  for (const ChatMessage& m : messages) {
    const bool response = m.role == ChatRole::Assistant;
    w.add("<|");
    w.add(toString(m.role));
    w.add("|>");
    w.add(newline);
    if (response) w.beginResponse();
    w.add(m.content);
    w.add("<|end|>");
    if (response) w.endResponse();
    w.add(newline);
  }
  if (options.addGenerationPrompt) {
    w.add("<|assistant|>");
    w.add(newline);
  } else {
    w.add(options.eosToken.empty() ? std::string_view("<|endoftext|>") : options.eosToken);
  }
  return w.take();
}

RenderedChat renderAlpaca(const std::string& instruction, const std::string* input, const std::string* output,
                          const ChatTemplateOptions& options) {
  ChatWriter w;
  if (input != nullptr && !input->empty()) {
    w.add(kAlpacaPromptInput);
    w.add(instruction);
    w.add("\n\n### Input:\n");
    w.add(*input);
  } else {
    w.add(kAlpacaPromptNoInput);
    w.add(instruction);
  }
  w.add("\n\n### Response:");
  if (output != nullptr) {
    w.beginResponse();
    w.add(*output);
    w.add(options.eosToken);
    w.endResponse();
  }
  return w.take();
}

RenderedChat renderPlain(const std::vector<ChatMessage>& messages, const ChatTemplateOptions& options) {
  requireMessages(ChatTemplateKind::Plain, messages, options.addGenerationPrompt);
  ChatWriter w;
  for (const ChatMessage& m : messages) {
    if (m.role == ChatRole::Assistant) {
      w.beginResponse();
      w.add(m.content);
      w.add(options.eosToken);
      w.endResponse();
    } else {
      w.add(m.content);
      w.add("\n");
    }
  }
  return w.take();
}

} // namespace

RenderedChat renderChat(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                        const ChatTemplateOptions& options) {
  switch (kind) {
  case ChatTemplateKind::ChatML: return renderChatMl(messages, options, false);
  case ChatTemplateKind::Qwen3: return renderChatMl(messages, options, true);
  case ChatTemplateKind::Llama3:
  case ChatTemplateKind::Llama31: return renderLlama3(kind, messages, options);
  case ChatTemplateKind::MistralV1:
  case ChatTemplateKind::MistralV3:
  case ChatTemplateKind::MistralTekken: return renderMistral(kind, messages, options);
  case ChatTemplateKind::Gemma: return renderGemma(messages, options);
  case ChatTemplateKind::Phi3:
  case ChatTemplateKind::Phi4Mini: return renderPhi(kind, messages, options);
  case ChatTemplateKind::Alpaca: {
    requireMessages(kind, messages, options.addGenerationPrompt);
    const bool shapeOk =
        messages[0].role == ChatRole::User &&
        (messages.size() == 1 || (messages.size() == 2 && messages[1].role == ChatRole::Assistant));
    if (!shapeOk) {
      reject(kind, "writes one instruction (a user message) and one response; this conversation has " +
                       std::to_string(messages.size()) + " messages starting with " +
                       toString(messages[0].role) +
                       " (pick a chat template such as chatml for multi-turn or system messages)");
    }
    return renderAlpaca(messages[0].content, nullptr, messages.size() == 2 ? &messages[1].content : nullptr,
                        options);
  }
  case ChatTemplateKind::Plain: return renderPlain(messages, options);
  }
  throw std::invalid_argument("unknown chat template");
}

RenderedChat renderInstruction(ChatTemplateKind kind, const std::string& instruction,
                               const std::string& input, const std::string& output,
                               const ChatTemplateOptions& options) {
  const bool promptOnly = output.empty() && options.addGenerationPrompt;
  if (kind == ChatTemplateKind::Alpaca)
    return renderAlpaca(instruction, &input, promptOnly ? nullptr : &output, options);
  std::vector<ChatMessage> messages;
  messages.push_back(ChatMessage{ChatRole::User, input.empty() ? instruction : instruction + "\n\n" + input});
  if (!promptOnly) messages.push_back(ChatMessage{ChatRole::Assistant, output});
  return renderChat(kind, messages, options);
}

// The month is spelled out: strftime's %b follows LC_TIME, which the Qt app sets from the user's
// locale.
std::string todayDateString() {
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[32];
  std::snprintf(text, sizeof text, "%02d %s %04d", local.tm_mday, kMonths[local.tm_mon],
                local.tm_year + 1900);
  return text;
}

bool templateOwnsSpecialTokens(ChatTemplateKind kind) {
  switch (kind) {
  case ChatTemplateKind::Llama3:
  case ChatTemplateKind::Llama31:
  case ChatTemplateKind::MistralV1:
  case ChatTemplateKind::MistralV3:
  case ChatTemplateKind::MistralTekken:
  case ChatTemplateKind::Gemma:
  case ChatTemplateKind::Phi3:
  case ChatTemplateKind::Phi4Mini: return true;
  case ChatTemplateKind::ChatML:
  case ChatTemplateKind::Qwen3: return true;
  case ChatTemplateKind::Alpaca:
  case ChatTemplateKind::Plain: return false;
  }
  return false;
}

const char* toString(ChatTemplateKind kind) {
  switch (kind) {
  case ChatTemplateKind::ChatML: return "chatml";
  case ChatTemplateKind::Qwen3: return "qwen3";
  case ChatTemplateKind::Llama3: return "llama3";
  case ChatTemplateKind::Llama31: return "llama3.1";
  case ChatTemplateKind::MistralV1: return "mistral-v1";
  case ChatTemplateKind::MistralV3: return "mistral-v3";
  case ChatTemplateKind::MistralTekken: return "mistral-tekken";
  case ChatTemplateKind::Gemma: return "gemma";
  case ChatTemplateKind::Phi3: return "phi3";
  case ChatTemplateKind::Phi4Mini: return "phi4-mini";
  case ChatTemplateKind::Alpaca: return "alpaca";
  case ChatTemplateKind::Plain: return "plain";
  }
  return "unknown";
}

const char* toString(ChatRole role) {
  switch (role) {
  case ChatRole::System: return "system";
  case ChatRole::User: return "user";
  case ChatRole::Assistant: return "assistant";
  }
  return "unknown";
}

std::optional<ChatTemplateKind> parseChatTemplateKind(std::string_view text) {
  std::string key;
  for (const char c : asciiLower(text)) {
    if (c != '-' && c != '_' && c != ' ') key += c;
  }
  if (key == "chatml" || key == "qwen" || key == "qwen2") return ChatTemplateKind::ChatML;
  if (key == "qwen3") return ChatTemplateKind::Qwen3;
  if (key == "llama3") return ChatTemplateKind::Llama3;
  if (key == "llama3.1" || key == "llama31" || key == "llama3.2" || key == "llama32" || key == "llama3.3" ||
      key == "llama33") {
    return ChatTemplateKind::Llama31;
  }
  if (key == "mistralv1" || key == "mistral") return ChatTemplateKind::MistralV1;
  if (key == "mistralv3") return ChatTemplateKind::MistralV3;
  if (key == "mistraltekken" || key == "tekken") return ChatTemplateKind::MistralTekken;
  if (key == "gemma" || key == "gemma2" || key == "gemma3") return ChatTemplateKind::Gemma;
  if (key == "phi3" || key == "phi35") return ChatTemplateKind::Phi3;
  if (key == "phi4mini") return ChatTemplateKind::Phi4Mini;
  if (key == "alpaca") return ChatTemplateKind::Alpaca;
  if (key == "plain" || key == "none") return ChatTemplateKind::Plain;
  return std::nullopt;
}

std::optional<ChatRole> parseChatRole(std::string_view text) {
  const std::string key = asciiLower(text);
  if (key == "system") return ChatRole::System;
  if (key == "user" || key == "human") return ChatRole::User;
  if (key == "assistant" || key == "gpt") return ChatRole::Assistant;
  return std::nullopt;
}

std::string chatTemplateNames() {
  return "chatml, qwen3, llama3, llama3.1, mistral-v1, mistral-v3, mistral-tekken, gemma, phi3, phi4-mini, "
         "alpaca, plain";
}

} // namespace lorafa
