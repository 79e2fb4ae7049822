// `strata info` on malformed files: exit status 1 and one line saying what is wrong.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gguf/writer.h"
#include "support/fixtures.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using strata::testing::run_command;

// GGUF bytes written field by field, so a test can put any value anywhere.
class GgufBytes {
 public:
  GgufBytes& u32(uint32_t v) { return raw(&v, sizeof v); }
  GgufBytes& u64(uint64_t v) { return raw(&v, sizeof v); }
  GgufBytes& str(std::string_view s) {
    u64(s.size());
    bytes_.append(s);
    return *this;
  }
  GgufBytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    bytes_.append("GGUF");
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  GgufBytes& kv_u32(std::string_view key, uint32_t v) { return str(key).u32(4).u32(v); }
  GgufBytes& tensor(std::string_view name, const std::vector<uint64_t>& ne, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) u64(d);
    return u32(type).u64(offset);
  }
  GgufBytes& pad(size_t alignment = 32) {
    while (bytes_.size() % alignment != 0) bytes_.push_back('\0');
    return *this;
  }
  GgufBytes& zeros(size_t n) {
    bytes_.append(n, '\0');
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  GgufBytes& raw(const void* p, size_t n) {
    bytes_.append(static_cast<const char*>(p), n);
    return *this;
  }
  std::string bytes_;
};

class BadInputTest : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, const std::string& bytes) {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
  }

  // Runs `strata info PATH` with an address-space limit (so a huge allocation fails loudly
  // instead of passing) and checks: exit 1, exactly one line, containing every one of `parts`.
  void expect_one_line_error(const fs::path& path, std::initializer_list<std::string> parts) {
    std::string command = fmt::format("'{}' info '{}'", strata::testing::strata_binary().string(), path.string());
#if !defined(__SANITIZE_ADDRESS__)
    // ASan reserves terabytes of address space, so the limit only applies without it.
    command = fmt::format("sh -c \"ulimit -v 1000000; exec {}\"", command);
#endif
    const auto result = run_command(command);
    SCOPED_TRACE(result.output);
    EXPECT_EQ(result.exit_code, 1);
    ASSERT_FALSE(result.output.empty());
    EXPECT_EQ(result.output.back(), '\n');
    EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << "expected one line";
    EXPECT_EQ(result.output.rfind("strata info: error: ", 0), 0u);
    for (const std::string& part : parts) {
      EXPECT_NE(result.output.find(part), std::string::npos) << "missing '" << part << "'";
    }
    EXPECT_EQ(result.output.find("bad_alloc"), std::string::npos);
  }

  // A valid model-shaped file from the writer, for truncation.
  std::string valid_file() {
    gguf::Writer writer;
    writer.set("general.architecture", gguf::Value::from_string("llama"));
    writer.set("general.name", gguf::Value::from_string("truncation base"));
    writer.set("llama.context_length", gguf::Value::from_u32(256));
    writer.set("llama.embedding_length", gguf::Value::from_u32(64));
    writer.set("llama.block_count", gguf::Value::from_u32(1));
    writer.set("llama.feed_forward_length", gguf::Value::from_u32(128));
    writer.set("llama.attention.head_count", gguf::Value::from_u32(2));
    writer.set("tokenizer.ggml.tokens", gguf::Value::from_string_array({"a", "b", "c", "d"}));
    auto fill = [](std::span<uint8_t> out, uint64_t, uint64_t) {
      std::memset(out.data(), 0x11, out.size());
      return Status{};
    };
    EXPECT_TRUE(writer.add_tensor("token_embd.weight", quant::Type::F16, {64, 4}, fill).ok());
    EXPECT_TRUE(writer.add_tensor("output_norm.weight", quant::Type::F32, {64}, fill).ok());
    const fs::path path = dir_ / "valid.gguf";
    EXPECT_TRUE(writer.write(path).ok());
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  strata::testing::TempDir dir_;
};

