// Tokenization with loss masking, truncation, packing, collation, the split and the statistics,
// with a small predictable tokenizer (DataTestSupport.h) so every expected id can be derived by
// hand; RealTokenizerMaskingTest.cpp repeats the masking checks with real tokenizers.
#include "DataTestSupport.h"

#include "data/SplitMix64.h"
#include "lorafa/Batch.h"
#include "lorafa/DataError.h"
#include "lorafa/DatasetSplit.h"
#include "lorafa/DatasetStatistics.h"
#include "lorafa/TokenizedDataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <numeric>
#include <set>

using namespace lorafa;
using lorafa::testing::FakeTokenizer;
using lorafa::testing::TempDir;

namespace {

std::vector<TokenId> ignored(std::size_t n) { return std::vector<TokenId>(n, kIgnoreIndex); }

std::vector<TokenId> concat(std::vector<TokenId> a, const std::vector<TokenId>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Dataset alpacaDataset(std::vector<std::array<std::string, 3>> records) {
  Dataset d;
  d.path = "mem.jsonl";
  d.format = DatasetFormat::Alpaca;
  std::uint64_t line = 1;
  for (auto& r : records) {
    Example e;
    e.line = line++;
    e.instruction = r[0];
    e.input = r[1];
    e.output = r[2];
    d.examples.push_back(std::move(e));
  }
  return d;
}

Dataset chatDataset(std::vector<std::vector<ChatMessage>> chats) {
  Dataset d;
  d.path = "chat.jsonl";
  d.format = DatasetFormat::Chat;
  std::uint64_t line = 1;
  for (auto& c : chats) {
    Example e;
    e.line = line++;
    e.messages = std::move(c);
    d.examples.push_back(std::move(e));
  }
  return d;
}

ProcessingOptions optionsFor(ChatTemplateKind kind, std::int64_t maxLength = 512) {
  ProcessingOptions o;
  o.chatTemplate = kind;
  o.maxLength = maxLength;
  return o;
}

} // namespace

// ---- masking ------------------------------------------------------------------------------------

TEST(Masking, ChatMlLabelsOnlyTheAnswerAndItsEndMarker) {
  FakeTokenizer tok;
  const Dataset d = chatDataset({{{ChatRole::System, "Be brief."},
                                  {ChatRole::User, "Capital of Peru?"},
                                  {ChatRole::Assistant, "Lima."}}});
  const TokenizedDataset t = tokenizeDataset(d, tok, optionsFor(ChatTemplateKind::ChatML));
  ASSERT_EQ(t.rows.size(), 1u);
  // Independently: the prompt, the response and the tail tokenized on their own.
  const auto prompt =
      tok.encode("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nCapital of Peru?<|im_end|>\n"
                 "<|im_start|>assistant\n",
                 false);
  const auto response = tok.encode("Lima.<|im_end|>", false);
  const auto tail = tok.encode("\n", false);
  EXPECT_EQ(t.rows[0].inputIds,
            concat(concat(prompt, response), tail)); // no BOS: ChatML writes its own tokens
  EXPECT_EQ(t.rows[0].labels, concat(concat(ignored(prompt.size()), response), ignored(tail.size())));
  EXPECT_EQ(t.rows[0].labels[prompt.size() + response.size() - 1], tok.idOf("<|im_end|>"));
}

TEST(Masking, AlpacaGetsTheTokenizersBosAndKeepsEosInTheLabels) {
  FakeTokenizer tok;
  const Dataset d = alpacaDataset({{"Add.", "2 and 2", "4"}});
  const TokenizedDataset t = tokenizeDataset(d, tok, optionsFor(ChatTemplateKind::Alpaca));
  const std::string promptText =
      "Below is an instruction that describes a task, paired with an input that provides "
      "further context. Write a response that appropriately completes the request.\n\n"
      "### Instruction:\nAdd.\n\n### Input:\n2 and 2\n\n### Response:";
  const auto prompt = concat({1}, tok.encode(promptText, false));       // <s> = 1
  const std::vector<TokenId> response = {tok.encode("4", false)[0], 2}; // "4" and </s> = 2
  EXPECT_EQ(t.rows[0].inputIds, concat(prompt, response));
  EXPECT_EQ(t.rows[0].labels, concat(ignored(prompt.size()), response));
}

TEST(Masking, MultiTurnChatCountsEveryAnswer) {
  FakeTokenizer tok;
  const Dataset d = chatDataset({{{ChatRole::User, "a"},
                                  {ChatRole::Assistant, "b"},
                                  {ChatRole::User, "c"},
                                  {ChatRole::Assistant, "d"}}});
  // Llama 3.1 adds its system header to the prompt; the answers and their ends are the same.
  for (const ChatTemplateKind kind : {ChatTemplateKind::Llama3, ChatTemplateKind::Llama31}) {
    const TokenizedDataset t = tokenizeDataset(d, tok, optionsFor(kind));
    const auto& row = t.rows[0];
    // Labels kept: "b", <|eot_id|>, "d", <|eot_id|>; nothing else.
    std::vector<TokenId> kept;
    for (std::size_t i = 0; i < row.labels.size(); ++i) {
      if (row.labels[i] != kIgnoreIndex) {
        EXPECT_EQ(row.labels[i], row.inputIds[i]);
        kept.push_back(row.labels[i]);
      }
    }
    const TokenId eot = tok.idOf("<|eot_id|>");
    EXPECT_EQ(kept, (std::vector<TokenId>{tok.idOf("b"), eot, tok.idOf("d"), eot})) << toString(kind);
    // The row ends with the special <|eot_id|>: the trainer's generation cases stop on it.
    EXPECT_TRUE(tok.isSpecial(row.labels.back())) << toString(kind);
    // The template writes the tokenizer's BOS text ("<s>" here) once; the tokenizer adds no second one.
    EXPECT_EQ(row.inputIds.front(), 1);
    EXPECT_EQ(std::count(row.inputIds.begin(), row.inputIds.end(), TokenId(1)), 1);
  }
}

TEST(Masking, ATokenStraddlingABoundaryCountsAsResponse) {
  FakeTokenizer tok;
  // " def" is one token: a span starting inside it (at "ef") or ending inside it still takes it.
  RenderedChat r;
  r.text = "abc def ghi";
  r.responseSpans = {TextSpan{5, 7}};
  const MaskedTokens m = tokenizeWithMask(tok, r, false);
  ASSERT_EQ(m.inputIds.size(), 3u);
  EXPECT_EQ(m.labels, (std::vector<TokenId>{kIgnoreIndex, m.inputIds[1], kIgnoreIndex}));
  r.responseSpans = {TextSpan{0, 6}};
  EXPECT_EQ(tokenizeWithMask(tok, r, false).labels,
            (std::vector<TokenId>{m.inputIds[0], m.inputIds[1], kIgnoreIndex}));
  // With the BOS first, everything shifts by one and the BOS is prompt.
  r.responseSpans = {TextSpan{3, 11}};
  const MaskedTokens withBos = tokenizeWithMask(tok, r, true);
  EXPECT_EQ(withBos.inputIds, concat({1}, m.inputIds));
  EXPECT_EQ(withBos.labels, (std::vector<TokenId>{kIgnoreIndex, kIgnoreIndex, m.inputIds[1], m.inputIds[2]}));
}

TEST(Masking, TrainOnPromptCountsEverything) {
  FakeTokenizer tok;
  ProcessingOptions o = optionsFor(ChatTemplateKind::Alpaca);
  o.trainOnPrompt = true;
  const TokenizedDataset t = tokenizeDataset(alpacaDataset({{"Add.", "", "4"}}), tok, o);
  EXPECT_EQ(t.rows[0].labels, t.rows[0].inputIds);
}

TEST(Masking, SourceTargetAsCausalDataIsAUserAndAnAssistantTurn) {
  FakeTokenizer tok;
  Dataset d;
  d.path = "p.tsv";
  d.format = DatasetFormat::SourceTarget;
  Example e;
  e.text = "dog";
  e.target = "chien";
  d.examples.push_back(e);
  const TokenizedDataset t = tokenizeDataset(d, tok, optionsFor(ChatTemplateKind::Plain));
  // Plain: "dog\n" then "chien</s>"; the tokenizer's BOS first.
  EXPECT_EQ(t.rows[0].inputIds,
            (std::vector<TokenId>{1, tok.idOf("dog"), tok.idOf("\n"), tok.idOf("chien"), 2}));
  EXPECT_EQ(t.rows[0].labels,
            (std::vector<TokenId>{kIgnoreIndex, kIgnoreIndex, kIgnoreIndex, tok.idOf("chien"), 2}));
}

// ---- truncation and errors ----------------------------------------------------------------------

TEST(Processing, TruncationCutsAtMaxLengthAndDropsRowsLeftWithoutAResponse) {
  FakeTokenizer tok;
  const std::string longInstruction = "one two three four five six seven eight nine ten";
  const Dataset d = alpacaDataset(
      {{"Hi.", "", "a b c d e f g h i j k l m n o p"}, {longInstruction, "", "x"}, {"Go.", "", "ok"}});
  ProcessingOptions o = optionsFor(ChatTemplateKind::Plain, 12);
  const TokenizedDataset t = tokenizeDataset(d, tok, o);
  // Example 0 is cut (its answer is long), example 1 loses its whole answer and is left out.
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0].exampleIndex, 0u);
  EXPECT_EQ(t.rows[0].inputIds.size(), 12u);
  EXPECT_EQ(t.rows[1].exampleIndex, 2u);
  EXPECT_EQ(t.truncatedExamples, 2u);
  EXPECT_EQ(t.droppedWithoutTargets, 1u);
  ASSERT_EQ(t.counts.size(), 3u);
  EXPECT_GT(t.counts[1].tokens, 12);
  EXPECT_TRUE(std::any_of(t.warnings.begin(), t.warnings.end(), [](const std::string& w) {
    return w.find("1 rows have no response token") != std::string::npos;
  }));
  EXPECT_TRUE(std::any_of(t.warnings.begin(), t.warnings.end(), [](const std::string& w) {
    return w.find("2 of 3 examples are longer than 12 tokens") != std::string::npos;
  }));
}

