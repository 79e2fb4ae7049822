// engine::Batch: filling and viewing a batch.
#include "engine/batch.h"

#include <gtest/gtest.h>

namespace strata::engine {
namespace {

TEST(BatchTest, AddAndView) {
  Batch batch(4);
  EXPECT_TRUE(batch.empty());
  batch.add(7, 0, 0, false);
  batch.add(8, 0, 1, true);
  EXPECT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch.n_outputs(), 1u);
  const model::BatchView view = batch.view();
  EXPECT_EQ(std::vector<int32_t>(view.tokens.begin(), view.tokens.end()), (std::vector<int32_t>{7, 8}));
  EXPECT_EQ(std::vector<int32_t>(view.seq_ids.begin(), view.seq_ids.end()), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(std::vector<uint8_t>(view.output.begin(), view.output.end()), (std::vector<uint8_t>{0, 1}));
  EXPECT_EQ(view.meta().n_tokens(), 2);
  batch.clear();
  EXPECT_TRUE(batch.empty());
}

TEST(BatchTest, AddSequenceNumbersPositionsAndMarksTheLast) {
  Batch batch;
  batch.add_sequence({5, 6, 7}, 10, 2, false);
  const model::BatchView view = batch.view();
  EXPECT_EQ(std::vector<int32_t>(view.positions.begin(), view.positions.end()), (std::vector<int32_t>{10, 11, 12}));
  EXPECT_EQ(std::vector<int32_t>(view.seq_ids.begin(), view.seq_ids.end()), (std::vector<int32_t>{2, 2, 2}));
  EXPECT_EQ(batch.n_outputs(), 1u);
  EXPECT_EQ(view.output[2], 1);
  batch.add_sequence({1, 2}, 0, 0, true);
  EXPECT_EQ(batch.n_outputs(), 3u);
}

}  // namespace
}  // namespace strata::engine
