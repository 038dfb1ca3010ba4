// Malformed safetensors files, each built byte by byte here: every one must be refused with a
// FormatError that names the file and the problem — never a crash, a hang or a huge allocation.
#include "io/SafetensorsFile.h"

#include "IoTestSupport.h"
#include "lorafa/FormatError.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

using namespace lorafa;
using lorafa::test::filler;
using lorafa::test::le64;
using lorafa::test::rawSafetensors;
using lorafa::test::writeBytes;

namespace {

class SafetensorsMalformed : public ::testing::Test {
protected:
  // Writes `bytes` to a file and expects open() to refuse it with `problem` in the message.
  void expectRefused(const std::string& bytes, const std::string& problem) {
    const std::string path = dir.file("bad.safetensors");
    writeBytes(path, bytes);
    expectRefusedFile(path, problem);
  }

  static void expectRefusedFile(const std::string& path, const std::string& problem) {
    try {
      SafetensorsFile::open(path);
      ADD_FAILURE() << "open() accepted a malformed file; expected an error containing: " << problem;
    } catch (const FormatError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path), std::string::npos) << "the message does not name the file: " << what;
      EXPECT_NE(what.find(problem), std::string::npos) << "expected \"" << problem << "\" in: " << what;
      EXPECT_EQ(e.path(), path);
      EXPECT_EQ(what, e.path() + ": " + e.problem());
    } catch (const std::exception& e) {
      ADD_FAILURE() << "expected FormatError, got another exception: " << e.what();
    }
  }

  // One F32 tensor "w" of shape [2] over data_offsets [begin, end], with `data` as the buffer.
  static std::string oneTensor(const std::string& shape, const std::string& offsets, const std::string& data,
                               const std::string& dtype = "F32") {
    return rawSafetensors("{\"w\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
                              ",\"data_offsets\":" + offsets + "}}",
                          data);
  }

  lorafa::test::TemporaryDirectory dir;
};

} // namespace

TEST_F(SafetensorsMalformed, ShorterThanTheLengthPrefix) {
  expectRefused("", "0 bytes long, too short");
  expectRefused(std::string("\x02\x00\x00\x00\x00", 5), "5 bytes long, too short");
  expectRefused(le64(2).substr(0, 7), "7 bytes long, too short");
}

TEST_F(SafetensorsMalformed, HeaderLengthPastTheEndOfTheFile) {
  expectRefused(le64(1000) + "{}", "header length 1000 exceeds the file size");
  expectRefused(le64(3) + "{}", "header length 3 exceeds the file size");
}

TEST_F(SafetensorsMalformed, DataCutShort) {
  // The header promises 8 bytes of data, the file has 4.
  expectRefused(oneTensor("[2]", "[0,8]", filler(4)),
                "past the end of the data buffer, which is 4 bytes long");
}

TEST_F(SafetensorsMalformed, HugeHeaderLengthFailsFastBeforeReadingIt) {
  // A sparse 200 MB file whose header length claims all of it: the length must be refused on its
  // own, before 200 MB are read or parsed (the message shows the limit check fired, not JSON).
  const std::string path = dir.file("huge.safetensors");
  const std::uint64_t claimed = 200'000'000;
  writeBytes(path, le64(claimed) + "{");
  std::filesystem::resize_file(path, 8 + claimed);
  expectRefusedFile(path, "header length 200000000 exceeds the limit of 100000000 bytes");
  // Also when the file is small: the limit is checked first.
  expectRefused(le64(claimed) + "{}", "header length 200000000 exceeds the limit");
  expectRefused(le64(~std::uint64_t{0}) + "{}", "header length 18446744073709551615 exceeds the limit");
}

TEST_F(SafetensorsMalformed, HeaderIsNotJson) {
  expectRefused(rawSafetensors("{\"w\": nope}"), "header is not valid JSON");
  expectRefused(rawSafetensors(""), "header is not valid JSON");
  expectRefused(rawSafetensors("{\"w\":{}"), "header is not valid JSON");
  expectRefused(rawSafetensors("{} {}"), "header is not valid JSON");
  expectRefused(rawSafetensors(std::string("{}\0\0", 4)), "header is not valid JSON: NUL byte at byte 10");
  expectRefused(rawSafetensors(std::string("{}\0 {\"w\"", 8)), "NUL byte at byte 10");
}