TEST(Processing, ExamplesATemplateCannotWriteFollowOnError) {
  FakeTokenizer tok;
  const Dataset d =
      chatDataset({{{ChatRole::User, "a"}, {ChatRole::Assistant, "b"}},
                   {{ChatRole::User, "a"}, {ChatRole::User, "again"}, {ChatRole::Assistant, "b"}},
                   {{ChatRole::User, "c"}, {ChatRole::Assistant, "d"}}});
  ProcessingOptions o = optionsFor(ChatTemplateKind::MistralV3);
  try {
    tokenizeDataset(d, tok, o);
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_EQ(e.line(), 2u);
    EXPECT_NE(std::string(e.what()).find("chat.jsonl:2: the mistral-v3 template needs roles alternating"),
              std::string::npos)
        << e.what();
  }
  o.onError = OnError::Skip;
  const TokenizedDataset t = tokenizeDataset(d, tok, o);
  EXPECT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.skipped.count, 1u);
  ASSERT_EQ(t.skipped.firstErrors.size(), 1u);
  EXPECT_EQ(t.skipped.firstErrors[0].rfind("chat.jsonl:2: ", 0), 0u);
}

TEST(Processing, ATokenizerWithoutEosIsReported) {
  FakeTokenizer tok(true, /*hasEos=*/false);
  const TokenizedDataset t =
      tokenizeDataset(alpacaDataset({{"a", "", "b"}}), tok, optionsFor(ChatTemplateKind::Alpaca));
  ASSERT_FALSE(t.warnings.empty());
  EXPECT_NE(t.warnings[0].find("no EOS token"), std::string::npos);
}

