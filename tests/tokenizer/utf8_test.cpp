// UTF-8 validation and replacement of ill-formed bytes.
#include <gtest/gtest.h>

#include "tokenizer/byte_encoding.h"
#include "core/utf8.h"

namespace strata::tokenizer {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(Utf8, AcceptsWellFormedText) {
  EXPECT_TRUE(check_utf8("").ok());
  EXPECT_TRUE(check_utf8("plain ascii").ok());
  EXPECT_TRUE(check_utf8("é 中 😀 \xF4\x8F\xBF\xBF").ok());  // up to U+10FFFF
}

TEST(Utf8, RejectsIllFormedTextWithTheOffset) {
  for (const std::string bad : {"\x80", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE4\xB8", "\xFF"}) {
    const Status s = check_utf8("ok" + bad);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("offset 2"), std::string::npos) << s.message();
  }
}

TEST(Utf8, SanitizeReplacesMaximalSubparts) {
  EXPECT_EQ(sanitize_utf8("a\xE2\x82" "b"), "a" + kFffd + "b");  // one truncated sequence
  EXPECT_EQ(sanitize_utf8("\xFF\xFE"), kFffd + kFffd);
  EXPECT_EQ(sanitize_utf8("\xC0\xAF"), kFffd + kFffd);           // overlong: two bad bytes
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // surrogate
  EXPECT_EQ(sanitize_utf8("\xF0\x9F\x98"), kFffd);
  EXPECT_EQ(sanitize_utf8("中文"), "中文");
}

TEST(ByteEncoding, MapsEveryByteToAPrintableCodePointAndBack) {
  EXPECT_EQ(byte_to_utf8(' '), "Ġ");
  EXPECT_EQ(byte_to_utf8('\n'), "Ċ");
  EXPECT_EQ(byte_to_utf8('a'), "a");
  for (unsigned b = 0; b < 256; ++b) {
    const auto back = code_point_to_byte(byte_to_code_point(static_cast<uint8_t>(b)));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, b);
  }
  EXPECT_EQ(decode_byte_level("HelloĠworldĊ"), "Hello world\n");
}

}  // namespace
}  // namespace strata::tokenizer
