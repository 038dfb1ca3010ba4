// Dataset loading from real files: each test writes its files to a fresh temporary directory,
// and the shipped samples under tests/fixtures/data are loaded as they are.
#include "DataTestSupport.h"

#include "data/TextUtil.h"
#include "lorafa/DataError.h"
#include "lorafa/Dataset.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace lorafa;
using lorafa::testing::TempDir;

namespace {

// The DataError of loading `path`, or a failure.
DataError loadError(const std::string& path, const DatasetOptions& options = {}) {
  try {
    loadDataset(path, options);
  } catch (const DataError& e) {
    return e;
  }
  ADD_FAILURE() << "no DataError for " << path;
  return DataError(path, 0, "<no error>");
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string fixture(const std::string& name) { return lorafa::testing::fixturesDir() + "/data/" + name; }

const std::string kAlpacaLine = R"({"instruction": "Add.", "input": "2 and 2", "output": "4"})";

} // namespace

// ---- Alpaca -----------------------------------------------------------------------------------

TEST(DatasetLoader, AlpacaJsonLinesIsDetectedAndInputIsOptional) {
  TempDir dir;
  const std::string path = dir.write(
      "train.jsonl", kAlpacaLine + "\n\n" + R"({"instruction": "Greet.", "output": "Hello!"})" + "\n" +
                         R"({"instruction": "Name it.", "input": null, "output": "A"})" + "\n");
  const Dataset d = loadDataset(path);
  EXPECT_EQ(d.format, DatasetFormat::Alpaca);
  EXPECT_EQ(d.fileType, DatasetFileType::JsonLines);
  ASSERT_EQ(d.examples.size(), 3u);
  EXPECT_EQ(d.examples[0].instruction, "Add.");
  EXPECT_EQ(d.examples[0].input, "2 and 2");
  EXPECT_EQ(d.examples[0].output, "4");
  EXPECT_EQ(d.examples[1].input, "");
  EXPECT_EQ(d.examples[1].line, 3u); // the blank line 2 is skipped
  EXPECT_EQ(d.examples[2].line, 4u);
  EXPECT_EQ(d.skipped.count, 0u);
}

TEST(DatasetLoader, AlpacaJsonArrayKeepsEachRecordsLine) {
  TempDir dir;
  const std::string path =
      dir.write("alpaca_data.json", "[\n"
                                    "  {\n"
                                    "    \"instruction\": \"Add.\",\n"
                                    "    \"input\": \"1 and 1\",\n"
                                    "    \"output\": \"2\"\n"
                                    "  },\n"
                                    "  {\"instruction\": \"Say [hi], {please}\", \"output\": \"hi\"}\n"
                                    "]\n");
  const Dataset d = loadDataset(path);
  EXPECT_EQ(d.fileType, DatasetFileType::JsonArray);
  EXPECT_EQ(d.format, DatasetFormat::Alpaca);
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.examples[0].line, 2u);
  EXPECT_EQ(d.examples[1].line, 7u);
  EXPECT_EQ(d.examples[1].instruction, "Say [hi], {please}"); // brackets inside strings are text
}

TEST(DatasetLoader, BrokenJsonOnLine7NamesFileLineAndColumn) {
  TempDir dir;
  std::string text;
  for (int i = 1; i <= 6; ++i)
    text += kAlpacaLine + "\n";
  text += R"({"instruction": "Add.", "output": "4",})"
          "\n"; // line 7: trailing comma
  text += kAlpacaLine + "\n";
  const std::string path = dir.write("broken.jsonl", text);
  const DataError e = loadError(path);
  EXPECT_EQ(e.line(), 7u);
  EXPECT_EQ(e.path(), path);
  EXPECT_TRUE(contains(e.what(), path + ":7:")) << e.what();
  EXPECT_TRUE(contains(e.what(), "invalid JSON")) << e.what();
  EXPECT_GT(e.column(), 30u) << e.what(); // the error is at the end of the line, not at its start
}

