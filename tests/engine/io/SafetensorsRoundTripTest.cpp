// Writing with writeSafetensors and reading back with SafetensorsFile, bit for bit; the bytes our
// writer produces are also checked independently against the format (length prefix, JSON header,
// alignment, offsets), and hand-made files are read to check the reader on its own.
#include "io/SafetensorsFile.h"
#include "io/SafetensorsWriter.h"

#include "IoTestSupport.h"
#include "lorafa/FormatError.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <nlohmann/json.hpp>
#include <torch/version.h>

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

using namespace lorafa;
using lorafa::test::le64;
using lorafa::test::rawSafetensors;
using lorafa::test::readBytes;
using lorafa::test::writeBytes;

namespace {

struct DtypeCase {
  at::ScalarType type;
  const char* name; // the safetensors dtype string
};

std::string bytesOf(const at::Tensor& tensor) {
  const at::Tensor plain = tensor.cpu().contiguous();
  return std::string(static_cast<const char*>(plain.data_ptr()), static_cast<std::size_t>(plain.nbytes()));
}

// A tensor whose bytes are random (every bit pattern, NaN payloads included; BOOL only 0/1).
at::Tensor randomBits(const std::vector<std::int64_t>& shape, at::ScalarType type, std::mt19937& random) {
  at::Tensor tensor = at::empty(shape, at::TensorOptions().dtype(type));
  auto* bytes = static_cast<unsigned char*>(tensor.data_ptr());
  for (std::size_t i = 0; i < tensor.nbytes(); ++i) {
    bytes[i] = static_cast<unsigned char>(type == at::ScalarType::Bool ? random() & 1 : random() & 0xFF);
  }
  return tensor;
}

void expectBitIdentical(const at::Tensor& actual, const at::Tensor& expected) {
  EXPECT_EQ(actual.scalar_type(), expected.scalar_type());
  EXPECT_EQ(actual.sizes(), expected.sizes());
  EXPECT_TRUE(actual.is_contiguous());
  EXPECT_TRUE(actual.device().is_cpu());
  EXPECT_EQ(bytesOf(actual), bytesOf(expected));
}

class SafetensorsRoundTrip : public ::testing::TestWithParam<DtypeCase> {
protected:
  lorafa::test::TemporaryDirectory dir;
};

class SafetensorsFiles : public ::testing::Test {
protected:
  lorafa::test::TemporaryDirectory dir;
};

} // namespace

TEST_P(SafetensorsRoundTrip, EveryShapeRoundTripsBitExactly) {
  const DtypeCase dtype = GetParam();
  std::mt19937 random(1234);
  const std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"matrix", randomBits({3, 5}, dtype.type, random)},  {"scalar", randomBits({}, dtype.type, random)},
      {"empty", randomBits({0, 4}, dtype.type, random)},   {"vector", randomBits({7}, dtype.type, random)},
      {"cube", randomBits({2, 1, 3}, dtype.type, random)},
  };
  const std::string path = dir.file("all.safetensors");
  writeSafetensors(path, tensors);

  const auto file = SafetensorsFile::open(path);
  ASSERT_EQ(file->tensors().size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, expected] = tensors[i];
    SCOPED_TRACE(name);
    EXPECT_EQ(file->tensors()[i].name, name); // header order is the order given
    EXPECT_EQ(file->info(name).dtype, dtype.name);
    EXPECT_EQ(file->info(name).shape, expected.sizes().vec());
    expectBitIdentical(file->load(name), expected);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllDtypes, SafetensorsRoundTrip,
    ::testing::Values(DtypeCase{at::ScalarType::Float, "F32"}, DtypeCase{at::ScalarType::Half, "F16"},
                      DtypeCase{at::ScalarType::BFloat16, "BF16"}, DtypeCase{at::ScalarType::Double, "F64"},
                      DtypeCase{at::ScalarType::Long, "I64"}, DtypeCase{at::ScalarType::Int, "I32"},
                      DtypeCase{at::ScalarType::Short, "I16"}, DtypeCase{at::ScalarType::Char, "I8"},
                      DtypeCase{at::ScalarType::Byte, "U8"}, DtypeCase{at::ScalarType::Bool, "BOOL"},
                      DtypeCase{at::ScalarType::ComplexFloat, "C64"}),
    [](const ::testing::TestParamInfo<DtypeCase>& info) { return std::string(info.param.name); });

TEST_F(SafetensorsFiles, StridedTensorsAreWrittenRowMajor) {
  const at::Tensor base = at::arange(12, at::TensorOptions().dtype(at::kFloat)).reshape({3, 4});
  const at::Tensor transposed = base.t();      // [4, 3], not contiguous
  const at::Tensor column = base.select(1, 2); // [3], stride 4
  const std::string path = dir.file("strided.safetensors");
  writeSafetensors(path, {{"t", transposed}, {"c", column}});
  const auto file = SafetensorsFile::open(path);
  expectBitIdentical(file->load("t"), transposed.contiguous());
  EXPECT_EQ(file->load("c")[1].item<float>(), 6.0f);
  EXPECT_EQ(file->load("t")[3][0].item<float>(), 3.0f);
}

