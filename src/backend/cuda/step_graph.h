// StepGraph: runs a decode step's ops as one CUDA graph, re-used while the steps issue the
// same ops.
//
// A step is everything a caller enqueues between two host synchronisations (read() of the
// logits, synchronize()), or from a host->device write() of a stage's input to the next one. When its first op has at most kMaxGraphTokens tokens, the ops are
// not launched one by one: each op is kept as a launch closure plus a signature (its kernel
// and every argument a graph would bake in), and its host metadata (token ids, positions, KV
// row addresses) is staged into one pinned area. At the end of the step the whole area goes to
// the GPU in one copy, then the step's graph runs: the cached graph whose signatures equal this
// step's, else the closures are captured into a new one (cudaGraphExecUpdate on a cached graph
// of the same length where the topology allows, else a fresh instantiation). Values that
// change every step (positions, the KV cell a token is written to, the attention length) are
// read by the kernels from the staged area, so a steady decode replays one graph without
// capturing. Larger steps (prefill) are launched op by op as before.
#pragma once

#include <cuda_runtime_api.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <list>
#include <memory>
#include <type_traits>
#include <vector>

#include "backend/cuda/kernels.h"
#include "core/status.h"

namespace strata::backend::cuda {

// Steps whose first op has at most this many tokens are run as graphs.
inline constexpr int64_t kMaxGraphTokens = 8;

// An op's identity within a step: a kind tag, then its launch arguments as 64-bit words.
struct OpSignature {
  static constexpr size_t kWords = 25;  // the longest op graphed, the decode attention, fills it
  std::array<uint64_t, kWords> words{};
  size_t n = 0;

  template <typename T>
  OpSignature& add(T value) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(uint64_t));
    uint64_t w = 0;
    std::memcpy(&w, &value, sizeof(T));
    if (n < kWords) words[n] = w;
    ++n;  // an overflow makes the signature unequal to everything (see valid())
    return *this;
  }
  bool valid() const { return n <= kWords; }
  bool operator==(const OpSignature& o) const { return n == o.n && words == o.words; }
};

class StepGraph {
 public:
  using Launch = std::function<cudaError_t(cudaStream_t)>;

  // Graph steps on `stream`; STRATA_CUDA_GRAPHS=0 in the environment turns them off.
  static Result<std::unique_ptr<StepGraph>> create(cudaStream_t stream);
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  bool enabled() const { return enabled_; }
  // Whether ops are being collected for a graph now.
  bool in_step() const { return in_step_; }

  // Called by an op before it enqueues anything: opens a graph step when none is open, the
  // stream has drained (ready_to_open()) and n_tokens is small enough.
  void maybe_open(int64_t n_tokens);

  // Copies host values into the step's staging area; returns where the kernels find them.
  Result<void*> stage(const void* values, size_t bytes);

  // In a step: keeps the op for the step's end (graphable false: it cannot go into a graph,
  // e.g. cuBLAS, so this step runs op by op). Outside a step: launches it now.
  // `name` (a string literal) names the op in errors.
  cudaError_t submit(const char* name, const OpSignature& sig, Launch launch, bool graphable = true);

  // Rewrites a step's launches before they are captured into a new graph: given the step's
  // signatures, it may replace launch i by one that also does the work of the next ones and
  // set those to empty (skipped). Signatures stay as submitted, so the cache still matches.
  using Fuser = std::function<void(const std::vector<OpSignature>& sigs, std::vector<Launch>& launches)>;
  void set_fuser(Fuser fuser) { fuser_ = std::move(fuser); }

  // Plans, for a new graph, what to pull into L2 beside the main chain: after[i] lists the
  // ranges to prefetch once launch i (after fusion) has run. Each non-empty list becomes a
  // prefetch kernel on a side branch that forks after launch i; the branch joins the chain at
  // the step's end, so the chain's kernels never wait for it.
  using PrefetchPlanner = std::function<void(const std::vector<OpSignature>& sigs, const std::vector<Launch>& launches,
                                             std::vector<std::vector<L2Range>>& after)>;
  // in_chain: the prefetch kernel goes into the chain itself, right after launch i, as a
  // dependent launch (no branch, no join).
  void set_prefetch_planner(PrefetchPlanner planner, bool bulk, bool in_chain = false) {
    planner_ = std::move(planner);
    bulk_prefetch_ = bulk;
    prefetch_in_chain_ = in_chain;
  }

  // Ends the step: copies the staging area, runs the graph (or the ops one by one). Errors name
  // the op that failed to launch or the graph call that failed.
  Status flush();

  // Tells the step machinery that the stream is drained (after a host synchronisation).
  void drained() { drained_ = true; }
  // Tells it that work outside a step was enqueued.
  void enqueued_outside() { drained_ = false; }

  // Counters for tests and benchmarks: graph steps replayed from the cache, captured anew,
  // and steps run op by op.
  struct Stats {
    uint64_t replayed = 0;
    uint64_t captured = 0;
    uint64_t eager = 0;
  };
  const Stats& stats() const { return stats_; }
  // Ops submitted so far (in steps or not): lets an op tell whether anything ran since.
  uint64_t submitted() const { return submitted_; }

 private:
  struct Pending {
    const char* name;
    Launch launch;
  };
  struct Cached {
    std::vector<OpSignature> sigs;
    size_t staged_bytes = 0;
    cudaGraphExec_t exec = nullptr;
  };

  explicit StepGraph(cudaStream_t stream) : stream_(stream) {}
  cudaError_t capture_and_launch();
  void reset_step();

  cudaStream_t stream_;
  bool enabled_ = true;
  bool in_step_ = false;
  bool drained_ = true;
  bool graphable_ = true;
  std::vector<Pending> pending_;
  std::vector<OpSignature> sigs_;  // pending_'s signatures, for comparison with the cache
  std::vector<Launch> launches_;   // the launches being captured (after fusion)
  Fuser fuser_;
  PrefetchPlanner planner_;
  bool bulk_prefetch_ = false;
  bool prefetch_in_chain_ = false;
  std::vector<std::vector<L2Range>> prefetch_after_;
  cudaStream_t side_ = nullptr;  // the prefetch branch while a graph is captured
  cudaEvent_t fork_ = nullptr;
  cudaEvent_t join_ = nullptr;

  static constexpr size_t kStagingBytes = size_t{2} << 20;
  uint8_t* host_staging_ = nullptr;  // pinned
  uint8_t* dev_staging_ = nullptr;
  // Recorded after each step's staging copy: the next step waits for it before it writes the
  // pinned area again, so a step may open without a host synchronisation before it (a stage
  // behind a host->device write of its input, as in a -ngl or -ts split).
  cudaEvent_t staging_copied_ = nullptr;
  size_t staged_ = 0;

  static constexpr size_t kMaxCached = 8;
  std::list<Cached> cache_;  // most recently used first
  Stats stats_;
  uint64_t submitted_ = 0;
};

}  // namespace strata::backend::cuda
