// KV cache type names (llama.cpp spellings) and the head dims each type can hold.
#include "kv/cache_type.h"

#include <gtest/gtest.h>

#include <string>

namespace strata::kv {
namespace {

using quant::Type;

TEST(CacheType, ListsLlamaCppTypesInOrder) {
  EXPECT_EQ(cache_type_names(), "f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0, iq4_nl");
  EXPECT_EQ(cache_types().size(), 9u);
}

TEST(CacheType, ParsesEveryNameCaseInsensitively) {
  for (Type type : cache_types()) {
    const std::string name(quant::type_name(type));
    auto parsed = parse_cache_type(name);
    ASSERT_TRUE(parsed.ok()) << name;
    EXPECT_EQ(*parsed, type);
    std::string upper = name;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    auto parsed_upper = parse_cache_type(upper);
    ASSERT_TRUE(parsed_upper.ok()) << upper;
    EXPECT_EQ(*parsed_upper, type);
  }
  EXPECT_EQ(*parse_cache_type("Q8_0"), Type::Q8_0);
  EXPECT_EQ(*parse_cache_type("IQ4_NL"), Type::IQ4_NL);
}

TEST(CacheType, RejectsOtherNamesListingValidOnes) {
  for (const char* bad : {"q4_K", "q6_K", "f64", "q8", "", "fp16", "q8_0 "}) {
    auto parsed = parse_cache_type(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(std::string("'") + bad + "'"), std::string::npos);
    EXPECT_NE(parsed.status().message().find("f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0, iq4_nl"),
              std::string::npos)
        << parsed.status().message();
  }
}

TEST(CacheType, PlainTypesFitAnyHeadDim) {
  for (uint32_t hd : {1u, 40u, 64u, 80u, 96u, 100u, 128u, 256u}) {
    EXPECT_TRUE(cache_type_fits_head_dim(Type::F32, hd));
    EXPECT_TRUE(cache_type_fits_head_dim(Type::F16, hd));
    EXPECT_TRUE(cache_type_fits_head_dim(Type::BF16, hd));
  }
  EXPECT_FALSE(cache_type_fits_head_dim(Type::F16, 0));
}

TEST(CacheType, QuantizedNeedMultipleOf32) {
  for (Type type : {Type::Q8_0, Type::Q5_1, Type::Q5_0, Type::Q4_1, Type::Q4_0, Type::IQ4_NL}) {
    EXPECT_TRUE(cache_type_fits_head_dim(type, 64));
    EXPECT_TRUE(cache_type_fits_head_dim(type, 96));
    EXPECT_TRUE(cache_type_fits_head_dim(type, 128));
    EXPECT_TRUE(cache_type_fits_head_dim(type, 256));
    EXPECT_FALSE(cache_type_fits_head_dim(type, 80));
    EXPECT_FALSE(cache_type_fits_head_dim(type, 100));
    EXPECT_FALSE(cache_type_fits_head_dim(type, 16));
  }
  // Not a cache type at all, even if the head dim would fit its blocks.
  EXPECT_FALSE(cache_type_fits_head_dim(Type::Q4_K, 256));
}

TEST(CacheType, TypesForHeadDim) {
  EXPECT_EQ(cache_types_for_head_dim(128).size(), 9u);
  const auto for_80 = cache_types_for_head_dim(80);
  ASSERT_EQ(for_80.size(), 3u);
  EXPECT_EQ(for_80[0], Type::F32);
  EXPECT_EQ(for_80[1], Type::F16);
  EXPECT_EQ(for_80[2], Type::BF16);
  EXPECT_TRUE(cache_types_for_head_dim(0).empty());
}

TEST(CacheType, CheckNamesWhatWorks) {
  EXPECT_TRUE(check_cache_type("K", Type::Q8_0, 128).ok());
  const Status s = check_cache_type("K", Type::Q4_0, 80);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  const std::string& m = s.message();
  EXPECT_NE(m.find("K cache type q4_0"), std::string::npos) << m;
  EXPECT_NE(m.find("multiple of 32"), std::string::npos) << m;
  EXPECT_NE(m.find("80"), std::string::npos) << m;
  EXPECT_NE(m.find("f32, f16, bf16"), std::string::npos) << m;
  EXPECT_EQ(m.find("q8_0"), std::string::npos) << "q8_0 does not work for 80: " << m;

  const Status v = check_cache_type("V", Type::Q6_K, 128);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.message().find("V cache type q6_K is not a KV cache type"), std::string::npos) << v.message();
}

}  // namespace
}  // namespace strata::kv