TEST_F(SafetensorsFiles, MetadataRoundTrips) {
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"note", "ünïcode ✓ \"quoted\"\n"}, {"empty", ""}};
  const std::string path = dir.file("meta.safetensors");
  writeSafetensors(path, {{"w", at::zeros({2})}}, metadata);
  EXPECT_EQ(SafetensorsFile::open(path)->metadata(), metadata);

  const std::string bare = dir.file("bare.safetensors");
  writeSafetensors(bare, {{"w", at::zeros({2})}});
  EXPECT_TRUE(SafetensorsFile::open(bare)->metadata().empty());
  EXPECT_EQ(readBytes(bare).find("__metadata__"), std::string::npos);
}

TEST_F(SafetensorsFiles, WrittenBytesFollowTheFormat) {
  std::mt19937 random(7);
  const at::Tensor a = randomBits({2, 3}, at::ScalarType::Float, random);
  const at::Tensor b = randomBits({5}, at::ScalarType::BFloat16, random); // 10 bytes: c starts unaligned
  const at::Tensor c = randomBits({1}, at::ScalarType::Long, random);
  const std::string path = dir.file("layout.safetensors");
  writeSafetensors(path, {{"a", a}, {"b", b}, {"c", c}}, {{"format", "pt"}});

  const std::string bytes = readBytes(path);
  ASSERT_GE(bytes.size(), 8u);
  std::uint64_t headerBytes = 0;
  for (int i = 7; i >= 0; --i) {
    headerBytes = (headerBytes << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  }
  const std::uint64_t dataStart = 8 + headerBytes;
  EXPECT_EQ(dataStart % 8, 0u) << "the data must start at a multiple of 8";
  ASSERT_EQ(bytes.size(), dataStart + 24 + 10 + 8);

  const std::string header = bytes.substr(8, headerBytes);
  const std::size_t close = header.rfind('}');
  ASSERT_NE(close, std::string::npos);
  EXPECT_EQ(header.substr(close + 1), std::string(header.size() - close - 1, ' ')) << "padding is spaces";

  const auto json = nlohmann::ordered_json::parse(header);
  std::vector<std::string> keys;
  for (const auto& item : json.items()) {
    keys.push_back(item.key());
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"__metadata__", "a", "b", "c"}));
  EXPECT_EQ(json["__metadata__"], nlohmann::ordered_json({{"format", "pt"}}));
  EXPECT_EQ(json["a"]["dtype"], "F32");
  EXPECT_EQ(json["a"]["shape"], nlohmann::ordered_json({2, 3}));
  EXPECT_EQ(json["a"]["data_offsets"], nlohmann::ordered_json({0, 24}));
  EXPECT_EQ(json["b"]["dtype"], "BF16");
  EXPECT_EQ(json["b"]["data_offsets"], nlohmann::ordered_json({24, 34}));
  EXPECT_EQ(json["c"]["dtype"], "I64");
  EXPECT_EQ(json["c"]["data_offsets"], nlohmann::ordered_json({34, 42}));

  EXPECT_EQ(bytes.substr(dataStart, 24), bytesOf(a));
  EXPECT_EQ(bytes.substr(dataStart + 24, 10), bytesOf(b));
  EXPECT_EQ(bytes.substr(dataStart + 34, 8), bytesOf(c));
}

TEST_F(SafetensorsFiles, EmptyFileHasAnAlignedEmptyHeader) {
  const std::string path = dir.file("nothing.safetensors");
  writeSafetensors(path, {});
  EXPECT_EQ(readBytes(path), le64(8) + "{}      ");
  const auto file = SafetensorsFile::open(path);
  EXPECT_TRUE(file->tensors().empty());
  EXPECT_EQ(file->dataOffset(), 16u);
}

