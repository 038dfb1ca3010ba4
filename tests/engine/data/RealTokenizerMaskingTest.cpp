// Loss masking with real tokenizers (tests/fixtures/tokenizers) against the official Hugging Face
// implementation: tests/fixtures/data/masking_reference.json holds, for each conversation, the
// reference token ids and the labels derived from the reference's own token offsets
// (make_masking_reference.py). The engine must write the same text, get the same ids, and put
// -100 exactly on the prompt tokens while the response tokens and their end marker keep their ids.
#include "DataTestSupport.h"

#include "lorafa/DatasetStatistics.h"
#include "lorafa/TokenizedDataset.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

using namespace lorafa;
namespace fs = std::filesystem;

namespace {

std::string tokenizerPath(const std::string& name) {
  const fs::path fixtures = fs::path(lorafa::testing::fixturesDir()) / "tokenizers";
  if (name == "llama3") {
    // Not redistributable: from the environment or as packaging/fetch-test-assets.sh builds it.
    if (const char* env = std::getenv("LORAFA_LLAMA3_TOKENIZER")) return env;
    return (fixtures / "pypi/llama3/tokenizer.json").string();
  }
  return (fixtures / name).string();
}

std::shared_ptr<Tokenizer> loadTokenizer(const std::string& name) {
  static std::map<std::string, std::shared_ptr<Tokenizer>> cache;
  auto& slot = cache[name];
  if (!slot) slot = Tokenizer::load(tokenizerPath(name));
  return slot;
}

nlohmann::json reference() {
  std::ifstream in(lorafa::testing::fixturesDir() + "/data/masking_reference.json");
  return nlohmann::json::parse(in);
}

Dataset datasetFor(const nlohmann::json& c) {
  Dataset d;
  d.path = "reference";
  Example e;
  e.line = 1;
  if (c.contains("alpaca")) {
    d.format = DatasetFormat::Alpaca;
    e.instruction = c["alpaca"][0].get<std::string>();
    e.input = c["alpaca"][1].get<std::string>();
    e.output = c["alpaca"][2].get<std::string>();
  } else {
    d.format = DatasetFormat::Chat;
    for (const auto& m : c["messages"]) {
      e.messages.push_back(ChatMessage{*parseChatRole(m[0].get<std::string>()), m[1].get<std::string>()});
    }
  }
  d.examples.push_back(e);
  return d;
}

ChatTemplateOptions tokenizerTemplateOptions(const Tokenizer& tokenizer) {
  ChatTemplateOptions o;
  if (tokenizer.bosId()) o.bosToken = tokenizer.idToToken(*tokenizer.bosId()).value_or("");
  if (tokenizer.eosId()) o.eosToken = tokenizer.idToToken(*tokenizer.eosId()).value_or("");
  return o;
}

} // namespace

TEST(RealTokenizerMasking, MatchesTheReferenceIdsAndOffsetDerivedLabels) {
  const nlohmann::json ref = reference();
  int checked = 0;
  for (const auto& c : ref["cases"]) {
    const std::string name = c["name"].get<std::string>();
    SCOPED_TRACE(name);
    const std::string tokenizerName = c["tokenizer"].get<std::string>();
    if (!fs::exists(tokenizerPath(tokenizerName))) {
      std::cout << "[ NOTE ] " << name << ": no " << tokenizerName << " tokenizer at "
                << tokenizerPath(tokenizerName) << ", case not checked\n";
      continue;
    }
    const std::shared_ptr<Tokenizer> tokenizer = loadTokenizer(tokenizerName);
    const auto kind = parseChatTemplateKind(c["template"].get<std::string>());
    ASSERT_TRUE(kind);
    const Dataset d = datasetFor(c);

    // The template writes exactly the documented text, with its response spans.
    const ChatTemplateOptions options = tokenizerTemplateOptions(*tokenizer);
    const Example& e = d.examples[0];
    const RenderedChat rendered = d.format == DatasetFormat::Alpaca
                                      ? renderInstruction(*kind, e.instruction, e.input, e.output, options)
                                      : renderChat(*kind, e.messages, options);
    EXPECT_EQ(rendered.text, c["text"].get<std::string>());
    std::vector<std::vector<std::size_t>> spans;
    for (const TextSpan& s : rendered.responseSpans)
      spans.push_back({s.begin, s.end});
    EXPECT_EQ(spans, c["spans"].get<std::vector<std::vector<std::size_t>>>());

    // Tokenized and masked through the dataset pipeline.
    ProcessingOptions processing;
    processing.chatTemplate = *kind;
    processing.maxLength = 4096;
    const TokenizedDataset t = tokenizeDataset(d, *tokenizer, processing);
    ASSERT_EQ(t.rows.size(), 1u);
    const std::vector<TokenId> ids = c["ids"].get<std::vector<TokenId>>();
    const std::vector<TokenId> labels = c["labels"].get<std::vector<TokenId>>();
    EXPECT_EQ(t.rows[0].inputIds, ids);
    EXPECT_EQ(t.rows[0].labels, labels);

    // Spelled out: every response ends with its end marker, and that token keeps its id.
    const std::size_t lastResponse =
        labels.size() - 1 -
        static_cast<std::size_t>(
            std::distance(labels.rbegin(), std::find_if(labels.rbegin(), labels.rend(),
                                                        [](TokenId l) { return l != kIgnoreIndex; })));
    ASSERT_LT(lastResponse, ids.size());
    EXPECT_TRUE(tokenizer->isSpecial(ids[lastResponse])) << "the last learned token is " << ids[lastResponse];
    EXPECT_EQ(t.rows[0].labels[lastResponse], ids[lastResponse]);
    ++checked;
  }
  EXPECT_GE(checked, 8) << "the committed tokenizers (qwen3, mistral, gpt2) cover eight cases";
}

