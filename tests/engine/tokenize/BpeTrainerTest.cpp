// The byte-level BPE trainer: merges worked out by hand on tiny corpora, the same merges as the
// official Hugging Face trainer on fixture texts (trainer_reference.json, written by
// tests/fixtures/tokenizers/trained/generate_trainer_reference.py), round trips, determinism,
// errors, and — when the project's Python environment has the PyPI package `tokenizers`
// (packaging/requirements.txt) — the same ids from Hugging Face's encoder as from ours on a
// trained tokenizer.json.
#include "lorafa/BpeTraining.h"
#include "lorafa/FormatError.h"
#include "lorafa/Tokenizer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <unistd.h>

// The Python that runs the reference encoder (tests/CMakeLists.txt passes the LORAFA_PYTHON cache
// variable); empty: none, and the live check skips.
#ifndef LORAFA_PYTHON
#define LORAFA_PYTHON ""
#endif

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using lorafa::BpeTrainerOptions;
using lorafa::TrainedBpe;

const fs::path kFixtures(LORAFA_FIXTURES_DIR);
const fs::path kSourceRoot = kFixtures.parent_path().parent_path();

std::string readText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void writeText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A fresh directory under the system's temporary folder, removed at the end of the test.
class TempDir {
public:
  TempDir() {
    std::random_device random;
    m_path = fs::temp_directory_path() /
             ("lorafa-bpe-test-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
    fs::create_directories(m_path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(m_path, ec);
  }
  const fs::path& path() const { return m_path; }

private:
  fs::path m_path;
};

// No special tokens, no BOS: the vocabulary is the 256 bytes, then the merges.
BpeTrainerOptions plainOptions(lorafa::BpePreTokenizer preTokenizer = lorafa::BpePreTokenizer::Gpt2) {
  BpeTrainerOptions o;
  o.specialTokens.clear();
  o.bosToken.clear();
  o.eosToken.clear();
  o.padToken.clear();
  o.addBosToken = false;
  o.preTokenizer = preTokenizer;
  o.minFrequency = 0;
  return o;
}

std::vector<std::string> mergeStrings(const TrainedBpe& bpe) {
  std::vector<std::string> out;
  for (const auto& [left, right] : bpe.merges)
    out.push_back(left + " " + right);
  return out;
}

// Fixture texts for round trips and the reference comparison.
std::vector<std::string> sampleTexts() {
  std::vector<std::string> texts;
  const std::string multilingual = readText(kFixtures / "tokenizers" / "trained" / "multilingual.txt");
  std::istringstream lines(multilingual);
  for (std::string line; std::getline(lines, line);)
    texts.push_back(line);
  texts.push_back(multilingual);
  texts.push_back(readText(kFixtures / "data" / "moby_dick_chapter_1.txt"));
  texts.push_back(readText(kFixtures / "data" / "en_fr_pairs.tsv"));
  texts.push_back("");
  texts.push_back(" ");
  texts.push_back("\r\n\r\n\t \n");
  texts.push_back("<s>Call me Ishmael.</s><pad><pad>");
  texts.push_back("unseen characters: \xC5\xBD\xC5\xBD \xF0\x9F\xA6\x80 \xE2\x82\xAC 99999999 \x7F end");
  texts.push_back(std::string("nul\0byte", 8));
  return texts;
}

// The demo configuration: Llama 3 split, <s> </s> <pad>, BOS prepended.
TrainedBpe trainDemo(const BpeTrainerOptions& options) {
  return lorafa::trainBpe({(kFixtures / "data" / "moby_dick_chapter_1.txt").string(),
                           (kFixtures / "tokenizers" / "trained" / "multilingual.txt").string()},
                          options);
}

// ---------------------------------------------------------------------------------------------
// Hand-checked merges.

TEST(BpeTrainer, MergesWorkedOutByHand) {
  // GPT-2 split: "ab" x1, "Ġab" x2, "Ġabc" x2. Pair counts: (a,b) 5, (Ġ,a) 4, (b,c) 2.
  // 1. a b (5) → words ab, Ġ|ab x2, Ġ|ab|c x2: (Ġ,ab) 4, (ab,c) 2.
  // 2. Ġ ab (4) → Ġab x2, Ġab|c x2: (Ġab,c) 2.   3. Ġab c (2). Then no pair is left.
  BpeTrainerOptions o = plainOptions();
  o.vocabSize = 300;
  const TrainedBpe bpe = lorafa::trainBpeOnTexts({"ab ab ab abc abc"}, o);
  EXPECT_EQ(mergeStrings(bpe), (std::vector<std::string>{"a b", "\xC4\xA0 ab",
                                                         "\xC4\xA0"
                                                         "ab c"}));
  ASSERT_EQ(bpe.tokens.size(), 259u);
  EXPECT_EQ(bpe.tokens[256], "ab");
  EXPECT_EQ(bpe.tokens[257], "\xC4\xA0"
                             "ab");
  EXPECT_EQ(bpe.tokens[258], "\xC4\xA0"
                             "abc");
  EXPECT_TRUE(bpe.stoppedEarly);
  EXPECT_EQ(bpe.words, 5);
  EXPECT_EQ(bpe.uniqueWords, 3);
  // The byte alphabet is sorted by code point of its byte-level character: '!' (byte 0x21)
  // first, ..., then U+0100 (byte 0x00).
  EXPECT_EQ(bpe.tokens[0], "!");
  EXPECT_EQ(bpe.tokens[188], "\xC4\x80");
}

TEST(BpeTrainer, EqualCountsGoToTheSmallestIdPair) {
  // "xy", "Ġyx": (x,y), (Ġ,y), (y,x) all once. Ids follow code points: x < y < Ġ, so (x,y)
  // first; then (y,x) before (Ġ,y); then (Ġ,yx).
  BpeTrainerOptions o = plainOptions();
  o.vocabSize = 300;
  const TrainedBpe bpe = lorafa::trainBpeOnTexts({"xy yx"}, o);
  EXPECT_EQ(mergeStrings(bpe), (std::vector<std::string>{"x y", "y x", "\xC4\xA0 yx"}));
}

TEST(BpeTrainer, MinimumFrequencyAndVocabularySizeStopTheMerges) {
  BpeTrainerOptions o = plainOptions();
  o.vocabSize = 300;
  o.minFrequency = 3; // "Ġab c" is seen twice only
  TrainedBpe bpe = lorafa::trainBpeOnTexts({"ab ab ab abc abc"}, o);
  EXPECT_EQ(mergeStrings(bpe), (std::vector<std::string>{"a b", "\xC4\xA0 ab"}));
  EXPECT_TRUE(bpe.stoppedEarly);

  o.minFrequency = 0;
  o.vocabSize = 257; // room for one merge
  bpe = lorafa::trainBpeOnTexts({"ab ab ab abc abc"}, o);
  EXPECT_EQ(mergeStrings(bpe), (std::vector<std::string>{"a b"}));
  EXPECT_FALSE(bpe.stoppedEarly);
  EXPECT_EQ(bpe.tokens.size(), 257u);
}

TEST(BpeTrainer, SpecialTokensComeFirstAndNothingIsLearnedAcrossThem) {
  BpeTrainerOptions o; // <s> </s> <pad>
  o.vocabSize = 400;
  o.minFrequency = 1;
  const TrainedBpe bpe = lorafa::trainBpeOnTexts({"ab<s>ab</s>ab<pad>ab\n<s>ab<s>"}, o);
  ASSERT_GE(bpe.tokens.size(), 259u);
  EXPECT_EQ(bpe.tokens[0], "<s>");
  EXPECT_EQ(bpe.tokens[1], "</s>");
  EXPECT_EQ(bpe.tokens[2], "<pad>");
  EXPECT_EQ(bpe.tokens[3], "!");
  // Only "ab" and the newline are words: one merge.
  EXPECT_EQ(mergeStrings(bpe), (std::vector<std::string>{"a b"}));
  EXPECT_EQ(bpe.words, 6);
}

TEST(BpeTrainer, Llama3SplitKeepsDigitsInGroupsOfThree) {
  BpeTrainerOptions o = plainOptions(lorafa::BpePreTokenizer::Llama3);
  o.vocabSize = 400;
  const TrainedBpe bpe = lorafa::trainBpeOnTexts({"12345 12345 1234567 9876543210"}, o);
  for (const std::string& token : bpe.tokens) {
    EXPECT_LE(std::count_if(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; }), 3)
        << token;
  }
  EXPECT_EQ(mergeStrings(bpe).front(), "1 2");
}

// ---------------------------------------------------------------------------------------------
// The Hugging Face trainer's merges.

TEST(BpeTrainer, LearnsTheSameMergesAsTheHuggingFaceTrainer) {
  const Json reference =
      Json::parse(readText(kFixtures / "tokenizers" / "trained" / "trainer_reference.json"));
  ASSERT_GE(reference.at("cases").size(), 4u);
  for (const Json& c : reference.at("cases")) {
    const std::string name =
        c.at("input").get<std::string>() + " / " + c.at("pre_tokenizer").get<std::string>();
    BpeTrainerOptions o = plainOptions(c.at("pre_tokenizer") == "gpt2" ? lorafa::BpePreTokenizer::Gpt2
                                                                       : lorafa::BpePreTokenizer::Llama3);
    o.includeAllBytes = false; // the reference trainer has no initial alphabet
    o.vocabSize = 30000;       // its default: more than these texts can fill
    const TrainedBpe bpe = lorafa::trainBpe({(kFixtures / c.at("input").get<std::string>()).string()}, o);
    const auto expected = c.at("merges").get<std::vector<std::string>>();
    const auto merges = mergeStrings(bpe);
    ASSERT_EQ(merges.size(), expected.size()) << name;
    for (std::size_t i = 0; i < merges.size(); ++i) {
      ASSERT_EQ(merges[i], expected[i]) << name << ": merge " << i;
    }
    EXPECT_EQ(static_cast<std::int64_t>(bpe.tokens.size()), c.at("vocab_size").get<std::int64_t>()) << name;
  }
}

// ---------------------------------------------------------------------------------------------
// The written tokenizer.

TEST(BpeTrainer, TrainedTokenizerRoundTripsAnyText) {
  BpeTrainerOptions o;
  o.vocabSize = 1000;
  const TrainedBpe bpe = trainDemo(o);
  EXPECT_EQ(bpe.tokens.size(), 1000u);
  TempDir dir;
  lorafa::saveBpeTokenizer(bpe, o, dir.path().string());
  const auto tokenizer = lorafa::Tokenizer::load(dir.path().string());
  EXPECT_EQ(tokenizer->vocabSize(), 1000);
  EXPECT_EQ(tokenizer->bosId(), 0);
  EXPECT_EQ(tokenizer->eosId(), 1);
  EXPECT_EQ(tokenizer->padId(), 2);
  EXPECT_FALSE(tokenizer->unkId().has_value());
  EXPECT_TRUE(tokenizer->isSpecial(0) && tokenizer->isSpecial(1) && tokenizer->isSpecial(2));
  for (const std::string& text : sampleTexts()) {
    const auto ids = tokenizer->encode(text, false);
    EXPECT_EQ(tokenizer->decode(ids), text) << text.substr(0, 80);
    const auto withBos = tokenizer->encode(text, true);
    ASSERT_EQ(withBos.size(), ids.size() + 1);
    EXPECT_EQ(withBos.front(), 0);
  }
  // Merges pay off: a page of the training text needs far fewer tokens than bytes (about 2.9
  // bytes a token with this small vocabulary).
  const std::string moby = readText(kFixtures / "data" / "moby_dick_chapter_1.txt");
  EXPECT_LT(tokenizer->encode(moby, false).size(), moby.size() / 2);

  const Json config = Json::parse(readText(dir.path() / "tokenizer_config.json"));
  EXPECT_EQ(config.at("tokenizer_class"), "PreTrainedTokenizerFast");
  EXPECT_EQ(config.at("bos_token"), "<s>");
  EXPECT_EQ(config.at("eos_token"), "</s>");
  EXPECT_EQ(config.at("pad_token"), "<pad>");
  EXPECT_EQ(config.at("model_max_length"), 2048);
  EXPECT_EQ(config.at("added_tokens_decoder").at("1").at("content"), "</s>");
}

TEST(BpeTrainer, OutputDependsOnlyOnTheInput) {
  BpeTrainerOptions o;
  o.vocabSize = 800;
  o.threads = 1;
  const std::string one = lorafa::bpeTokenizerJson(trainDemo(o), o);
  o.threads = 3;
  const std::string three = lorafa::bpeTokenizerJson(trainDemo(o), o);
  EXPECT_EQ(one, three);
  EXPECT_EQ(one, lorafa::bpeTokenizerJson(trainDemo(o), o));
}

TEST(BpeTrainer, ReportsProgressAndCanBeCancelled) {
  BpeTrainerOptions o;
  o.vocabSize = 700;
  std::vector<lorafa::BpeTrainingProgress> seen;
  lorafa::BpeTrainingCallbacks callbacks;
  callbacks.onProgress = [&](const lorafa::BpeTrainingProgress& p) { seen.push_back(p); };
  const auto moby = (kFixtures / "data" / "moby_dick_chapter_1.txt").string();
  lorafa::trainBpe({moby}, o, callbacks);
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen.front().stage, lorafa::BpeTrainingProgress::Stage::CountingWords);
  EXPECT_EQ(seen.back().stage, lorafa::BpeTrainingProgress::Stage::Done);
  EXPECT_EQ(seen.back().mergesDone, 700 - 259);
  const auto counted = std::find_if(seen.begin(), seen.end(), [](const auto& p) {
    return p.stage == lorafa::BpeTrainingProgress::Stage::CountingWords && p.bytesDone == p.bytesTotal;
  });
  EXPECT_NE(counted, seen.end());