TEST(DatasetLoader, SkipModeCountsAndReportsMalformedRecords) {
  TempDir dir;
  std::string text;
  for (int i = 1; i <= 10; ++i) {
    if (i == 3) {
      text += R"({"instruction": "no output here"})"
              "\n";
    } else if (i == 7) {
      text += "{not json\n";
    } else if (i == 9) {
      text += R"({"instruction": 5, "output": "x"})"
              "\n";
    } else {
      text += kAlpacaLine + "\n";
    }
  }
  const std::string path = dir.write("mixed.jsonl", text);
  DatasetOptions options;
  options.onError = OnError::Skip;
  options.maxReportedErrors = 2;
  const Dataset d = loadDataset(path, options);
  EXPECT_EQ(d.examples.size(), 7u);
  EXPECT_EQ(d.recordsRead, 10u);
  EXPECT_EQ(d.skipped.count, 3u);
  ASSERT_EQ(d.skipped.firstErrors.size(), 2u); // only the first two messages are kept
  EXPECT_TRUE(contains(d.skipped.firstErrors[0], path + ":3:")) << d.skipped.firstErrors[0];
  EXPECT_TRUE(contains(d.skipped.firstErrors[0], "missing key \"output\"")) << d.skipped.firstErrors[0];
  EXPECT_TRUE(contains(d.skipped.firstErrors[1], path + ":7:")) << d.skipped.firstErrors[1];

  // The same file stops at the first bad record by default.
  const DataError e = loadError(path);
  EXPECT_EQ(e.line(), 3u);
  EXPECT_TRUE(
      contains(e.what(), "missing key \"output\" (an Alpaca record needs \"instruction\" and \"output\""))
      << e.what();
}

TEST(DatasetLoader, WrongTypesAndNonObjectsAreRecordErrors) {
  TempDir dir;
  EXPECT_TRUE(contains(loadError(dir.write("a.jsonl", kAlpacaLine + "\n" +
                                                          R"({"instruction": "x", "output": 5})"
                                                          "\n"))
                           .what(),
                       ":2:1: key \"output\" must be a string, found number"));
  EXPECT_TRUE(contains(loadError(dir.write("b.jsonl", kAlpacaLine + "\n[1, 2]\n")).what(),
                       ":2:1: a record must be a JSON object {…}, found array"));
}

TEST(DatasetLoader, JsonArrayLayoutErrors) {
  TempDir dir;
  // A trailing comma is a record error (skippable); the records before it load.
  DatasetOptions skip;
  skip.onError = OnError::Skip;
  const Dataset d =
      loadDataset(dir.write("trailing.json", "[" + kAlpacaLine + ",\n" + kAlpacaLine + ",\n]"), skip);
  EXPECT_EQ(d.examples.size(), 2u);
  ASSERT_EQ(d.skipped.count, 1u);
  EXPECT_TRUE(contains(d.skipped.firstErrors[0], ":3:1: expected a record before ']'"))
      << d.skipped.firstErrors[0];
  // An array never closed and text after the array spoil the whole file, even when skipping.
  const DataError open =
      loadError(dir.write("open.json", "[\n" + kAlpacaLine + ",\n" + kAlpacaLine + "\n"), skip);
  EXPECT_EQ(open.line(), 1u);
  EXPECT_TRUE(contains(open.what(), "never closed")) << open.what();
  const DataError after = loadError(dir.write("after.json", "[" + kAlpacaLine + "]\n]\n"), skip);
  EXPECT_EQ(after.line(), 2u);
  EXPECT_TRUE(contains(after.what(), "after the JSON array's closing ']'")) << after.what();
  // A bad element is found at its own line.
  const DataError bad = loadError(
      dir.write("bad.json", "[\n" + kAlpacaLine + ",\n  {\"instruction\": \"x\",\n   \"output\": }\n]"));
  EXPECT_EQ(bad.line(), 4u);
  EXPECT_TRUE(contains(bad.what(), "invalid JSON")) << bad.what();
}