TEST(RealTokenizerMasking, PromptTokensAreExactlyThePromptsOwnTokens) {
  // Qwen3 (byte-level BPE): the prompt tokenized alone is a prefix of the whole, and exactly those
  // tokens are masked.
  if (!fs::exists(tokenizerPath("qwen3"))) GTEST_SKIP() << "no qwen3 tokenizer";
  const std::shared_ptr<Tokenizer> tokenizer = loadTokenizer("qwen3");
  const std::vector<ChatMessage> chat = {
      {ChatRole::User, "Écris un haïku sur la mer. 🌊"},
      {ChatRole::Assistant, "Vagues sans repos —\nle sel garde la mémoire\ndes pas effacés."}};
  const RenderedChat r = renderChat(ChatTemplateKind::ChatML, chat);
  const MaskedTokens m = tokenizeWithMask(*tokenizer, r, false);
  const std::string promptText = r.text.substr(0, r.responseSpans[0].begin);
  const std::vector<TokenId> prompt = tokenizer->encode(promptText, false);
  ASSERT_LE(prompt.size(), m.inputIds.size());
  EXPECT_TRUE(std::equal(prompt.begin(), prompt.end(), m.inputIds.begin()));
  for (std::size_t i = 0; i < m.labels.size(); ++i) {
    const bool isPrompt = i < prompt.size();
    const bool isTail = i + 1 == m.labels.size(); // the "\n" after <|im_end|>
    if (isPrompt || isTail) {
      EXPECT_EQ(m.labels[i], kIgnoreIndex) << i;
    } else {
      EXPECT_EQ(m.labels[i], m.inputIds[i]) << i;
    }
  }
  EXPECT_EQ(tokenizer->decode({m.inputIds[m.inputIds.size() - 2]}), "<|im_end|>");
}

TEST(RealTokenizerMasking, Gpt2PlainTextBlocksAreTheWholeTextsTokens) {
  if (!fs::exists(tokenizerPath("gpt2"))) GTEST_SKIP() << "no gpt2 tokenizer";
  const std::shared_ptr<Tokenizer> tokenizer = loadTokenizer("gpt2");
  const Dataset d = loadDataset(lorafa::testing::fixturesDir() + "/data/moby_dick_chapter_1.txt");
  ProcessingOptions o;
  o.maxLength = 256;
  const TokenizedDataset t = tokenizeDataset(d, *tokenizer, o);
  std::vector<TokenId> joined;
  for (const TokenizedExample& row : t.rows)
    joined.insert(joined.end(), row.inputIds.begin(), row.inputIds.end());
  std::vector<TokenId> expected = tokenizer->encode(d.examples[0].text, true);
  expected.push_back(*tokenizer->eosId());
  EXPECT_EQ(joined, expected);
  EXPECT_EQ(tokenizer->decode(joined, true), d.examples[0].text);
  const DatasetStatistics s = computeStatistics(t);
  EXPECT_EQ(s.examples, 1u);
  EXPECT_EQ(s.totalTokens, static_cast<std::int64_t>(expected.size()));
  EXPECT_EQ(s.truncatedExamples, 0u); // blocks, not truncation
}