TEST(Processing, ProgressIsReportedAndCanCancel) {
  FakeTokenizer tok;
  const Dataset d = alpacaDataset({{"a", "", "b"}, {"c", "", "d"}});
  ProcessingOptions o = optionsFor(ChatTemplateKind::Alpaca);
  std::vector<std::size_t> seen;
  o.progress = [&](std::size_t done, std::size_t total) {
    EXPECT_EQ(total, 2u);
    seen.push_back(done);
    return true;
  };
  tokenizeDataset(d, tok, o);
  EXPECT_EQ(seen, (std::vector<std::size_t>{0, 2}));
  o.progress = [](std::size_t, std::size_t) { return false; };
  EXPECT_THROW(tokenizeDataset(d, tok, o), std::runtime_error);
}

TEST(Processing, SubsetsAreTokenizedInTheGivenOrder) {
  FakeTokenizer tok;
  const Dataset d = alpacaDataset({{"a", "", "b"}, {"c", "", "d"}, {"e", "", "f"}});
  const TokenizedDataset t = tokenizeDataset(d, {2, 0}, tok, optionsFor(ChatTemplateKind::Alpaca));
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0].exampleIndex, 2u);
  EXPECT_EQ(t.rows[1].exampleIndex, 0u);
}

// ---- packing and plain text -------------------------------------------------------------------

