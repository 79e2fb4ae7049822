// The ggml type table: ids, block geometry, names and row sizes.
#include "quant/type.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace strata::quant {
namespace {

TEST(TypeTable, EveryDefinedIdIsPresentAndRemovedIdsAreNot) {
  const std::set<uint32_t> removed = {4, 5, 31, 32, 33, 36, 37, 38};
  for (uint32_t id = 0; id < 40; ++id) {
    const TypeInfo* info = find_type(id);
    if (removed.count(id) != 0) {
      EXPECT_EQ(info, nullptr) << id;
    } else {
      ASSERT_NE(info, nullptr) << id;
      EXPECT_EQ(static_cast<uint32_t>(info->type), id);
    }
  }
  EXPECT_EQ(find_type(40), nullptr);
  EXPECT_EQ(find_type(0xFFFFFFFFu), nullptr);
  EXPECT_EQ(all_types().size(), 32u);
}

TEST(TypeTable, BlockGeometryMatchesGgml) {
  struct Expect {
    Type type;
    uint32_t block_size, block_bytes;
  };
  const Expect expected[] = {
      {Type::F32, 1, 4},         {Type::F16, 1, 2},        {Type::Q4_0, 32, 18},     {Type::Q4_1, 32, 20},
      {Type::Q5_0, 32, 22},      {Type::Q5_1, 32, 24},     {Type::Q8_0, 32, 34},     {Type::Q8_1, 32, 36},
      {Type::Q2_K, 256, 84},     {Type::Q3_K, 256, 110},   {Type::Q4_K, 256, 144},   {Type::Q5_K, 256, 176},
      {Type::Q6_K, 256, 210},    {Type::Q8_K, 256, 292},   {Type::IQ2_XXS, 256, 66}, {Type::IQ2_XS, 256, 74},
      {Type::IQ3_XXS, 256, 98},  {Type::IQ1_S, 256, 50},   {Type::IQ4_NL, 32, 18},   {Type::IQ3_S, 256, 110},
      {Type::IQ2_S, 256, 82},    {Type::IQ4_XS, 256, 136}, {Type::I8, 1, 1},         {Type::I16, 1, 2},
      {Type::I32, 1, 4},         {Type::I64, 1, 8},        {Type::F64, 1, 8},        {Type::IQ1_M, 256, 56},
      {Type::BF16, 1, 2},        {Type::TQ1_0, 256, 54},   {Type::TQ2_0, 256, 66},   {Type::MXFP4, 32, 17},
  };
  EXPECT_EQ(std::size(expected), all_types().size());
  for (const Expect& e : expected) {
    const TypeInfo& info = type_info(e.type);
    EXPECT_EQ(info.block_size, e.block_size) << info.name;
    EXPECT_EQ(info.block_bytes, e.block_bytes) << info.name;
  }
}

TEST(TypeTable, ComputeSupportFlags) {
  const std::set<Type> implemented = {Type::F32,  Type::F16,  Type::BF16, Type::Q4_0, Type::Q4_1,
                                      Type::Q5_0, Type::Q5_1, Type::Q8_0, Type::Q2_K, Type::Q3_K,
                                      Type::Q4_K, Type::Q5_K, Type::Q6_K, Type::IQ4_NL, Type::IQ4_XS};
  for (const TypeInfo& info : all_types()) {
    const bool want = implemented.count(info.type) != 0;
    EXPECT_EQ(info.can_dequantize, want) << info.name;
    EXPECT_EQ(info.can_quantize, want) << info.name;
  }
  EXPECT_FALSE(type_info(Type::F32).quantized);
  EXPECT_FALSE(type_info(Type::BF16).quantized);
  EXPECT_FALSE(type_info(Type::I32).quantized);
  EXPECT_TRUE(type_info(Type::Q4_K).quantized);
  EXPECT_TRUE(type_info(Type::MXFP4).quantized);
}

TEST(TypeTable, NamesUseGgmlSpellingAndParseInAnyCase) {
  EXPECT_EQ(type_name(Type::Q4_K), "q4_K");
  EXPECT_EQ(type_name(Type::IQ4_NL), "iq4_nl");
  EXPECT_EQ(type_name(Type::BF16), "bf16");
  EXPECT_EQ(type_from_name("q4_K"), Type::Q4_K);
  EXPECT_EQ(type_from_name("q4_k"), Type::Q4_K);
  EXPECT_EQ(type_from_name("Q4_K"), Type::Q4_K);
  EXPECT_EQ(type_from_name("IQ4_NL"), Type::IQ4_NL);
  EXPECT_EQ(type_from_name("Iq4_Xs"), Type::IQ4_XS);
  EXPECT_EQ(type_from_name("F32"), Type::F32);
  EXPECT_EQ(type_from_name("mxfp4"), Type::MXFP4);
  EXPECT_EQ(type_from_name(""), std::nullopt);
  EXPECT_EQ(type_from_name("q4"), std::nullopt);
  EXPECT_EQ(type_from_name("q4_K_M"), std::nullopt);
  EXPECT_EQ(type_from_name("q4_0_4_4"), std::nullopt);
  for (const TypeInfo& info : all_types()) EXPECT_EQ(type_from_name(info.name), info.type) << info.name;
}

TEST(TypeTable, UnknownTypeValueIsHandled) {
  const auto bogus = static_cast<Type>(99);
  EXPECT_EQ(type_name(bogus), "invalid");
  EXPECT_FALSE(type_info(bogus).can_dequantize);
  const auto r = row_bytes(bogus, 32);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("99"), std::string::npos) << r.status().message();
}

TEST(RowBytes, MultiplesOfTheBlockSize) {
  EXPECT_EQ(row_bytes(Type::F32, 4096).value(), 16384u);
  EXPECT_EQ(row_bytes(Type::F16, 7).value(), 14u);
  EXPECT_EQ(row_bytes(Type::Q4_0, 4096).value(), 2304u);
  EXPECT_EQ(row_bytes(Type::Q4_K, 4096).value(), 2304u);
  EXPECT_EQ(row_bytes(Type::Q6_K, 4096).value(), 3360u);
  EXPECT_EQ(row_bytes(Type::IQ2_XXS, 512).value(), 132u);
  EXPECT_EQ(row_bytes(Type::MXFP4, 64).value(), 34u);
  EXPECT_EQ(row_bytes(Type::Q8_0, 0).value(), 0u);
}

TEST(RowBytes, RejectsPartialBlocksAndOverflow) {
  const auto partial = row_bytes(Type::Q4_K, 100);
  ASSERT_FALSE(partial.ok());
  EXPECT_EQ(partial.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(partial.status().message().find("256"), std::string::npos) << partial.status().message();
  EXPECT_NE(partial.status().message().find("100"), std::string::npos) << partial.status().message();
  EXPECT_FALSE(row_bytes(Type::Q4_0, 33).ok());
  const auto huge = row_bytes(Type::F64, uint64_t{1} << 62);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("overflow"), std::string::npos);
  EXPECT_TRUE(row_bytes(Type::F64, uint64_t{1} << 60).ok());
}

}  // namespace
}  // namespace strata::quant