TEST(DatasetLoader, InvalidUtf8IsReportedWithLineColumnAndReason) {
  TempDir dir;
  const std::string path =
      dir.write("latin1.jsonl", kAlpacaLine + "\n" + "{\"instruction\": \"caf\xE9\", \"output\": \"x\"}\n");
  const DataError e = loadError(path);
  EXPECT_EQ(e.line(), 2u);
  EXPECT_EQ(e.column(), 21u); // byte 0xE9 is the 21st byte of the line
  const std::string byte = std::to_string(kAlpacaLine.size() + 1 + 20);
  EXPECT_TRUE(contains(e.what(), "invalid UTF-8 at byte " + byte +
                                     " of the file: lead byte 0xE9 is not followed by a continuation byte"))
      << e.what();
  // The same inside a JSON array element spread over lines, and in a CSV field.
  const DataError inArray =
      loadError(dir.write("a.json", "[\n  {\"instruction\": \"x\",\n   \"output\": \"\xC3\"}\n]"));
  EXPECT_EQ(inArray.line(), 3u);
  EXPECT_EQ(inArray.column(), 15u);
  EXPECT_TRUE(
      contains(inArray.what(), "invalid UTF-8 at byte 39 of the file: lead byte 0xC3 is not followed"))
      << inArray.what();
  const DataError inCsv = loadError(dir.write("c.csv", "text,label\n\"ok\nbad \xF8\",a\n"));
  EXPECT_EQ(inCsv.line(), 3u);
  EXPECT_EQ(inCsv.column(), 5u);
  EXPECT_TRUE(
      contains(inCsv.what(), "invalid UTF-8 at byte 19 of the file: byte 0xF8 cannot appear in UTF-8"))
      << inCsv.what();
}

TEST(DatasetLoader, ByteOrderMarkAndCrLfAreAccepted) {
  TempDir dir;
  const Dataset d =
      loadDataset(dir.write("bom.jsonl", "\xEF\xBB\xBF" + kAlpacaLine + "\r\n" + kAlpacaLine + "\r\n"));
  EXPECT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.examples[0].output, "4");
}

TEST(DatasetLoader, EmptyAndAllSkippedDatasetsAreErrors) {
  TempDir dir;
  EXPECT_TRUE(contains(loadError(dir.write("empty.jsonl", "\n\n")).what(), "the dataset is empty"));
  DatasetOptions skip;
  skip.onError = OnError::Skip;
  skip.format = DatasetFormat::Alpaca;
  const DataError none = loadError(dir.write("none.jsonl", "{broken\n{\"instruction\": \"x\"}\n"), skip);
  EXPECT_TRUE(contains(none.what(), "no usable record: all 2 records were skipped; the first: "))
      << none.what();
  EXPECT_TRUE(contains(none.what(), "none.jsonl:1:")) << none.what();
}

TEST(DatasetLoader, UnknownRecordShapeAsksForTheFormat) {
  TempDir dir;
  const DataError e = loadError(dir.write("odd.jsonl", R"({"question": "q", "answer": "a"})"
                                                       "\n"));
  EXPECT_TRUE(contains(e.what(), "cannot tell the dataset format")) << e.what();
  EXPECT_TRUE(contains(e.what(), "\"question\", \"answer\"")) << e.what();
  // Naming the keys fixes it.
  DatasetOptions options;
  options.sourceColumn = "question";
  options.targetColumn = "answer";
  const Dataset d = loadDataset(dir.path("odd.jsonl"), options);
  EXPECT_EQ(d.format, DatasetFormat::SourceTarget);
  EXPECT_EQ(d.examples[0].text, "q");
  EXPECT_EQ(d.examples[0].target, "a");
}

TEST(DatasetLoader, DetectFormatLooksAtExtensionAndFirstRecord) {
  TempDir dir;
  EXPECT_EQ(detectDatasetFormat(dir.write("a.json", "[" + kAlpacaLine + "]")).fileType,
            DatasetFileType::JsonArray);
  EXPECT_EQ(detectDatasetFormat(dir.write("b.json", kAlpacaLine)).fileType, DatasetFileType::JsonLines);
  EXPECT_EQ(detectDatasetFormat(dir.write("c.data", "{\"text\": \"x\"}\n")).format, DatasetFormat::PlainText);
  EXPECT_EQ(detectDatasetFormat(dir.write("d.txt", "hello")).format, DatasetFormat::PlainText);
  const DatasetDetection csv = detectDatasetFormat(dir.write("e.csv", "text,label\nhi,a\n"));
  EXPECT_EQ(csv.fileType, DatasetFileType::Csv);
  EXPECT_EQ(csv.format, DatasetFormat::Classification);
  EXPECT_THROW(detectDatasetFormat(dir.write("f.bin", "\x01\x02")), DataError);
  // A manual override wins.
  DatasetOptions options;
  options.fileType = DatasetFileType::JsonLines;
  EXPECT_EQ(detectDatasetFormat(dir.path("c.data"), options).fileType, DatasetFileType::JsonLines);
}