TEST(Packing, ConcatenatesExamplesAndCutsRowsOfExactlyMaxLength) {
  FakeTokenizer tok;
  const Dataset d = chatDataset({{{ChatRole::User, "q1"}, {ChatRole::Assistant, "a1 a1 a1"}},
                                 {{ChatRole::User, "q2"}, {ChatRole::Assistant, "a2"}},
                                 {{ChatRole::User, "q3 q3 q3 q3"}, {ChatRole::Assistant, "a3 a3"}}});
  ProcessingOptions unpackedOptions = optionsFor(ChatTemplateKind::ChatML);
  const TokenizedDataset unpacked = tokenizeDataset(d, tok, unpackedOptions);
  ProcessingOptions o = optionsFor(ChatTemplateKind::ChatML, 16);
  o.packing = true;
  const TokenizedDataset packed = tokenizeDataset(d, tok, o);
  EXPECT_TRUE(packed.packed);
  EXPECT_EQ(packed.truncatedExamples, 0u);

  // The stream: each example, then EOS (ChatML examples end with "\n", not with EOS).
  std::vector<TokenId> stream;
  std::vector<TokenId> streamLabels;
  for (const TokenizedExample& row : unpacked.rows) {
    stream = concat(stream, row.inputIds);
    stream.push_back(2);
    streamLabels = concat(streamLabels, row.labels);
    streamLabels.push_back(kIgnoreIndex);
  }
  std::vector<TokenId> joined;
  std::vector<TokenId> joinedLabels;
  std::size_t segmentStarts = 0;
  for (std::size_t r = 0; r < packed.rows.size(); ++r) {
    const TokenizedExample& row = packed.rows[r];
    if (r + 1 < packed.rows.size()) {
      EXPECT_EQ(row.inputIds.size(), 16u);
    }
    EXPECT_EQ(std::accumulate(row.segmentLengths.begin(), row.segmentLengths.end(), std::int64_t(0)),
              static_cast<std::int64_t>(row.inputIds.size()));
    // The first label of every segment after the first is not counted.
    std::int64_t at = 0;
    for (std::size_t s = 0; s < row.segmentLengths.size(); ++s) {
      if (s > 0) {
        EXPECT_EQ(row.labels[static_cast<std::size_t>(at)], kIgnoreIndex);
      }
      at += row.segmentLengths[s];
    }
    segmentStarts += row.segmentLengths.size();
    joined = concat(joined, row.inputIds);
    joinedLabels = concat(joinedLabels, row.labels);
  }
  EXPECT_EQ(joined, stream);
  EXPECT_GT(packed.rows.size(), 1u);
  EXPECT_GE(segmentStarts, 3u);
  // Labels equal the unpacked ones except at segment starts (response tokens never start one here).
  EXPECT_EQ(joinedLabels, streamLabels);
}

TEST(Packing, PlainTextIsOneStreamWithBosAndEosPerDocument) {
  FakeTokenizer tok;
  Dataset d;
  d.path = "docs.jsonl";
  d.format = DatasetFormat::PlainText;
  for (const auto& [text, doc] :
       {std::pair<std::string, std::size_t>{"one two ", 0}, {"three", 0}, {"four five six", 1}}) {
    Example e;
    e.text = text;
    e.document = doc;
    d.examples.push_back(e);
  }
  const TokenizedDataset t = tokenizeDataset(d, tok, optionsFor(ChatTemplateKind::Plain, 4));
  std::vector<TokenId> expected =
      concat(concat({1}, tok.encode("one two ", false)), tok.encode("three", false));
  expected.push_back(2);
  const std::size_t firstDocument = expected.size();
  expected = concat(concat(expected, {1}), tok.encode("four five six", false));
  expected.push_back(2);
  std::vector<TokenId> joined;
  for (const TokenizedExample& row : t.rows) {
    EXPECT_LE(row.inputIds.size(), 4u);
    joined = concat(joined, row.inputIds);
  }
  EXPECT_EQ(joined, expected);
  ASSERT_EQ(t.counts.size(), 2u); // per document
  EXPECT_EQ(t.counts[0].tokens, static_cast<std::int64_t>(firstDocument));
  EXPECT_EQ(t.counts[1].tokens, static_cast<std::int64_t>(expected.size() - firstDocument));
  EXPECT_EQ(t.truncatedExamples, 0u);
}