TEST_F(SafetensorsMalformed, HeaderIsNotUtf8) {
  const std::string bytes =
      rawSafetensors("{\"w\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}");
  expectRefused(bytes, "header is not valid JSON");
  try {
    SafetensorsFile::open(dir.file("bad.safetensors"));
  } catch (const FormatError& e) {
    const std::string what = e.what();
    EXPECT_TRUE(
        std::all_of(what.begin(), what.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
        << "the message quotes the invalid bytes: " << what;
  }
}

TEST_F(SafetensorsMalformed, DeeplyNestedJsonDoesNotCrash) {
  // Refused before parsing, by the nesting bound (kMaxJsonDepth): quoting such a value in a
  // message, or copying it, would recurse once per level.
  expectRefused(rawSafetensors(std::string(200'000, '[')), "header nests arrays and objects deeper than 128 levels");
  std::string nested = std::string(100'000, '[') + std::string(100'000, ']');
  expectRefused(rawSafetensors(nested), "header nests arrays and objects deeper than 128 levels");
  expectRefused(rawSafetensors(std::string(128, '[') + std::string(128, ']')),
                "header is a JSON array, expected an object");
}

TEST_F(SafetensorsMalformed, HeaderIsNotAnObject) {
  expectRefused(rawSafetensors("[1, 2]"), "header is a JSON array, expected an object");
  expectRefused(rawSafetensors("\"text\""), "header is a JSON string, expected an object");
}

TEST_F(SafetensorsMalformed, UnknownDtype) {
  expectRefused(oneTensor("[2]", "[0,8]", filler(8), "F17"), "tensor \"w\": unknown dtype \"F17\"");
  expectRefused(oneTensor("[2]", "[0,8]", filler(8), "f32"), "unknown dtype \"f32\"");
}

TEST_F(SafetensorsMalformed, OffsetsOutOfRange) {
  expectRefused(
      oneTensor("[2]", "[8,16]", filler(8)),
      "tensor \"w\": data_offsets [8, 16) reach past the end of the data buffer, which is 8 bytes long");
}

TEST_F(SafetensorsMalformed, BeginAfterEnd) {
  expectRefused(oneTensor("[2]", "[8,0]", filler(8)), "tensor \"w\": data_offsets begin 8 is after end 0");
}

TEST_F(SafetensorsMalformed, ShapeTimesDtypeSizeDiffersFromByteLength) {
  expectRefused(
      rawSafetensors("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", filler(20)),
      "tensor \"w\": shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20) hold 20 bytes");
  expectRefused(oneTensor("[2]", "[0,2]", filler(2), "BF16"), "shape [2] of BF16 needs 4 bytes");
}

TEST_F(SafetensorsMalformed, ShapeWhoseByteSizeOverflows) {
  expectRefused(oneTensor("[4294967296,4294967296,16]", "[0,8]", filler(8)), "is too large to address");
  expectRefused(oneTensor("[18446744073709551615]", "[0,8]", filler(8)), "shape dimension 0 is too large");
}

TEST_F(SafetensorsMalformed, PackedDtypeThatIsNotAWholeNumberOfBytes) {
  expectRefused(oneTensor("[3]", "[0,2]", filler(2), "F4"), "shape [3] of F4 is 12 bits, not a whole number");
}

TEST_F(SafetensorsMalformed, NegativeOrNonIntegerShape) {
  expectRefused(oneTensor("[2,-1]", "[0,8]", filler(8)), "tensor \"w\": shape dimension 1 is negative (-1)");
  expectRefused(oneTensor("[2.5]", "[0,8]", filler(8)), "shape dimension 0 must be a non-negative integer");
  expectRefused(oneTensor("[2.0]", "[0,8]", filler(8)), "shape dimension 0 must be a non-negative integer");
  expectRefused(oneTensor("[\"2\"]", "[0,8]", filler(8)), "shape dimension 0 must be a non-negative integer");
  expectRefused(oneTensor("[2]", "[-8,0]", filler(8)), "data_offsets begin is negative");
  expectRefused(oneTensor("[2]", "[0,8.0]", filler(8)), "data_offsets end must be a non-negative integer");
}

TEST_F(SafetensorsMalformed, OverlappingTensors) {
  const std::string header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
  expectRefused(rawSafetensors(header, filler(12)),
                "tensor \"b\" (bytes [4, 12)) overlaps tensor \"a\" (bytes [0, 8))");
  const std::string same = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                           "\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}";
  expectRefused(rawSafetensors(same, filler(8)), "overlaps tensor");
}

TEST_F(SafetensorsMalformed, HolesInTheBuffer) {
  const std::string between = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}";
  expectRefused(
      rawSafetensors(between, filler(20)),
      "bytes [8, 12) of the data buffer belong to no tensor (a hole between tensor \"a\" and \"b\")");
  expectRefused(oneTensor("[2]", "[4,12]", filler(12)),
                "bytes [0, 4) of the data buffer belong to no tensor");
  expectRefused(oneTensor("[2]", "[0,8]", filler(12)), "4 bytes after the last tensor");
  expectRefused(rawSafetensors("{}", filler(3)), "3 bytes after the last tensor");
}

TEST_F(SafetensorsMalformed, DuplicateNames) {
  const std::string header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                             "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
  expectRefused(rawSafetensors(header, filler(8)), "header has the key \"a\" twice at the top level");
  expectRefused(
      rawSafetensors("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                     filler(4)),
      "the key \"dtype\" twice in the object of \"a\"");
}

TEST_F(SafetensorsMalformed, MissingFields) {
  expectRefused(rawSafetensors("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", filler(8)),
                "tensor \"w\" has no \"dtype\" field");
  expectRefused(rawSafetensors("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", filler(8)),
                "tensor \"w\" has no \"shape\" field");
  expectRefused(rawSafetensors("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", filler(8)),
                "tensor \"w\" has no \"data_offsets\" field");
}

TEST_F(SafetensorsMalformed, FieldsOfTheWrongJsonType) {
  expectRefused(rawSafetensors("{\"w\":[1,2]}"), "tensor \"w\": entry is array, expected an object");
  expectRefused(rawSafetensors("{\"w\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", filler(8)),
                "tensor \"w\": \"dtype\" must be a string, found integer");
  expectRefused(oneTensor("2", "[0,8]", filler(8)),
                "tensor \"w\": \"shape\" must be an array, found integer");
  expectRefused(oneTensor("[2]", "[0]", filler(8)), "\"data_offsets\" must be [begin, end], found [0]");
  expectRefused(oneTensor("[2]", "[0,8,9]", filler(8)), "\"data_offsets\" must be [begin, end]");
  expectRefused(oneTensor("[2]", "{\"begin\":0}", filler(8)), "\"data_offsets\" must be [begin, end]");
}

TEST_F(SafetensorsMalformed, EmptyTensorName) {
  expectRefused(rawSafetensors("{\"\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}"),
                "a tensor with an empty name");
}

TEST_F(SafetensorsMalformed, MetadataThatIsNotAStringMap) {
  expectRefused(rawSafetensors("{\"__metadata__\":[\"pt\"]}"),
                "\"__metadata__\" must be an object of strings");
  expectRefused(rawSafetensors("{\"__metadata__\":{\"format\":\"pt\",\"step\":3}}"),
                "\"__metadata__\" value of \"step\" must be a string, found integer");
  expectRefused(rawSafetensors("{\"__metadata__\":{\"nested\":{}}}"), "must be a string, found object");
}

TEST_F(SafetensorsMalformed, NotAFile) {
  expectRefusedFile(dir.file("missing.safetensors"), "cannot open the file: No such file or directory");
  expectRefusedFile(dir.path().string(), "not a regular file");
}

TEST_F(SafetensorsMalformed, InvalidBoolBytesAreRefusedOnLoad) {
  const std::string path = dir.file("bool.safetensors");
  writeBytes(path, oneTensor("[3]", "[0,3]", std::string("\x01\x02\x00", 3), "BOOL"));
  const auto file = SafetensorsFile::open(path); // the layout is valid, the values are not
  try {
    file->load("w");
    ADD_FAILURE() << "a BOOL byte of 2 was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("BOOL value 2 at byte"), std::string::npos) << e.what();
  }
}

TEST_F(SafetensorsMalformed, MissingTensorNameOnLookup) {
  const std::string path = dir.file("one.safetensors");
  writeBytes(path, oneTensor("[2]", "[0,8]", filler(8)));
  const auto file = SafetensorsFile::open(path);
  EXPECT_FALSE(file->contains("v"));
  EXPECT_THROW(file->info("v"), FormatError);
  try {
    file->load("v");
    ADD_FAILURE() << "loaded a tensor that does not exist";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.problem(), "no tensor named \"v\" in the file");
    EXPECT_EQ(e.path(), path);
  }
}
