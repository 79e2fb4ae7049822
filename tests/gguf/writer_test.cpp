// gguf::Writer: shape validation, chunked streaming, progress and atomic replacement.
#include "gguf/writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "gguf/file.h"
#include "support/temp_dir.h"

namespace strata::gguf {
namespace {

using ::testing::HasSubstr;

Status zero_fill(std::span<uint8_t> out, uint64_t, uint64_t) {
  std::fill(out.begin(), out.end(), uint8_t{0});
  return {};
}

std::vector<std::string> directory_entries(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(GgufWriter, AddTensorValidatesLikeTheReader) {
  Writer w;
  auto error = [&](std::string name, quant::Type type, std::vector<uint64_t> ne,
                   TensorFill fill = zero_fill) {
    Status s = w.add_tensor(std::move(name), type, std::move(ne), std::move(fill));
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    return s.message();
  };
  EXPECT_THAT(error("t", quant::Type::F32, {}), HasSubstr("0 dimensions, expected 1 to 4"));
  EXPECT_THAT(error("t", quant::Type::F32, {1, 1, 1, 1, 1}), HasSubstr("5 dimensions"));
  EXPECT_THAT(error("t", quant::Type::F32, {4, 0}), HasSubstr("ne[1] is 0"));
  EXPECT_THAT(error("t", quant::Type::Q4_0, {48}),
              HasSubstr("not a multiple of the q4_0 block size 32"));
  EXPECT_THAT(error("t", quant::Type::F32, {uint64_t{1} << 32, uint64_t{1} << 32}),
              HasSubstr("more than 9223372036854775807 elements"));
  EXPECT_THAT(error("t", static_cast<quant::Type>(4), {4}),
              HasSubstr("type id 4 is not a known tensor type"));
  EXPECT_THAT(error("", quant::Type::F32, {4}), HasSubstr("tensor name is empty"));
  EXPECT_THAT(error("t", quant::Type::F32, {4}, TensorFill()), HasSubstr("no TensorFill"));
  EXPECT_THAT(error("t", quant::Type::F32, {uint64_t{1} << 29}),
              HasSubstr("more than the writer's limit"));
  ASSERT_TRUE(w.add_tensor("t", quant::Type::F32, {4}, zero_fill).ok());
  EXPECT_THAT(error("t", quant::Type::F32, {4}), HasSubstr("tensor 't' was already added"));
}

TEST(GgufWriter, StreamsRowsInChunksAndReportsProgress) {
  testing::TempDir dir;
  Writer w;
  // 4 KiB rows: 4096 rows make one 16 MiB chunk, so 4196 rows need two calls.
  const uint64_t rows = kWriteChunkBytes / 4096 + 100;
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  ASSERT_TRUE(w.add_tensor("big", quant::Type::F32, {1024, rows},
                           [&](std::span<uint8_t> out, uint64_t row_begin, uint64_t n_rows) {
                             EXPECT_EQ(out.size(), n_rows * 4096);
                             calls.emplace_back(row_begin, n_rows);
                             for (uint64_t r = 0; r < n_rows; ++r) {
                               std::fill_n(out.begin() + r * 4096, 4096,
                                           static_cast<uint8_t>(row_begin + r));
                             }
                             return Status();
                           })
                  .ok());
  ASSERT_TRUE(w.add_tensor("small", quant::Type::F16, {3}, zero_fill).ok());
  EXPECT_EQ(w.data_bytes(), rows * 4096 + 32);  // "small" is 6 bytes padded to 32

  std::vector<std::pair<uint64_t, uint64_t>> progress;
  const auto path = dir / "big.gguf";
  ASSERT_TRUE(w.write(path, [&](uint64_t done, uint64_t total) {
                 progress.emplace_back(done, total);
               }).ok());

  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], std::make_pair(uint64_t{0}, uint64_t{4096}));
  EXPECT_EQ(calls[1], std::make_pair(uint64_t{4096}, uint64_t{100}));

  const uint64_t file_size = std::filesystem::file_size(path);
  ASSERT_GE(progress.size(), 3u);  // header, two chunks, the small tensor
  for (size_t i = 1; i < progress.size(); ++i) EXPECT_GT(progress[i].first, progress[i - 1].first);
  EXPECT_EQ(progress.back().second, file_size);