TEST(DatasetLoader, MaxRecordsReadsOnlyTheStart) {
  DatasetOptions options;
  options.maxRecords = 5;
  const Dataset d = loadDataset(fixture("alpaca.jsonl"), options);
  EXPECT_EQ(d.examples.size(), 5u);
}

// ---- chat ---------------------------------------------------------------------------------------

TEST(DatasetLoader, ChatMessagesLoadWithRoles) {
  const Dataset d = loadDataset(fixture("chat.jsonl"));
  EXPECT_EQ(d.format, DatasetFormat::Chat);
  EXPECT_EQ(d.chatStyle, "messages");
  ASSERT_EQ(d.examples.size(), 12u);
  const std::vector<ChatMessage>& m = d.examples[0].messages;
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].role, ChatRole::System);
  EXPECT_EQ(m[1].role, ChatRole::User);
  EXPECT_EQ(m[2].role, ChatRole::Assistant);
  EXPECT_EQ(m[2].content, "Lisbon.");
  EXPECT_EQ(d.examples[2].messages.size(), 4u);
}

TEST(DatasetLoader, ShareGptConversationsMapHumanGptAndSystem) {
  const Dataset d = loadDataset(fixture("sharegpt.jsonl"));
  EXPECT_EQ(d.format, DatasetFormat::Chat);
  EXPECT_EQ(d.chatStyle, "conversations");
  ASSERT_EQ(d.examples.size(), 3u);
  const std::vector<ChatMessage>& m = d.examples[0].messages;
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].role, ChatRole::System);
  EXPECT_EQ(m[1].role, ChatRole::User);
  EXPECT_EQ(m[1].content, "What is a noun?");
  EXPECT_EQ(m[2].role, ChatRole::Assistant);
}

TEST(DatasetLoader, ChatRecordProblemsNameTheMessage) {
  TempDir dir;
  const std::string good =
      R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})";
  EXPECT_TRUE(contains(
      loadError(
          dir.write(
              "tool.jsonl",
              good + "\n" +
                  R"({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "y"}]})"
                  "\n"))
          .what(),
      ":2:1: messages[1] has the role \"tool\", which is not supported"));
  EXPECT_TRUE(
      contains(loadError(dir.write("noanswer.jsonl", good + "\n" +
                                                         R"({"messages": [{"role": "user", "content": "x"}]})"
                                                         "\n"))
                   .what(),
               ":2:1: the conversation has no assistant message"));
  EXPECT_TRUE(contains(loadError(dir.write("nocontent.jsonl", good + "\n" +
                                                                  R"({"messages": [{"role": "user"}]})"
                                                                  "\n"))
                           .what(),
                       "messages[0] has no \"content\""));
  // OpenAI content parts are joined.
  const Dataset parts = loadDataset(dir.write(
      "parts.jsonl",
      R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}, {"role": "assistant", "content": "c"}]})"
      "\n"));
  EXPECT_EQ(parts.examples[0].messages[0].content, "ab");
}

TEST(DatasetLoader, ChatDataInCsvIsRefused) {
  TempDir dir;
  DatasetOptions options;
  options.format = DatasetFormat::Chat;
  EXPECT_TRUE(
      contains(loadError(dir.write("c.csv", "messages\nx\n"), options).what(), "needs JSON Lines or JSON"));
}

// ---- CSV / TSV classification ----------------------------------------------------------------

TEST(DatasetLoader, CsvFollowsRfc4180Quoting) {
  TempDir dir;
  const std::string path = dir.write("reviews.csv",
                                     "id,review,stars\r\n"
                                     "1,plain text,good\r\n"
                                     "2,\"with, a comma\",bad\r\n"
                                     "3,\"two\r\nlines and \"\"quotes\"\"\",good\r\n"
                                     "4,\"\",bad\r\n"
                                     "5,a \"quote\" inside,good"); // no final line break
  DatasetOptions options;
  options.textColumn = "review";
  options.labelColumn = "stars";
  const Dataset d = loadDataset(path, options);
  EXPECT_EQ(d.format, DatasetFormat::Classification);
  ASSERT_EQ(d.examples.size(), 5u);
  EXPECT_EQ(d.examples[0].text, "plain text");
  EXPECT_EQ(d.examples[1].text, "with, a comma");
  EXPECT_EQ(d.examples[2].text, "two\r\nlines and \"quotes\"");
  EXPECT_EQ(d.examples[2].line, 4u);
  EXPECT_EQ(d.examples[3].text, "");
  EXPECT_EQ(d.examples[3].line, 6u); // the quoted line break counts
  EXPECT_EQ(d.examples[4].text, "a \"quote\" inside");
  // Labels sorted: bad = 0, good = 1.
  EXPECT_EQ(d.labelNames, (std::vector<std::string>{"bad", "good"}));
  EXPECT_EQ(d.examples[0].label, 1);
  EXPECT_EQ(d.examples[1].label, 0);
}

