// MappedFile, ContentHasher and logging setup.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <numeric>
#include <vector>

#include "core/content_hash.h"
#include "core/log.h"
#include "core/mapped_file.h"
#include "support/temp_dir.h"

namespace strata {
namespace {

TEST(MappedFile, MapsContents) {
  testing::TempDir dir;
  const auto path = dir / "a.bin";
  std::ofstream(path, std::ios::binary) << "hello";
  auto file = MappedFile::open(path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  ASSERT_EQ(file->size(), 5u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file->data()), 5), "hello");
  MappedFile moved = std::move(*file);
  EXPECT_EQ(moved.size(), 5u);
}

TEST(MappedFile, EmptyFileIsEmptySpan) {
  testing::TempDir dir;
  const auto path = dir / "empty";
  std::ofstream(path, std::ios::binary).flush();
  auto file = MappedFile::open(path);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->size(), 0u);
  EXPECT_TRUE(file->bytes().empty());
}

TEST(MappedFile, ClearErrors) {
  testing::TempDir dir;
  auto missing = MappedFile::open(dir / "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.status().message().find("does not exist"), std::string::npos);
  auto directory = MappedFile::open(dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.status().message().find("is a directory"), std::string::npos);
}

TEST(ContentHash, StreamingEqualsOneShot) {
  std::vector<uint8_t> data(100000);
  std::iota(data.begin(), data.end(), 0);
  const Hash128 whole = hash_bytes(data);
  ContentHasher hasher;
  hasher.update(std::span(data).first(12345));
  hasher.update(std::span(data).subspan(12345));
  EXPECT_EQ(hasher.finish(), whole);
  EXPECT_EQ(whole.hex().size(), 32u);
  data[500] ^= 1;
  EXPECT_NE(hash_bytes(data), whole);
}

TEST(Log, ParsesLevelsAndFormats) {
  EXPECT_TRUE(parse_log_level("DEBUG").ok());
  EXPECT_TRUE(parse_log_format("json").ok());
  auto bad = parse_log_level("loud");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("trace, debug, info, warn, error or off"), std::string::npos);
  setup_logging(spdlog::level::off, LogFormat::kJson);
  spdlog::info("not printed");
}

}  // namespace
}  // namespace strata
