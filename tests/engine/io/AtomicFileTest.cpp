// writeFileAtomically: the target holds the old content or the complete new one, never a partial
// file, and no temporary is left behind whatever fails.
#include "io/AtomicFile.h"

#include "IoTestSupport.h"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <cerrno>
#include <csignal>
#include <stdexcept>
#include <string>
#include <system_error>

using namespace lorafa;
using lorafa::test::readBytes;
using lorafa::test::writeBytes;

namespace {

class AtomicFileTest : public ::testing::Test {
protected:
  lorafa::test::TemporaryDirectory dir;
};

// Lowers the file size limit (as a full disk would stop writes) and restores it afterwards.
// Writes past the limit then fail with EFBIG instead of raising SIGXFSZ, which is ignored.
class ScopedFileSizeLimit {
public:
  explicit ScopedFileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &m_previous);
    m_previousHandler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit lowered = m_previous;
    lowered.rlim_cur = bytes;
    m_active = ::setrlimit(RLIMIT_FSIZE, &lowered) == 0;
  }
  ~ScopedFileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &m_previous);
    std::signal(SIGXFSZ, m_previousHandler);
  }
  bool active() const { return m_active; }

private:
  rlimit m_previous{};
  void (*m_previousHandler)(int) = nullptr;
  bool m_active = false;
};

} // namespace

TEST_F(AtomicFileTest, WritesANewFile) {
  const std::string path = dir.file("new.txt");
  writeFileAtomically(path, [](std::FILE* out) { std::fputs("hello", out); });
  EXPECT_EQ(readBytes(path), "hello");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"new.txt"});
}

TEST_F(AtomicFileTest, ReplacesAnExistingFile) {
  const std::string path = dir.file("data.bin");
  writeBytes(path, "old content that is longer");
  writeFileAtomically(path, [](std::FILE* out) { std::fputs("new", out); });
  EXPECT_EQ(readBytes(path), "new");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"data.bin"});
}

TEST_F(AtomicFileTest, ExceptionMidWriteLeavesThePreviousFileAndNoTemporary) {
  const std::string path = dir.file("checkpoint.safetensors");
  const std::string previous(100'000, 'p');
  writeBytes(path, previous);
  const std::string big(1 << 20, 'n');
  try {
    writeFileAtomically(path, [&](std::FILE* out) {
      std::fwrite(big.data(), 1, big.size(), out); // well past any stdio buffer: bytes hit the disk
      throw std::runtime_error("interrupted");
    });
    ADD_FAILURE() << "the callback's exception was swallowed";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "interrupted"); // propagated unchanged
  }
  EXPECT_EQ(readBytes(path), previous);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"checkpoint.safetensors"});
}

TEST_F(AtomicFileTest, NonExistentDirectoryGivesAClearError) {
  const std::string path = dir.file("no/such/dir/file.bin");
  bool called = false;
  try {
    writeFileAtomically(path, [&](std::FILE*) { called = true; });
    ADD_FAILURE() << "wrote into a directory that does not exist";
  } catch (const std::system_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.code().value(), ENOENT);
    EXPECT_EQ(what.rfind(path + ": cannot create the temporary file", 0), 0u) << what;
    EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
  }
  EXPECT_FALSE(called);
}

TEST_F(AtomicFileTest, FullDiskLeavesThePreviousFileAndNoTemporary) {
  const std::string path = dir.file("model.safetensors");
  const std::string previous = "previous good copy";
  writeBytes(path, previous);
  const std::string chunk(64 * 1024, 'x');
  {
    ScopedFileSizeLimit limit(256 * 1024);
    if (!limit.active()) {
      GTEST_SKIP() << "cannot lower RLIMIT_FSIZE here";
    }
    try {
      // The callback ignores fwrite's result, as careless code would: the failure is still caught.
      writeFileAtomically(path, [&](std::FILE* out) {
        for (int i = 0; i < 16; ++i) {
          std::fwrite(chunk.data(), 1, chunk.size(), out);
        }
      });
      ADD_FAILURE() << "a write past the size limit succeeded";
    } catch (const std::system_error& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.code().value(), EFBIG) << what;
      EXPECT_EQ(what.rfind(path + ": ", 0), 0u) << what;
      EXPECT_NE(what.find("File too large"), std::string::npos) << what;
    }
  }
  EXPECT_EQ(readBytes(path), previous);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});
}

TEST_F(AtomicFileTest, FailedRenameRemovesTheTemporary) {
  // A non-empty directory where the file should go: everything works until the rename.
  const std::string path = dir.file("occupied");
  std::filesystem::create_directory(path);
  writeBytes(path + "/keep", "k");
  try {
    writeFileAtomically(path, [](std::FILE* out) { std::fputs("data", out); });
    ADD_FAILURE() << "renamed a file over a directory";
  } catch (const std::system_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path + ": cannot rename the temporary file"), std::string::npos) << what;
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"occupied"});
  EXPECT_EQ(readBytes(path + "/keep"), "k");
}