TEST(RealTokenizerMasking, ChatJsonlFixtureWithQwen3PacksAndKeepsEveryAnswer) {
  if (!fs::exists(tokenizerPath("qwen3"))) GTEST_SKIP() << "no qwen3 tokenizer";
  const std::shared_ptr<Tokenizer> tokenizer = loadTokenizer("qwen3");
  const Dataset d = loadDataset(lorafa::testing::fixturesDir() + "/data/chat.jsonl");
  ProcessingOptions o;
  o.chatTemplate = ChatTemplateKind::Qwen3;
  o.maxLength = 4096;
  const TokenizedDataset unpacked = tokenizeDataset(d, *tokenizer, o);
  ASSERT_EQ(unpacked.rows.size(), 12u);
  const TokenId imEnd = *tokenizer->tokenToId("<|im_end|>");
  std::size_t answers = 0;
  for (const TokenizedExample& row : unpacked.rows) {
    for (std::size_t i = 0; i < row.labels.size(); ++i)
      answers += row.labels[i] == imEnd ? 1 : 0;
  }
  EXPECT_EQ(answers, 14u); // 12 conversations, two of them with two answers
  o.packing = true;
  o.maxLength = 64;
  const TokenizedDataset packed = tokenizeDataset(d, *tokenizer, o);
  std::size_t packedAnswers = 0;
  for (const TokenizedExample& row : packed.rows) {
    EXPECT_LE(row.inputIds.size(), 64u);
    for (const TokenId label : row.labels)
      packedAnswers += label == imEnd ? 1 : 0;
  }
  EXPECT_EQ(packedAnswers, answers);
  if (!tokenizer->chatTemplateSource().empty()) {
    EXPECT_EQ(resolveChatTemplate(*tokenizer, std::nullopt).kind, ChatTemplateKind::Qwen3);
  }
}

TEST(RealTokenizerMasking, LongConversationsMatchTokenizingEveryPrefix) {
  // The boundaries are found incrementally (text between boundaries tokenized on its own, checked
  // against the whole); here they are checked against the slow way, every prefix from the start.
  for (const auto& [name, kind] :
       {std::pair<const char*, ChatTemplateKind>{"qwen3", ChatTemplateKind::ChatML},
        std::pair<const char*, ChatTemplateKind>{"mistral", ChatTemplateKind::MistralV1},
        std::pair<const char*, ChatTemplateKind>{"gpt2", ChatTemplateKind::Plain}}) {
    SCOPED_TRACE(name);
    if (!fs::exists(tokenizerPath(name))) continue;
    const std::shared_ptr<Tokenizer> tokenizer = loadTokenizer(name);
    std::vector<ChatMessage> chat;
    for (int turn = 0; turn < 8; ++turn) {
      chat.push_back({ChatRole::User, "Question " + std::to_string(turn) + ": what is  " +
                                          std::to_string(turn * 7) + " × 3?\n(answer briefly) 🙂"});
      chat.push_back({ChatRole::Assistant, "  It is " + std::to_string(turn * 21) + ".\n\nDone. Ça va ?"});
    }
    ChatTemplateOptions options = tokenizerTemplateOptions(*tokenizer);
    const RenderedChat r = renderChat(kind, chat, options);
    const bool addBos = !templateOwnsSpecialTokens(kind);
    const MaskedTokens m = tokenizeWithMask(*tokenizer, r, addBos);
    const std::size_t lead =
        addBos ? tokenizer->encode("a", true).size() - tokenizer->encode("a", false).size() : 0;
    auto slowBoundary = [&](std::size_t offset, bool end) {
      if (offset >= r.text.size()) return m.inputIds.size();
      const std::vector<TokenId> before = tokenizer->encode(r.text.substr(0, offset), false);
      std::size_t agree = 0;
      while (agree < before.size() && lead + agree < m.inputIds.size() &&
             before[agree] == m.inputIds[lead + agree]) {
        ++agree;
      }
      return std::min(lead + agree + (agree < before.size() && end ? 1 : 0), m.inputIds.size());
    };
    std::vector<TokenId> expected(m.inputIds.size(), kIgnoreIndex);
    for (const TextSpan& s : r.responseSpans) {
      for (std::size_t i = slowBoundary(s.begin, false); i < slowBoundary(s.end, true); ++i)
        expected[i] = m.inputIds[i];
    }
    EXPECT_EQ(m.labels, expected);
    EXPECT_EQ(m.inputIds.size() - lead, tokenizer->encode(r.text, false).size());
  }
}
