// Status, Result and the propagation macros.
#include "core/status.h"

#include <gtest/gtest.h>

#include <memory>

namespace strata {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return invalid_argument("value {} must be > 0", v);
  return v;
}

Result<int> doubled(int v) {
  STRATA_ASSIGN_OR_RETURN(int x, parse_positive(v));
  return 2 * x;
}

Status check(int v) {
  STRATA_TRY(parse_positive(v).status());
  return {};
}

TEST(Status, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.to_string(), "ok");
}

TEST(Status, MessageAndContext) {
  Status s = corrupt("tensor '{}' offset {} past end {}", "w", 10, 5);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kCorrupt);
  EXPECT_EQ(s.with_context("reading m.gguf").message(), "reading m.gguf: tensor 'w' offset 10 past end 5");
  EXPECT_EQ(Status().with_context("x").ok(), true);
}

TEST(Result, ValueAndError) {
  auto ok = doubled(4);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 8);
  auto bad = doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "value -1 must be > 0");
  EXPECT_TRUE(check(3).ok());
  EXPECT_EQ(check(0).code(), ErrorCode::kInvalidArgument);
}

TEST(Result, OkStatusBecomesInternalError) {
  Result<int> r{Status()};
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInternal);
}

TEST(Result, MoveOnlyValue) {
  Result<std::unique_ptr<int>> r{std::make_unique<int>(7)};
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

}  // namespace
}  // namespace strata
