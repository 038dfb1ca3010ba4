#include "TokenizerTrainCommand.h"

#include "lorafa/BpeTraining.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace lorafa::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string role(const std::optional<std::string>& given, const char* fallback,
                 const std::vector<std::string>& specials) {
  if (given) return *given == "none" ? std::string() : *given;
  return std::find(specials.begin(), specials.end(), fallback) != specials.end() ? fallback : "";
}

std::string megabytes(std::int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return text;
}

std::string seconds(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", s);
  return text;
}

// Checked before training (fail fast), created after it (no empty folder left by a failure).
void checkOutput(const std::string& dir, bool force) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) throw std::runtime_error(dir + ": exists and is not a directory");
    if (!force && !fs::is_empty(dir, ec)) {
      throw std::runtime_error(dir + ": the output folder is not empty (--force writes into it anyway)");
    }
  }
}

void createOutput(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error(dir + ": cannot create the output folder: " + ec.message());
}

/// One progress line: rewritten in place on a terminal, else a line per tenth of each stage.
class ProgressLine {
public:
  ProgressLine(std::ostream& err, bool terminal) : m_err(err), m_terminal(terminal), m_start(Clock::now()) {}

  void update(const BpeTrainingProgress& p) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - m_start).count();
    std::string line;
    int tenth = 0;
    if (p.stage == BpeTrainingProgress::Stage::CountingWords) {
      const double f =
          p.bytesTotal > 0 ? static_cast<double>(p.bytesDone) / static_cast<double>(p.bytesTotal) : 1.0;
      tenth = static_cast<int>(f * 10);
      line = "counting words: " + megabytes(p.bytesDone) + " / " + megabytes(p.bytesTotal) + " (" +
             std::to_string(static_cast<int>(f * 100)) + "%)";
    } else if (p.stage == BpeTrainingProgress::Stage::Merging) {
      if (m_stage != p.stage) m_mergeStart = Clock::now();
      const double f =
          p.mergesTarget > 0 ? static_cast<double>(p.mergesDone) / static_cast<double>(p.mergesTarget) : 1.0;
      tenth = 10 + static_cast<int>(f * 10);
      const double merging = std::chrono::duration<double>(Clock::now() - m_mergeStart).count();
      line = "merging: " + std::to_string(p.mergesDone) + " / " + std::to_string(p.mergesTarget) + " (" +
             std::to_string(static_cast<int>(f * 100)) + "%)";
      // Early merges visit the most words, so this estimate errs on the long side.
      if (f > 0.02) line += ", about " + seconds(merging * (1 - f) / f) + " left";
    } else {
      if (m_terminal && m_shown) m_err << "\r\033[K" << std::flush;
      return;
    }
    m_stage = p.stage;
    line += ", " + seconds(elapsed);
    if (m_terminal) {
      m_err << "\r\033[K" << line << std::flush;
      m_shown = true;
    } else if (tenth != m_lastTenth) {
      m_err << line << "\n";
      m_lastTenth = tenth;
    }
  }

private:
  std::ostream& m_err;
  bool m_terminal;
  bool m_shown = false;
  int m_lastTenth = -1;
  Clock::time_point m_start;
  Clock::time_point m_mergeStart;
  BpeTrainingProgress::Stage m_stage = BpeTrainingProgress::Stage::Done;
};

} // namespace

int runTokenizerTrain(const TokenizerTrainOptions& options, std::ostream& out, std::ostream& err,
                      bool errIsTerminal) {
  BpeTrainerOptions trainer;
  trainer.vocabSize = options.vocabSize;
  trainer.minFrequency = options.minFrequency;
  trainer.specialTokens = options.specialTokens;
  trainer.bosToken = role(options.bosToken, "<s>", options.specialTokens);
  trainer.eosToken = role(options.eosToken, "</s>", options.specialTokens);
  trainer.padToken = role(options.padToken, "<pad>", options.specialTokens);
  trainer.addBosToken = !options.noBos && !trainer.bosToken.empty();
  if (options.preTokenizer == "llama3") {
    trainer.preTokenizer = BpePreTokenizer::Llama3;
  } else if (options.preTokenizer == "gpt2") {
    trainer.preTokenizer = BpePreTokenizer::Gpt2;
  } else {
    throw std::invalid_argument("--pre-tokenizer must be llama3 or gpt2, found \"" + options.preTokenizer +
                                "\"");
  }
  trainer.modelMaxLength = options.modelMaxLength;
  trainer.threads = options.threads;

  checkOutput(options.outputDir, options.force);
  ProgressLine progress(err, errIsTerminal);
  BpeTrainingCallbacks callbacks;
  callbacks.onProgress = [&](const BpeTrainingProgress& p) { progress.update(p); };
  const auto start = Clock::now();
  const TrainedBpe bpe = trainBpe(options.inputs, trainer, callbacks);
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  createOutput(options.outputDir);
  saveBpeTokenizer(bpe, trainer, options.outputDir);

  out << "trained " << bpe.tokens.size() << " tokens (" << trainer.specialTokens.size() << " special, "
      << bpe.merges.size() << " merges) on " << megabytes(bpe.bytes) << ", " << bpe.words << " words ("
      << bpe.uniqueWords << " distinct) in " << seconds(elapsed) << "\n";
  if (bpe.stoppedEarly) {
    out << "note: stopped below --vocab-size " << options.vocabSize
        << ": no pair is left that occurs at least " << std::max<std::int64_t>(1, options.minFrequency)
        << " times\n";
  }
  out << "wrote " << (fs::path(options.outputDir) / "tokenizer.json").string()
      << " and tokenizer_config.json\n";
  return 0;
}

} // namespace lorafa::cli
