// Vocabulary validation, and reading the reference vocabularies' metadata.
#include <gtest/gtest.h>

#include "gguf/file.h"
#include "support/fixtures.h"
#include "tiny_vocab.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/tokenizer.h"

namespace strata::tokenizer {
namespace {

std::string error_of(const Vocab& v) {
  auto t = Tokenizer::create(v);
  return t.ok() ? std::string() : t.status().message();
}

TEST(Vocab, RejectsInconsistentSizes) {
  Vocab v = testing::spm_vocab({{"a", -1}});
  v.scores.pop_back();
  EXPECT_NE(error_of(v).find("tokenizer.ggml.scores has"), std::string::npos);
  v = testing::spm_vocab({{"a", -1}});
  v.types.push_back(TokenType::kNormal);
  EXPECT_NE(error_of(v).find("tokenizer.ggml.token_type has"), std::string::npos);
  EXPECT_NE(error_of(Vocab{}).find("empty"), std::string::npos);
}

TEST(Vocab, RejectsIdsOutsideTheVocabulary) {
  Vocab v = testing::spm_vocab({{"a", -1}});
  v.eos = static_cast<TokenId>(v.size());
  EXPECT_NE(error_of(v).find("tokenizer.ggml.eos_token_id = " + std::to_string(v.size())), std::string::npos)
      << error_of(v);
  v = testing::spm_vocab({{"a", -1}});
  v.bos = kNoToken;
  v.add_bos = true;
  EXPECT_NE(error_of(v).find("add_bos_token is true"), std::string::npos);
}

TEST(Vocab, RejectsUnknownTokenTypesAndDuplicates) {
  Vocab v = testing::spm_vocab({{"a", -1}});
  v.types[3] = static_cast<TokenType>(9);
  EXPECT_NE(error_of(v).find("token_type[3] = 9"), std::string::npos) << error_of(v);
  v = testing::spm_vocab({{"a", -1}, {"a", -2}});
  EXPECT_NE(error_of(v).find("'a' twice"), std::string::npos) << error_of(v);
}

TEST(Vocab, ReadsTheReferenceVocabularies) {
  STRATA_REQUIRE_FIXTURES();
  const auto dir = strata::testing::fixtures_dir() / "tokenizer";
  {
    auto file = gguf::File::open(dir / "ggml-vocab-llama-spm.gguf");
    ASSERT_TRUE(file.ok()) << file.status().to_string();
    auto v = vocab_from_gguf(*file);
    ASSERT_TRUE(v.ok()) << v.status().to_string();
    EXPECT_EQ(v->kind, VocabKind::kSpm);
    EXPECT_EQ(v->size(), 32000u);
    EXPECT_EQ(v->bos, 1);
    EXPECT_EQ(v->eos, 2);
    EXPECT_EQ(v->unk, 0);
    EXPECT_TRUE(v->add_bos);
    EXPECT_FALSE(v->add_eos);
    EXPECT_TRUE(v->add_space_prefix);  // key absent: SentencePiece's default
    EXPECT_EQ(v->type_of(13), TokenType::kByte);  // <0x0A>
  }
  {
    auto file = gguf::File::open(dir / "ggml-vocab-deepseek-llm.gguf");
    ASSERT_TRUE(file.ok());
    auto v = vocab_from_gguf(*file);
    ASSERT_TRUE(v.ok()) << v.status().to_string();
    EXPECT_EQ(v->kind, VocabKind::kBpe);
    EXPECT_EQ(v->pre, "deepseek-llm");
    EXPECT_EQ(v->size(), 102400u);
    EXPECT_EQ(v->merges.size(), 99757u);
    EXPECT_EQ(v->bos, 100000);
    EXPECT_EQ(v->eos, 100001);
    EXPECT_FALSE(v->add_space_prefix);
  }
  {
    auto file = gguf::File::open(dir / "ggml-vocab-gpt-2.gguf");
    ASSERT_TRUE(file.ok());
    auto t = Tokenizer::from_gguf(*file);
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    EXPECT_EQ(t->size(), 50257u);
    EXPECT_EQ(t->bos(), 50256);
    EXPECT_EQ(t->eos(), 50256);
    EXPECT_EQ(t->pre_tokenizer_name(), "gpt-2");
    EXPECT_EQ(t->vocab().merges.size(), 50000u);
  }
}

}  // namespace
}  // namespace strata::tokenizer