TEST(Packing, MobyDickChapterBecomesFullBlocks) {
  FakeTokenizer tok;
  const Dataset d = loadDataset(lorafa::testing::fixturesDir() + "/data/moby_dick_chapter_1.txt");
  const TokenizedDataset t = tokenizeDataset(d, tok, optionsFor(ChatTemplateKind::Plain, 128));
  ASSERT_GT(t.rows.size(), 10u);
  for (std::size_t i = 0; i + 1 < t.rows.size(); ++i) {
    EXPECT_EQ(t.rows[i].inputIds.size(), 128u);
  }
  std::vector<TokenId> joined;
  for (const TokenizedExample& row : t.rows)
    joined = concat(joined, row.inputIds);
  EXPECT_EQ(joined, concat(concat({1}, tok.encode(d.examples[0].text, false)), {2}));
  EXPECT_EQ(tok.decode(joined, true), d.examples[0].text);
}

// ---- sequence-to-sequence and classification -------------------------------------------------

TEST(Processing, Seq2SeqKeepsSourceAndTargetApart) {
  FakeTokenizer tok;
  Dataset d;
  d.path = "p.tsv";
  d.format = DatasetFormat::SourceTarget;
  Example e;
  e.text = "the cat sleeps";
  e.target = "le chat dort bien";
  d.examples.push_back(e);
  ProcessingOptions o;
  o.task = TaskType::Seq2Seq;
  o.maxLength = 8;
  o.maxTargetLength = 3;
  const TokenizedDataset t = tokenizeDataset(d, tok, o);
  EXPECT_EQ(t.task, TaskType::Seq2Seq);
  EXPECT_EQ(t.rows[0].inputIds, concat({1}, tok.encode("the cat sleeps", false)));
  // The target is cut to 3 tokens including the tokenizer's leading special token.
  EXPECT_EQ(t.rows[0].labels, (std::vector<TokenId>{1, tok.idOf("le"), tok.idOf(" chat")}));
  EXPECT_EQ(t.truncatedExamples, 1u);
}

TEST(Processing, ClassificationRowsCarryTheLabel) {
  FakeTokenizer tok;
  const Dataset d = loadDataset(lorafa::testing::fixturesDir() + "/data/spam_ham.csv");
  ProcessingOptions o;
  o.maxLength = 32;
  const TokenizedDataset t = tokenizeDataset(d, tok, o);
  EXPECT_EQ(t.task, TaskType::Classification);
  ASSERT_EQ(t.rows.size(), 200u);
  EXPECT_EQ(t.rows[0].classLabel, 0); // ham
  EXPECT_EQ(t.rows[1].classLabel, 1); // spam
  EXPECT_TRUE(t.rows[0].labels.empty());
  for (const TokenizedExample& row : t.rows) {
    EXPECT_LE(row.inputIds.size(), 32u);
    EXPECT_EQ(row.inputIds.front(), 1);
  }
  EXPECT_GT(t.truncatedExamples, 100u);
  EXPECT_EQ(t.labelNames, (std::vector<std::string>{"ham", "spam"}));
}

TEST(Processing, TasksMustFitTheData) {
  FakeTokenizer tok;
  ProcessingOptions o;
  o.task = TaskType::Seq2Seq;
  EXPECT_THROW(tokenizeDataset(chatDataset({{{ChatRole::User, "a"}, {ChatRole::Assistant, "b"}}}), tok, o),
               DataError);
  o.task = TaskType::Classification;
  EXPECT_THROW(tokenizeDataset(alpacaDataset({{"a", "", "b"}}), tok, o), DataError);
}

// ---- collation --------------------------------------------------------------------------------

