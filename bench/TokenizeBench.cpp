// lorafa-bench-tokenize: encode throughput of a tokenizer.json on a text file, in MB/s.
// bench/tokenize_reference.py measures the Hugging Face reference (PyPI `tokenizers`) on the same
// file in the same way; both print the token count and a hash of the ids, so equal lines also
// show equal ids over the whole text.
#include "lorafa/Tokenizer.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

// FNV-1a over the ids, 32-bit (the Python script computes the same).
std::uint32_t hashIds(const std::vector<lorafa::TokenId>& ids, std::uint32_t hash = 2166136261u) {
  for (const lorafa::TokenId id : ids) {
    hash ^= static_cast<std::uint32_t>(id);
    hash *= 16777619u;
  }
  return hash;
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<std::string> paragraphs(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find("\n\n", start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 2;
  }
  return out;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"Tokenizer encode throughput (MB/s) on a text file"};
  std::string tokenizerPath;
  std::string textPath;
  int repeats = 3;
  app.add_option("--tokenizer", tokenizerPath, "tokenizer.json or a directory with one")->required();
  app.add_option("--text", textPath, "UTF-8 text file")->required();
  app.add_option("--repeat", repeats, "timed runs per mode; the best is reported")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    std::ifstream in(textPath, std::ios::binary);
    if (!in) throw std::runtime_error(textPath + ": cannot open the file");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();
    const double megabytes = static_cast<double>(text.size()) / 1e6;

    const auto loadStart = std::chrono::steady_clock::now();
    const auto tokenizer = lorafa::Tokenizer::load(tokenizerPath);
    std::printf("tokenizer: %s (loaded in %.2f s)\ntext: %s, %.2f MB\n", tokenizerPath.c_str(),
                secondsSince(loadStart), textPath.c_str(), megabytes);

    // The whole text as one string; the first run starts with an empty word cache.
    double best = 1e30;
    double cold = 0;
    std::vector<lorafa::TokenId> ids;
    for (int r = 0; r < repeats; ++r) {
      const auto start = std::chrono::steady_clock::now();
      ids = tokenizer->encode(text, false);
      const double seconds = secondsSince(start);
      if (r == 0) cold = seconds;
      best = std::min(best, seconds);
    }
    std::printf("ours document: %zu tokens, ids hash %08x, first run %.1f MB/s, best of %d %.1f MB/s\n",
                ids.size(), hashIds(ids), megabytes / cold, repeats, megabytes / best);

    // Paragraphs as separate records, one after another (one thread).
    const std::vector<std::string> records = paragraphs(text);
    best = 1e30;
    std::size_t count = 0;
    std::uint32_t hash = 2166136261u;
    for (int r = 0; r < repeats; ++r) {
      count = 0;
      hash = 2166136261u;
      const auto start = std::chrono::steady_clock::now();
      for (const std::string& record : records) {
        const auto recordIds = tokenizer->encode(record, false);
        count += recordIds.size();
        hash = hashIds(recordIds, hash);
      }
      best = std::min(best, secondsSince(start));
    }
    std::printf("ours paragraphs: %zu records, %zu tokens, ids hash %08x, best of %d %.1f MB/s (1 thread)\n",
                records.size(), count, hash, repeats, megabytes / best);
  } catch (const std::exception& error) {
    std::cerr << "lorafa-bench-tokenize: error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