TEST_F(SafetensorsFiles, HandWrittenFileLoadsInHeaderOrder) {
  // z: F32 [2] = {1, -2}; a: BF16 [1] = {1}; m: I16 [1] = {-2}; the header padded with spaces.
  const std::string header = "{\"z\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                             "\"a\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[8,10]},"
                             "\"__metadata__\":{\"format\":\"pt\"},"
                             "\"m\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[10,12]}}   ";
  const std::string data("\x00\x00\x80\x3f\x00\x00\x00\xc0\x80\x3f\xfe\xff", 12);
  const std::string path = dir.file("hand.safetensors");
  writeBytes(path, rawSafetensors(header, data));

  const auto file = SafetensorsFile::open(path);
  ASSERT_EQ(file->tensors().size(), 3u);
  EXPECT_EQ(file->tensors()[0].name, "z");
  EXPECT_EQ(file->tensors()[1].name, "a");
  EXPECT_EQ(file->tensors()[2].name, "m");
  EXPECT_EQ(file->metadata().at("format"), "pt");
  const at::Tensor z = file->load("z");
  EXPECT_EQ(z.scalar_type(), at::kFloat);
  EXPECT_EQ(z[0].item<float>(), 1.0f);
  EXPECT_EQ(z[1].item<float>(), -2.0f);
  EXPECT_EQ(file->load("a").scalar_type(), at::kBFloat16);
  EXPECT_EQ(file->load("a").item<float>(), 1.0f);
  EXPECT_EQ(file->load("m").item<std::int64_t>(), -2);
  EXPECT_EQ(file->info("m").begin, 10u);
  EXPECT_EQ(file->info("m").end, 12u);
}

TEST_F(SafetensorsFiles, LoadedTensorsOutliveTheFile) {
  const std::string path = dir.file("short-lived.safetensors");
  writeSafetensors(path, {{"w", at::arange(4, at::TensorOptions().dtype(at::kFloat))}});
  at::Tensor loaded;
  {
    auto file = SafetensorsFile::open(path);
    loaded = file->load("w");
  }
  std::filesystem::remove(path);
  EXPECT_EQ(loaded[3].item<float>(), 3.0f);
}

TEST_F(SafetensorsFiles, DtypesThisLibTorchLacksAreListedButNotLoaded) {
  const std::string header = "{\"f8\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]},"
                             "\"u16\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[2,4]},"
                             "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
  const std::string path = dir.file("f8.safetensors");
  writeBytes(path, rawSafetensors(header, std::string("\x38\x40\x01\x00\x00\x00\x80\x3f", 8)));
  const auto file = SafetensorsFile::open(path);
  ASSERT_EQ(file->tensors().size(), 3u);
  EXPECT_EQ(file->info("f8").dtype, "F8_E4M3");
  EXPECT_EQ(file->load("w").item<float>(), 1.0f);
#if TORCH_VERSION_MAJOR < 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR < 1)
  try {
    file->load("f8");
    ADD_FAILURE() << "F8_E4M3 loaded on a LibTorch without float8";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("dtype F8_E4M3 is not supported"), std::string::npos) << e.what();
    EXPECT_EQ(e.path(), path);
  }
#else
  EXPECT_EQ(file->load("f8").sizes(), (std::vector<std::int64_t>{2}));
#endif
#if TORCH_VERSION_MAJOR < 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR < 3)
  EXPECT_THROW(file->load("u16"), FormatError);
#else
  EXPECT_EQ(bytesOf(file->load("u16")), std::string("\x01\x00", 2));
#endif
}

TEST_F(SafetensorsFiles, WriterRefusesWhatTheFormatCannotHold) {
  const std::string path = dir.file("refused.safetensors");
  const auto expectRefused = [&](const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                                 const std::string& problem) {
    try {
      writeSafetensors(path, tensors);
      ADD_FAILURE() << "written although: " << problem;
    } catch (const FormatError& e) {
      EXPECT_EQ(e.path(), path);
      EXPECT_NE(std::string(e.what()).find(problem), std::string::npos) << e.what();
    }
  };
  writeSafetensors(path, {{"previous", at::zeros({3})}});
  const std::string previous = readBytes(path);

  expectRefused({{"w", at::zeros({2})}, {"w", at::zeros({1})}}, "two tensors named \"w\"");
  expectRefused({{"__metadata__", at::zeros({2})}}, "the format reserves that key");
  expectRefused({{"", at::zeros({2})}}, "empty name");
  expectRefused({{"w", at::Tensor()}}, "tensor \"w\": it is undefined");
  expectRefused({{"w", at::zeros({2}, at::TensorOptions().dtype(at::kComplexDouble))}},
                "dtype ComplexDouble has no safetensors equivalent");
  expectRefused({{"w\xff", at::zeros({2})}}, "not valid UTF-8");

  EXPECT_EQ(readBytes(path), previous) << "a refused write must leave the previous file alone";
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"refused.safetensors"});
}

TEST_F(SafetensorsFiles, RewritingReplacesTheFileAndLeavesNoTemporary) {
  const std::string path = dir.file("model.safetensors");
  writeSafetensors(path, {{"w", at::zeros({4})}});
  writeSafetensors(path, {{"v", at::arange(2, at::TensorOptions().dtype(at::kLong))}});
  const auto file = SafetensorsFile::open(path);
  EXPECT_FALSE(file->contains("w"));
  EXPECT_EQ(file->load("v")[1].item<std::int64_t>(), 1);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});
}