TEST(DatasetLoader, CsvUnterminatedQuoteStopsEvenWhenSkipping) {
  TempDir dir;
  const std::string path =
      dir.write("broken.csv", "text,label\nfine,a\nalso fine,b\n\"never closed,a\nmore,b\nlast,a\n");
  DatasetOptions options;
  options.onError = OnError::Skip;
  const DataError e = loadError(path, options);
  EXPECT_EQ(e.line(), 4u);
  EXPECT_EQ(e.column(), 1u);
  EXPECT_TRUE(contains(e.what(), path + ":4:1: unterminated quoted field")) << e.what();
}

TEST(DatasetLoader, CsvRecordErrorsAreSkippable) {
  TempDir dir;
  const std::string path = dir.write("rows.csv", "text,label\n"
                                                 "ok,a\n"
                                                 "too,many,fields\n"
                                                 "\"quoted\"junk,b\n"
                                                 "missing label,\n"
                                                 "ok again,b\n");
  DatasetOptions options;
  options.onError = OnError::Skip;
  const Dataset d = loadDataset(path, options);
  EXPECT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.skipped.count, 3u);
  ASSERT_EQ(d.skipped.firstErrors.size(), 3u);
  EXPECT_TRUE(contains(d.skipped.firstErrors[0], ":3: the record has 3 fields, the header has 2"))
      << d.skipped.firstErrors[0];
  EXPECT_TRUE(contains(d.skipped.firstErrors[1], ":4:9: unexpected \"j\" after the closing quote"))
      << d.skipped.firstErrors[1];
  EXPECT_TRUE(contains(d.skipped.firstErrors[2], ":5: the label is empty")) << d.skipped.firstErrors[2];
}

TEST(DatasetLoader, MissingColumnAndSingleClassAreClearErrors) {
  TempDir dir;
  const DataError missing = loadError(dir.write("m.csv", "text,category\nx,a\n"), [] {
    DatasetOptions o;
    o.format = DatasetFormat::Classification;
    return o;
  }());
  EXPECT_EQ(missing.line(), 1u);
  EXPECT_TRUE(contains(missing.what(), "no column \"label\" in the header (columns: \"text\", \"category\")"))
      << missing.what();
  const DataError single = loadError(dir.write("s.csv", "text,label\nx,spam\ny,spam\n"));
  EXPECT_TRUE(contains(single.what(),
                       "every example has the label \"spam\": a classifier needs at least two classes"))
      << single.what();
}

TEST(DatasetLoader, LabelsSortNumericallyOrFollowAGivenMapping) {
  TempDir dir;
  const std::string path = dir.write("n.csv", "text,label\na,10\nb,2\nc,1\nd,2\n");
  const Dataset sorted = loadDataset(path);
  EXPECT_EQ(sorted.labelNames, (std::vector<std::string>{"1", "2", "10"}));
  EXPECT_EQ(sorted.examples[0].label, 2);
  EXPECT_EQ(sorted.examples[2].label, 0);

  DatasetOptions given;
  given.labelNames = {"10", "2", "1"};
  const Dataset mapped = loadDataset(path, given);
  EXPECT_EQ(mapped.labelNames, given.labelNames);
  EXPECT_EQ(mapped.examples[0].label, 0);
  EXPECT_EQ(mapped.examples[2].label, 2);

  given.labelNames = {"1", "2"};
  const DataError unknown = loadError(path, given);
  EXPECT_EQ(unknown.line(), 2u);
  EXPECT_TRUE(contains(unknown.what(), "the label \"10\" is not one of the given labels")) << unknown.what();
}