  auto file = File::open(path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  const TensorInfo* big = file->find_tensor("big");
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(big->data[0], 0);
  EXPECT_EQ(big->data[4096 * 4095], static_cast<uint8_t>(4095));
  EXPECT_EQ(big->data[4096 * 4096], static_cast<uint8_t>(4096));
  EXPECT_EQ(big->data.back(), static_cast<uint8_t>(rows - 1));
}

TEST(GgufWriter, FailedFillLeavesNoFileAndKeepsTheOldOne) {
  testing::TempDir dir;
  const auto path = dir / "model.gguf";
  std::ofstream(path) << "previous contents";
  Writer w;
  w.set("general.architecture", Value::from_string("llama"));
  ASSERT_TRUE(w.add_tensor("ok", quant::Type::F32, {8}, zero_fill).ok());
  ASSERT_TRUE(
      w.add_tensor("bad", quant::Type::F32, {8, 4}, [](std::span<uint8_t>, uint64_t, uint64_t) {
         return io_error("source tensor unreadable");
       }).ok());
  const Status s = w.write(path);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kIo);
  EXPECT_THAT(s.message(), HasSubstr(path.string()));
  EXPECT_THAT(s.message(), HasSubstr("tensor 'bad' rows 0-3"));
  EXPECT_THAT(s.message(), HasSubstr("source tensor unreadable"));
  // No temp file remains and the previous file is untouched.
  EXPECT_EQ(directory_entries(dir.path()), std::vector<std::string>{"model.gguf"});
  EXPECT_EQ(read_text(path), "previous contents");
}

TEST(GgufWriter, SuccessfulWriteReplacesAtomically) {
  testing::TempDir dir;
  const auto path = dir / "model.gguf";
  std::ofstream(path) << "previous contents";
  Writer w;
  w.set("k", Value::from_u32(1));
  ASSERT_TRUE(w.write(path).ok());
  EXPECT_EQ(directory_entries(dir.path()), std::vector<std::string>{"model.gguf"});
  auto file = File::open(path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(*file->get_uint("k"), 1u);
}

TEST(GgufWriter, MissingDirectoryNamesThePath) {
  testing::TempDir dir;
  const auto path = dir / "no-such-dir" / "model.gguf";
  const Status s = Writer().write(path);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kIo);
  EXPECT_THAT(s.message(), HasSubstr(path.string()));
  EXPECT_THAT(s.message(), HasSubstr("cannot create"));
}

TEST(GgufWriter, SetReplacesInPlace) {
  testing::TempDir dir;
  Writer w;
  w.set("a", Value::from_u32(1));
  w.set("b", Value::from_u32(2));
  w.set("a", Value::from_string("one"));
  ASSERT_TRUE(w.write(dir / "s.gguf").ok());
  auto file = File::open(dir / "s.gguf");
  ASSERT_TRUE(file.ok());
  ASSERT_EQ(file->metadata().size(), 2u);
  EXPECT_EQ(file->metadata()[0].first, "a");
  EXPECT_EQ(*file->metadata()[0].second.as_string(), "one");
}

TEST(GgufWriter, AlignmentThroughSetAndSetAlignment) {
  testing::TempDir dir;
  Writer w;
  w.set("general.alignment", Value::from_u32(64));
  ASSERT_TRUE(w.add_tensor("t", quant::Type::F32, {3}, zero_fill).ok());
  EXPECT_EQ(w.data_bytes(), 64u);
  ASSERT_TRUE(w.write(dir / "a.gguf").ok());
  auto file = File::open(dir / "a.gguf");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->alignment(), 64u);

  // Back to the default: the key stays where it was, with the new value.
  w.set_alignment(32);
  ASSERT_TRUE(w.write(dir / "b.gguf").ok());
  auto b = File::open(dir / "b.gguf");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->alignment(), 32u);
  EXPECT_EQ(*b->get_uint("general.alignment"), 32u);
}

TEST(GgufWriter, RefusesBadAlignment) {
  testing::TempDir dir;
  for (uint64_t bad : {uint64_t{0}, uint64_t{3}, uint64_t{48}, uint64_t{1} << 32}) {
    Writer w;
    w.set_alignment(bad);
    const Status s = w.write(dir / "x.gguf");
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr(fmt::format("alignment {} is not a power of two", bad)));
  }
  Writer w;
  w.set("general.alignment", Value::from_string("64"));
  EXPECT_FALSE(w.write(dir / "x.gguf").ok());
  EXPECT_TRUE(directory_entries(dir.path()).empty());
}

TEST(GgufWriter, RefusesValuesItCannotEncode) {
  testing::TempDir dir;
  Writer w;
  w.set("mixed", Value::from_array_of_arrays({Value::from_i32_array({1}), Value::from_u32(2)}));
  Status s = w.write(dir / "x.gguf");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(),
              HasSubstr("metadata key 'mixed': element 1 of an array of arrays is a u32"));

  Value deep = Value::from_i32_array({1});
  for (int i = 1; i < kMaxArrayDepth; ++i) deep = Value::from_array_of_arrays({deep});
  Writer ok;
  ok.set("deep", deep);  // exactly kMaxArrayDepth levels
  ASSERT_TRUE(ok.write(dir / "deep.gguf").ok());
  auto file = File::open(dir / "deep.gguf");
  ASSERT_TRUE(file.ok()) << file.status().message();

  Writer too_deep;
  too_deep.set("deep", Value::from_array_of_arrays({deep}));
  s = too_deep.write(dir / "x.gguf");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("nest deeper than 8 levels"));
  EXPECT_EQ(directory_entries(dir.path()), std::vector<std::string>{"deep.gguf"});
}

}  // namespace
}  // namespace strata::gguf