TEST_F(BadInputTest, ValidBaseFileIsAccepted) {
  const fs::path path = write("ok.gguf", valid_file());
  const auto result =
      run_command(fmt::format("'{}' info '{}'", strata::testing::strata_binary().string(), path.string()));
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST_F(BadInputTest, MissingFile) { expect_one_line_error(dir_ / "nope.gguf", {"nope.gguf", "does not exist"}); }

TEST_F(BadInputTest, Directory) { expect_one_line_error(dir_.path(), {"is a directory"}); }

TEST_F(BadInputTest, EmptyFile) { expect_one_line_error(write("empty.gguf", ""), {"empty"}); }

TEST_F(BadInputTest, NotGguf) {
  expect_one_line_error(write("notes.txt", "hello, this is a text file and not a model\n"), {"not a GGUF file"});
  expect_one_line_error(write("short.gguf", "GG"), {"not a GGUF file"});
}

TEST_F(BadInputTest, TruncatedEverywhere) {
  const std::string full = valid_file();
  ASSERT_GT(full.size(), 200u);
  // Inside the header, the metadata, the tensor infos and the data.
  for (size_t keep : {size_t{6}, size_t{20}, size_t{40}, size_t{90}, full.size() / 2, full.size() - 300,
                      full.size() - 1}) {
    SCOPED_TRACE(keep);
    expect_one_line_error(write("cut.gguf", full.substr(0, keep)), {});
  }
}

TEST_F(BadInputTest, TensorCountPastTheEnd) {
  GgufBytes b;
  b.header(uint64_t{1} << 62, 0);
  expect_one_line_error(write("tensors.gguf", b.bytes()), {"tensor count 4611686018427387904"});
}

TEST_F(BadInputTest, MetadataCountPastTheEnd) {
  GgufBytes b;
  b.header(0, uint64_t{1} << 60).kv_u32("a.b", 1);
  expect_one_line_error(write("kv.gguf", b.bytes()), {"metadata count 1152921504606846976"});
}

TEST_F(BadInputTest, StringLengthPastTheEnd) {
  GgufBytes key;
  key.header(0, 1).u64(uint64_t{1} << 50).zeros(16);
  expect_one_line_error(write("key.gguf", key.bytes()), {"length 1125899906842624"});

  GgufBytes value;
  value.header(0, 1).str("general.name").u32(8).u64(uint64_t{1} << 40).zeros(16);
  expect_one_line_error(write("value.gguf", value.bytes()), {"general.name", "length 1099511627776"});
}

TEST_F(BadInputTest, OffsetOutsideTheData) {
  GgufBytes b;
  b.header(1, 0).tensor("w", {32}, /*f32*/ 0, 4096).pad().zeros(128);
  expect_one_line_error(write("offset.gguf", b.bytes()), {"'w'", "offset 4096"});
}

TEST_F(BadInputTest, DataRunsPastTheEnd) {
  GgufBytes b;
  b.header(1, 0).tensor("w", {32, 4}, /*f32*/ 0, 0).pad().zeros(100);  // needs 512 bytes
  expect_one_line_error(write("short_data.gguf", b.bytes()), {"'w'", "512 bytes"});
}

TEST_F(BadInputTest, UnknownTensorType) {
  GgufBytes b;
  b.header(1, 0).tensor("w", {32}, 99, 0).pad().zeros(128);
  expect_one_line_error(write("type.gguf", b.bytes()), {"'w'", "type id 99"});
}

TEST_F(BadInputTest, DimsWhoseProductOverflows) {
  GgufBytes b;
  b.header(1, 0).tensor("w", {uint64_t{1} << 40, uint64_t{1} << 40}, 0, 0).pad().zeros(128);
  expect_one_line_error(write("dims.gguf", b.bytes()), {"'w'", "overflow"});
}

TEST_F(BadInputTest, OverlappingTensors) {
  GgufBytes b;
  b.header(2, 0).tensor("a", {32}, 0, 0).tensor("b", {32}, 0, 64).pad().zeros(256);
  expect_one_line_error(write("overlap.gguf", b.bytes()), {"overlap"});
}

TEST_F(BadInputTest, UnsupportedVersion) {
  GgufBytes b;
  b.header(0, 0, 7);
  expect_one_line_error(write("v7.gguf", b.bytes()), {"version 7"});
}

TEST_F(BadInputTest, TooManyDims) {
  GgufBytes b;
  b.header(1, 0).tensor("w", {1, 1, 1, 1, 32}, 0, 0).pad().zeros(128);
  expect_one_line_error(write("ndims.gguf", b.bytes()), {"'w'", "n_dims is 5"});
}

}  // namespace
}  // namespace strata