TEST(DatasetLoader, ClassificationFromJsonLinesTakesStringOrIntegerLabels) {
  TempDir dir;
  const Dataset d =
      loadDataset(dir.write("c.jsonl", "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\": 0}\n"));
  EXPECT_EQ(d.format, DatasetFormat::Classification);
  EXPECT_EQ(d.labelNames, (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(d.examples[0].label, 1);
}

TEST(DatasetLoader, SpamAssassinSampleLoadsAsTwoBalancedClasses) {
  const Dataset d = loadDataset(fixture("spam_ham.csv"));
  EXPECT_EQ(d.format, DatasetFormat::Classification);
  EXPECT_EQ(d.fileType, DatasetFileType::Csv);
  ASSERT_EQ(d.examples.size(), 200u);
  EXPECT_EQ(d.labelNames, (std::vector<std::string>{"ham", "spam"}));
  const auto spam =
      std::count_if(d.examples.begin(), d.examples.end(), [](const Example& e) { return e.label == 1; });
  EXPECT_EQ(spam, 100);
  EXPECT_EQ(d.examples[1].label, 1);
  EXPECT_EQ(d.examples[1].text.rfind(
                "Subject: Life Insurance - Why Pay More?\n\n<!DOCTYPE HTML PUBLIC \"-//W3C", 0),
            0u);
  // Quoted fields hold line breaks, so records start on later and later lines.
  EXPECT_GT(d.examples.back().line, 1000u);
  EXPECT_EQ(d.skipped.count, 0u);
}

// ---- source/target -----------------------------------------------------------------------------

TEST(DatasetLoader, SourceTargetFromTsvWithChosenColumns) {
  DatasetOptions options;
  options.sourceColumn = "english";
  options.targetColumn = "french";
  const Dataset d = loadDataset(fixture("en_fr_pairs.tsv"), options);
  EXPECT_EQ(d.format, DatasetFormat::SourceTarget);
  EXPECT_EQ(d.fileType, DatasetFileType::Tsv);
  ASSERT_EQ(d.examples.size(), 12u);
  EXPECT_EQ(d.examples[2].text, "Where is the station?");
  EXPECT_EQ(d.examples[2].target, "Où est la gare ?");
}

TEST(DatasetLoader, SourceTargetFromJsonLines) {
  TempDir dir;
  const Dataset d = loadDataset(dir.write("p.jsonl", "{\"source\": \"dog\", \"target\": \"chien\"}\n"));
  EXPECT_EQ(d.format, DatasetFormat::SourceTarget);
  EXPECT_EQ(d.examples[0].target, "chien");
  const DataError e = loadError(
      dir.write("q.jsonl", "{\"source\": \"dog\", \"target\": \"chien\"}\n{\"source\": \"cat\"}\n"));
  EXPECT_TRUE(contains(e.what(), ":2:1: missing key \"target\"")) << e.what();
}

// ---- plain text --------------------------------------------------------------------------------

TEST(DatasetLoader, PlainTextKeepsTheFileExactly) {
  const Dataset d = loadDataset(fixture("moby_dick_chapter_1.txt"));
  EXPECT_EQ(d.format, DatasetFormat::PlainText);
  ASSERT_EQ(d.examples.size(), 1u); // one piece: the file is under 1 MiB
  std::ifstream in(fixture("moby_dick_chapter_1.txt"), std::ios::binary);
  const std::string whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(d.examples[0].text, whole);
  EXPECT_EQ(d.examples[0].text.rfind("CHAPTER 1. Loomings.\n\nCall me Ishmael.", 0), 0u);
}

TEST(DatasetLoader, LargePlainTextIsCutIntoPiecesAtParagraphBreaks) {
  TempDir dir;
  std::string paragraph(1000, 'x');
  paragraph += "\n\n";
  std::string text;
  for (int i = 0; i < 2500; ++i)
    text += paragraph; // ~2.5 MB
  const Dataset d = loadDataset(dir.write("big.txt", text));
  ASSERT_GE(d.examples.size(), 2u);
  std::string joined;
  for (const Example& e : d.examples) {
    joined += e.text;
    EXPECT_EQ(e.document, 0u);
    EXPECT_EQ(e.text.rfind("xxx", 0), 0u); // every piece starts a paragraph
  }
  EXPECT_EQ(joined, text);
  EXPECT_EQ(d.examples[1].line, 1 + 2 * (d.examples[0].text.size() / paragraph.size()));
}

TEST(DatasetLoader, PlainTextInvalidUtf8NamesTheLine) {
  TempDir dir;
  const std::string path = dir.write("bad.txt", "fine\nstill fine\nbroken \xFF here\n");
  const DataError e = loadError(path);
  EXPECT_EQ(e.line(), 3u);
  EXPECT_EQ(e.column(), 8u);
  EXPECT_TRUE(contains(e.what(), "invalid UTF-8 at byte 23 of the file: byte 0xFF cannot appear in UTF-8"))
      << e.what();
  DatasetOptions skip;
  skip.onError = OnError::Skip;
  const Dataset d = loadDataset(path, skip);
  EXPECT_EQ(d.examples[0].text, "fine\nstill fine\n");
  EXPECT_EQ(d.skipped.count, 1u);
}

TEST(DatasetLoader, PlainTextFromJsonLinesIsOneDocumentPerRecord) {
  TempDir dir;
  const Dataset d = loadDataset(dir.write("docs.jsonl", "{\"text\": \"first\"}\n{\"text\": \"second\"}\n"));
  EXPECT_EQ(d.format, DatasetFormat::PlainText);
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.examples[0].document, 0u);
  EXPECT_EQ(d.examples[1].document, 1u);
}

TEST(DatasetLoader, MissingFileNamesIt) {
  try {
    loadDataset("/no/such/dir/data.jsonl");
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_TRUE(contains(e.what(), "/no/such/dir/data.jsonl: cannot open the file")) << e.what();
  }
}

TEST(DatasetLoader, NamesRoundTrip) {
  for (const DatasetFormat f :
       {DatasetFormat::Auto, DatasetFormat::Alpaca, DatasetFormat::Chat, DatasetFormat::PlainText,
        DatasetFormat::Classification, DatasetFormat::SourceTarget}) {
    EXPECT_EQ(parseDatasetFormat(toString(f)), f);
  }
  for (const DatasetFileType t :
       {DatasetFileType::Auto, DatasetFileType::JsonLines, DatasetFileType::JsonArray, DatasetFileType::Csv,
        DatasetFileType::Tsv, DatasetFileType::Text}) {
    EXPECT_EQ(parseDatasetFileType(toString(t)), t);
  }
  EXPECT_EQ(parseOnError("SKIP"), OnError::Skip);
  EXPECT_FALSE(parseOnError("ignore"));
}

TEST(Utf8Check, FindsEachKindOfMalformedSequence) {
  EXPECT_FALSE(findInvalidUtf8("plain ASCII, café, 日本, 🙂"));
  const auto at = [](std::string_view text) { return findInvalidUtf8(text); };
  ASSERT_TRUE(at("ab\x80"));
  EXPECT_EQ(at("ab\x80")->offset, 2u);
  EXPECT_NE(at("ab\x80")->reason.find("continuation byte 0x80 without a lead byte"), std::string::npos);
  EXPECT_NE(at("\xC0\xAF")->reason.find("overlong"), std::string::npos);             // '/' in two bytes
  EXPECT_NE(at("\xE0\x80\xAF")->reason.find("overlong"), std::string::npos);         // '/' in three bytes
  EXPECT_NE(at("\xED\xA0\x80")->reason.find("surrogate"), std::string::npos);        // U+D800
  EXPECT_NE(at("\xF4\x90\x80\x80")->reason.find("out-of-range"), std::string::npos); // above U+10FFFF
  EXPECT_NE(at("x\xF0\x9F\x99")->reason.find("truncated character"), std::string::npos);
  EXPECT_EQ(at("x\xF0\x9F\x99")->offset, 1u);
  EXPECT_NE(at("\xFE")->reason.find("cannot appear"), std::string::npos);
}

TEST(Utf8Check, PythonStripRemovesUnicodeSpaceOnly) {
  EXPECT_EQ(stripPythonWhitespace(" \t\n\v\f\r\x1C x y \xC2\xA0\xE2\x80\x83\xE3\x80\x80"), "x y");
  EXPECT_EQ(stripPythonWhitespace("\xE2\x80\x8B"
                                  "x"),
            "\xE2\x80\x8B"
            "x"); // zero-width space is not a space
  EXPECT_EQ(stripPythonWhitespace("   "), "");
  EXPECT_EQ(stripPythonWhitespace("\xC3"), "\xC3"); // malformed bytes are left alone
}
