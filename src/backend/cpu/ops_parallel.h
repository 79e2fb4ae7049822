// How the non-matmul ops split a batch across the thread pool: contiguous ranges, one per
// thread, and only when the batch is big enough to pay for waking the workers.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/thread_pool.h"

namespace strata::backend::cpu {

// Below this many floats touched, an op runs on the calling thread: a pool wake-up costs
// several microseconds, about what these ops take on 32k floats.
inline constexpr int64_t kOpsParallelMinElems = int64_t{1} << 15;

// Calls fn(begin, end) over [0, n_items) in one contiguous range per thread (ranges a
// multiple of `align` items, except the last), or once over the whole range when
// n_items * elems_per_item is small or the pool has one thread.
template <typename Fn>
void for_ranges(ThreadPool& pool, int64_t n_items, int64_t elems_per_item, int64_t align, const Fn& fn) {
  if (n_items <= 0) return;
  const int64_t n_threads = static_cast<int64_t>(pool.size());
  // n_items * elems_per_item >= kOpsParallelMinElems, written so that it cannot overflow.
  const bool big = n_items > (kOpsParallelMinElems - 1) / std::max<int64_t>(elems_per_item, 1);
  if (n_threads <= 1 || !big || n_items < 2) {
    fn(int64_t{0}, n_items);
    return;
  }
  int64_t per = (n_items + n_threads - 1) / n_threads;
  per = (per + align - 1) / align * align;
  pool.run_on_all([&](size_t thread_index, size_t) {
    const int64_t begin = static_cast<int64_t>(thread_index) * per;
    const int64_t end = std::min(n_items, begin + per);
    if (begin < end) fn(begin, end);
  });
}

}  // namespace strata::backend::cpu
