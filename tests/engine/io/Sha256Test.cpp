// SHA-256 against the FIPS 180-4 / NIST example vectors and against the system's sha256sum.
#include "io/Sha256.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace lorafa {
namespace {

TEST(Sha256Test, MatchesTheStandardsExampleVectors) {
  EXPECT_EQ(Sha256::hexOf(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256::hexOf("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256::hexOf("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256::hexOf("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  EXPECT_EQ(Sha256::hexOf(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, PiecewiseUpdatesEqualOneUpdate) {
  std::mt19937 random(7);
  std::string data(10007, '\0');
  for (char& c : data) c = static_cast<char>(random());
  const std::string whole = Sha256::hexOf(data);
  for (std::size_t piece : {1u, 3u, 63u, 64u, 65u, 1000u}) {
    Sha256 hash;
    for (std::size_t i = 0; i < data.size(); i += piece) hash.update(data.data() + i, std::min(piece, data.size() - i));
    EXPECT_EQ(hash.finishHex(), whole) << "pieces of " << piece;
  }
}

TEST(Sha256Test, FileDigestEqualsSha256sum) {
  const std::filesystem::path file = std::filesystem::temp_directory_path() / ("lorafa-sha256-" + std::to_string(std::random_device{}()));
  std::mt19937 random(11);
  std::string data(3 * (1 << 20) + 17, '\0'); // over several read buffers
  for (char& c : data) c = static_cast<char>(random());
  std::ofstream(file, std::ios::binary) << data;
  std::uint64_t bytes = 0;
  const std::string ours = Sha256::hexOfFile(file.string(), &bytes);
  EXPECT_EQ(bytes, data.size());
  EXPECT_EQ(ours, Sha256::hexOf(data));
  std::FILE* pipe = ::popen(("sha256sum '" + file.string() + "' 2>/dev/null").c_str(), "r");
  char line[128] = {};
  const bool have = pipe && std::fgets(line, sizeof line, pipe) != nullptr;
  if (pipe) ::pclose(pipe);
  std::filesystem::remove(file);
  if (!have) GTEST_SKIP() << "sha256sum is not installed";
  EXPECT_EQ(std::string(line).substr(0, 64), ours);
}

} // namespace
} // namespace lorafa