  callbacks.shouldStop = [] { return true; };
  EXPECT_THROW(lorafa::trainBpe({moby}, o, callbacks), lorafa::BpeTrainingCancelled);
}

// ---------------------------------------------------------------------------------------------
// Errors a user can act on.

template <typename Error, typename F> std::string errorOf(F f) {
  try {
    f();
  } catch (const Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "no error thrown";
  return {};
}

TEST(BpeTrainer, InvalidUtf8NamesTheFileAndByteOffset) {
  TempDir dir;
  const fs::path file = dir.path() / "latin1.txt";
  writeText(file, "first line\ncaf\xE9 au lait\n");
  const std::string message =
      errorOf<lorafa::FormatError>([&] { lorafa::trainBpe({file.string()}, BpeTrainerOptions{}); });
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find("byte offset 14"), std::string::npos) << message;
  EXPECT_NE(message.find("line 2"), std::string::npos) << message;
  EXPECT_NE(message.find("0xE9"), std::string::npos) << message;
}

TEST(BpeTrainer, UnreadableInputNamesTheFile) {
  const std::string missing = (fs::temp_directory_path() / "lorafa-no-such-corpus.txt").string();
  const std::string message =
      errorOf<lorafa::FormatError>([&] { lorafa::trainBpe({missing}, BpeTrainerOptions{}); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_NE(errorOf<lorafa::FormatError>([&] {
              lorafa::trainBpe({kFixtures.string()}, BpeTrainerOptions{});
            }).find("directory"),
            std::string::npos);
  EXPECT_NE(
      errorOf<std::invalid_argument>([&] { lorafa::trainBpe({}, BpeTrainerOptions{}); }).find("no training"),
      std::string::npos);
  EXPECT_NE(errorOf<std::invalid_argument>([&] {
              lorafa::trainBpeOnTexts({"", ""}, BpeTrainerOptions{});
            }).find("empty"),
            std::string::npos);
}

TEST(BpeTrainer, UnusableOptionsAreRefused) {
  const auto refuse = [](const BpeTrainerOptions& o) {
    return errorOf<std::invalid_argument>([&] { lorafa::trainBpeOnTexts({"some text"}, o); });
  };
  BpeTrainerOptions o;
  o.vocabSize = 258;
  const std::string small = refuse(o);
  EXPECT_NE(small.find("vocabulary size 258 is too small"), std::string::npos) << small;
  EXPECT_NE(small.find("at least 259"), std::string::npos) << small;
  o = {};
  o.bosToken = "<bos>";
  EXPECT_NE(refuse(o).find("bos token \"<bos>\" is not one of the special tokens"), std::string::npos);
  o = {};
  o.specialTokens = {"<s>", "</s>", "<s>", "<pad>"};
  EXPECT_NE(refuse(o).find("given twice"), std::string::npos);
  o = {};
  o.specialTokens.push_back("");
  EXPECT_NE(refuse(o).find("empty"), std::string::npos);
  o = {};
  o.minFrequency = -1;
  EXPECT_NE(refuse(o).find("minimum frequency"), std::string::npos);
  o = plainOptions();
  o.addBosToken = true;
  EXPECT_NE(refuse(o).find("bos token"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Live check with the Hugging Face encoder: the PyPI package `tokenizers` in the project's Python
// environment (LORAFA_PYTHON, set by CMake: .venv/bin/python unless configured otherwise).

std::string shellQuoted(const std::string& s) {
  std::string out = "'";
  for (const char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

TEST(BpeTrainer, HuggingFaceEncodesTheTrainedTokenizerIdentically) {
  const fs::path script = kFixtures / "tokenizers" / "trained" / "encode_with_reference.py";
  const std::string python = LORAFA_PYTHON;
  if (python.empty() || !fs::exists(python)) {
    GTEST_SKIP() << "no Python environment at \"" << python
                 << "\" (LORAFA_PYTHON): run bash packaging/install-deps.sh, which makes .venv";
  }
  const std::string probe = shellQuoted(python) + " -c 'import tokenizers' > /dev/null 2>&1";
  if (std::system(probe.c_str()) != 0) {
    GTEST_SKIP() << python << " has no module tokenizers: run bash packaging/install-deps.sh (or pip install "
                 << "the tokenizers== line of packaging/requirements.txt into it)";
  }
  TempDir dir;
  const std::vector<std::string> texts = sampleTexts();
  writeText(dir.path() / "texts.json", Json(texts).dump());
  for (const auto preTokenizer : {lorafa::BpePreTokenizer::Llama3, lorafa::BpePreTokenizer::Gpt2}) {
    BpeTrainerOptions o;
    o.vocabSize = 1200;
    o.preTokenizer = preTokenizer;
    lorafa::saveBpeTokenizer(trainDemo(o), o, dir.path().string());
    const fs::path out = dir.path() / "reference.json";
    const std::string command = shellQuoted(python) + " " + shellQuoted(script.string()) + " " +
                                shellQuoted((dir.path() / "tokenizer.json").string()) + " " +
                                shellQuoted((dir.path() / "texts.json").string()) + " " +
                                shellQuoted(out.string());
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    const Json reference = Json::parse(readText(out));
    const auto tokenizer = lorafa::Tokenizer::load(dir.path().string());
    ASSERT_EQ(reference.size(), texts.size());
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const std::string shown = "sample text " + std::to_string(i);
      EXPECT_EQ(tokenizer->encode(texts[i], true), reference[i].at("ids").get<std::vector<lorafa::TokenId>>())
          << shown;
      const auto plain = reference[i].at("ids_plain").get<std::vector<lorafa::TokenId>>();
      EXPECT_EQ(tokenizer->encode(texts[i], false), plain) << shown;
      EXPECT_EQ(tokenizer->decode(plain), reference[i].at("decoded").get<std::string>()) << shown;
    }
  }
}

} // namespace