TEST(Collate, PadsToTheLongestRowWithMaskAndIgnoredLabels) {
  TokenizedDataset t;
  t.task = TaskType::CausalLm;
  t.padId = 3;
  TokenizedExample a;
  a.inputIds = {10, 11, 12};
  a.labels = {kIgnoreIndex, 11, 12};
  a.segmentLengths = {3};
  TokenizedExample b;
  b.inputIds = {20, 21, 22, 23, 24};
  b.labels = {kIgnoreIndex, kIgnoreIndex, 22, 23, 24};
  b.segmentLengths = {5};
  t.rows = {a, b};

  const Batch batch = collate(t, {0, 1});
  EXPECT_EQ(batch.rows, 2);
  EXPECT_EQ(batch.columns, 5);
  EXPECT_EQ(batch.inputIds, (std::vector<TokenId>{10, 11, 12, 3, 3, 20, 21, 22, 23, 24}));
  EXPECT_EQ(batch.attentionMask, (std::vector<std::int64_t>{1, 1, 1, 0, 0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(batch.labels, (std::vector<TokenId>{kIgnoreIndex, 11, 12, kIgnoreIndex, kIgnoreIndex,
                                                kIgnoreIndex, kIgnoreIndex, 22, 23, 24}));
  EXPECT_EQ(batch.positionIds, (std::vector<std::int64_t>{0, 1, 2, 0, 0, 0, 1, 2, 3, 4}));
  EXPECT_EQ(batch.segmentIds, (std::vector<std::int64_t>{0, 0, 0, -1, -1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(batch.labelColumns, 5);
  EXPECT_EQ(batch.tokenCount, 8);
  EXPECT_EQ(batch.trainableTokens, 5);

  CollateOptions left;
  left.padLeft = true;
  left.padToMultipleOf = 4;
  const Batch l = collate(t, {0}, left);
  EXPECT_EQ(l.columns, 4);
  EXPECT_EQ(l.inputIds, (std::vector<TokenId>{3, 10, 11, 12}));
  EXPECT_EQ(l.attentionMask, (std::vector<std::int64_t>{0, 1, 1, 1}));
  EXPECT_EQ(l.labels, (std::vector<TokenId>{kIgnoreIndex, kIgnoreIndex, 11, 12}));

  EXPECT_THROW(collate(t, {}), std::invalid_argument);
  EXPECT_THROW(collate(t, {2}), std::out_of_range);
}

TEST(Collate, PackedRowsGetPositionsAndSegmentsPerExample) {
  FakeTokenizer tok;
  const Dataset d = alpacaDataset({{"a", "", "b"}, {"c", "", "d"}, {"e", "", "f"}});
  ProcessingOptions o = optionsFor(ChatTemplateKind::Plain, 5);
  o.packing = true;
  const TokenizedDataset t = tokenizeDataset(d, tok, o);
  // Each example: <s> x \n y </s> = 5 tokens, so each row is one example.
  ASSERT_EQ(t.rows.size(), 3u);
  o.maxLength = 10;
  const TokenizedDataset two = tokenizeDataset(d, tok, o);
  ASSERT_EQ(two.rows.size(), 2u);
  EXPECT_EQ(two.rows[0].segmentLengths, (std::vector<std::int64_t>{5, 5}));
  CollateOptions eight;
  eight.padToMultipleOf = 8;
  const Batch b = collate(two, {0, 1}, eight);
  EXPECT_EQ(b.columns, 16);
  const std::vector<std::int64_t> firstRowPositions(b.positionIds.begin(), b.positionIds.begin() + 16);
  EXPECT_EQ(firstRowPositions, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0}));
  const std::vector<std::int64_t> firstRowSegments(b.segmentIds.begin(), b.segmentIds.begin() + 16);
  EXPECT_EQ(firstRowSegments,
            (std::vector<std::int64_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1}));
}

TEST(Collate, Seq2SeqAndClassificationLabelShapes) {
  TokenizedDataset s;
  s.task = TaskType::Seq2Seq;
  TokenizedExample a;
  a.inputIds = {5, 6};
  a.labels = {7, 8, 9};
  a.segmentLengths = {2};
  TokenizedExample b;
  b.inputIds = {5, 6, 7, 8};
  b.labels = {9};
  b.segmentLengths = {4};
  s.rows = {a, b};
  const Batch batch = collate(s, {0, 1});
  EXPECT_EQ(batch.columns, 4);
  EXPECT_EQ(batch.labelColumns, 3);
  EXPECT_EQ(batch.labels, (std::vector<TokenId>{7, 8, 9, 9, kIgnoreIndex, kIgnoreIndex}));

  TokenizedDataset c;
  c.task = TaskType::Classification;
  a.classLabel = 1;
  b.classLabel = 0;
  c.rows = {a, b};
  const Batch cb = collate(c, {1, 0});
  EXPECT_EQ(cb.labelColumns, 1);
  EXPECT_EQ(cb.labels, (std::vector<TokenId>{0, 1}));
  EXPECT_EQ(cb.rowIndices, (std::vector<std::size_t>{1, 0}));
}

// ---- split and batch order -------------------------------------------------------------------

TEST(Split, SplitMix64MatchesThePublishedTestVector) {
  SplitMix64 random(1234567);
  EXPECT_EQ(random.next(), 6457827717110365317ULL);
  EXPECT_EQ(random.next(), 3203168211198807973ULL);
  EXPECT_EQ(random.next(), 9817491932198370423ULL);
  EXPECT_EQ(random.next(), 4593380528125082431ULL);
  EXPECT_EQ(random.next(), 16408922859458223821ULL);
}

TEST(Split, IsDeterministicDisjointAndComplete) {
  const DatasetSplit a = splitTrainValidation(1000, 0.1, 42);
  const DatasetSplit b = splitTrainValidation(1000, 0.1, 42);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.validation, b.validation);
  EXPECT_EQ(a.validation.size(), 100u);
  EXPECT_EQ(a.train.size(), 900u);
  EXPECT_TRUE(std::is_sorted(a.train.begin(), a.train.end()));
  std::set<std::size_t> all(a.train.begin(), a.train.end());
  all.insert(a.validation.begin(), a.validation.end());
  EXPECT_EQ(all.size(), 1000u);
  EXPECT_NE(splitTrainValidation(1000, 0.1, 43).validation, a.validation);
  // Not just the first or last indices.
  EXPECT_LT(a.validation.front(), 100u);
  EXPECT_GT(a.validation.back(), 900u);
}

TEST(Split, FollowsTheDocumentedAlgorithm) {
  // Fisher–Yates over 0..9 with SplitMix64(7), validation = the first round(0.3·10) = 3.
  SplitMix64 random(7);
  std::vector<std::size_t> items(10);
  std::iota(items.begin(), items.end(), std::size_t(0));
  for (std::size_t i = items.size(); i > 1; --i)
    std::swap(items[i - 1], items[random.below(i)]);
  std::vector<std::size_t> expected(items.begin(), items.begin() + 3);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(splitTrainValidation(10, 0.3, 7).validation, expected);
}

TEST(Split, EdgeCasesAndStratification) {
  EXPECT_EQ(splitTrainValidation(5, 0.0, 1).validation.size(), 0u);
  EXPECT_EQ(splitTrainValidation(5, 0.01, 1).validation.size(), 1u); // at least one
  EXPECT_EQ(splitTrainValidation(2, 0.9, 1).validation.size(), 1u);  // train keeps one
  EXPECT_EQ(splitTrainValidation(1, 0.5, 1).validation.size(), 0u);
  EXPECT_THROW(splitTrainValidation(10, 1.0, 1), std::invalid_argument);
  EXPECT_THROW(splitTrainValidation(0, 0.1, 1), std::invalid_argument);

  std::vector<std::int64_t> labels(100, 0);
  for (std::size_t i = 0; i < 10; ++i)
    labels[i * 10] = 1; // 10% of class 1
  const DatasetSplit s = splitTrainValidation(100, 0.2, 5, labels);
  EXPECT_EQ(s.validation.size(), 20u);
  const auto ones =
      std::count_if(s.validation.begin(), s.validation.end(), [&](std::size_t i) { return labels[i] == 1; });
  EXPECT_EQ(ones, 2);
  EXPECT_THROW(splitTrainValidation(100, 0.2, 5, {1, 2}), std::invalid_argument);
}

TEST(BatchOrder, ShufflesPerEpochDeterministically) {
  const auto e0 = batchOrder(10, 4, true, 1, 0);
  EXPECT_EQ(e0, batchOrder(10, 4, true, 1, 0));
  EXPECT_NE(e0, batchOrder(10, 4, true, 1, 1));
  ASSERT_EQ(e0.size(), 3u);
  EXPECT_EQ(e0[2].size(), 2u);
  std::vector<std::size_t> all;
  for (const auto& batch : e0)
    all.insert(all.end(), batch.begin(), batch.end());
  std::sort(all.begin(), all.end());
  std::vector<std::size_t> expected(10);
  std::iota(expected.begin(), expected.end(), std::size_t(0));
  EXPECT_EQ(all, expected);
  EXPECT_EQ(batchOrder(10, 4, true, 1, 0, true).size(), 2u);
  EXPECT_EQ(batchOrder(5, 2, false, 1, 0), (std::vector<std::vector<std::size_t>>{{0, 1}, {2, 3}, {4}}));
}

// ---- statistics and preview ------------------------------------------------------------------

TEST(Statistics, LengthsHistogramPercentilesAndTruncation) {
  TokenizedDataset t;
  t.maxLength = 50;
  for (std::int64_t length = 1; length <= 100; ++length) {
    ExampleTokenCount c;
    c.tokens = length;
    c.trainableTokens = length / 2;
    t.counts.push_back(c);
  }
  const DatasetStatistics s = computeStatistics(t, 0, 10);
  EXPECT_EQ(s.examples, 100u);
  EXPECT_EQ(s.minTokens, 1);
  EXPECT_EQ(s.maxTokens, 100);
  EXPECT_DOUBLE_EQ(s.meanTokens, 50.5);
  EXPECT_EQ(s.p50Tokens, 50);
  EXPECT_EQ(s.p90Tokens, 90);
  EXPECT_EQ(s.p99Tokens, 99);
  EXPECT_EQ(s.totalTokens, 5050);
  EXPECT_EQ(s.maxLength, 50);
  EXPECT_EQ(s.truncatedExamples, 50u);
  EXPECT_EQ(s.truncatedTokens, 50 * 51 / 2);
  // 10 bins over 0..100 → width 20 (11 would be needed for width 10, rounded up to 20): 6 bins.
  ASSERT_EQ(s.histogram.size(), 6u);
  EXPECT_EQ(s.histogram[0].from, 0);
  EXPECT_EQ(s.histogram[0].to, 20);
  EXPECT_EQ(s.histogram[0].count, 19u); // 1..19
  EXPECT_EQ(s.histogram[5].count, 1u);  // 100
  std::size_t total = 0;
  for (const HistogramBin& b : s.histogram)
    total += b.count;
  EXPECT_EQ(total, 100u);
  // At another length.
  EXPECT_EQ(computeStatistics(t, 90).truncatedExamples, 10u);
}

TEST(Statistics, LabelDistributionAndRealData) {
  FakeTokenizer tok;
  const Dataset d = loadDataset(lorafa::testing::fixturesDir() + "/data/spam_ham.csv");
  ProcessingOptions o;
  o.maxLength = 64;
  const TokenizedDataset t = tokenizeDataset(d, tok, o);
  const DatasetStatistics s = computeStatistics(t);
  ASSERT_EQ(s.labels.size(), 2u);
  EXPECT_EQ(s.labels[0].name, "ham");
  EXPECT_EQ(s.labels[0].count, 100u);
  EXPECT_EQ(s.labels[1].count, 100u);
  EXPECT_EQ(s.examples, 200u);
  EXPECT_EQ(s.truncatedExamples, t.truncatedExamples);
  EXPECT_LE(s.minTokens, s.p50Tokens);
  EXPECT_LE(s.p50Tokens, s.p95Tokens);
  EXPECT_LE(s.p95Tokens, s.maxTokens);
}

TEST(Preview, ShowsMaskedAndTrainedParts) {
  FakeTokenizer tok;
  const Dataset d = loadDataset(lorafa::testing::fixturesDir() + "/data/alpaca.jsonl");
  ProcessingOptions o = optionsFor(ChatTemplateKind::Alpaca, 40);
  const std::vector<ExamplePreview> p = previewExamples(d, tok, o, 3);
  ASSERT_EQ(p.size(), 3u);
  ASSERT_EQ(p[0].segments.size(), 2u);
  EXPECT_FALSE(p[0].segments[0].trained);
  EXPECT_EQ(p[0].segments[0].text.rfind("Below is an instruction", 0), 0u);
  EXPECT_TRUE(p[0].segments[1].trained);
  EXPECT_EQ(p[0].segments[1].text, "Red, green and blue.</s>");
  EXPECT_EQ(p[0].line, 1u);
  EXPECT_GT(p[0].tokens, p[0].trainableTokens);
  EXPECT_TRUE(p[0].truncated); // the prompt alone is longer than 40 tokens here

  // A conversation the template cannot write shows why.
  const Dataset chat =
      chatDataset({{{ChatRole::User, "a"}, {ChatRole::User, "b"}, {ChatRole::Assistant, "c"}}});
  const auto bad = previewExamples(chat, tok, optionsFor(ChatTemplateKind::MistralV1), 1);
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_NE(bad[0].error.find("alternating"), std::string::npos);

  const Dataset spam = loadDataset(lorafa::testing::fixturesDir() + "/data/spam_ham.csv");
  const auto cls = previewExamples(spam, tok, ProcessingOptions(), 2);
  EXPECT_EQ(cls[0].label, "ham");
  EXPECT_EQ(cls[1].label, "spam");
}
