// StepGraph: collecting a decode step's ops, then one graph launch per step.
#include "backend/cuda/step_graph.h"

#include <cstdlib>
#include <string>

namespace strata::backend::cuda {
namespace {

constexpr size_t kStageAlign = 64;

std::string describe(cudaError_t e) { return fmt::format("{} ({})", cudaGetErrorString(e), cudaGetErrorName(e)); }

}  // namespace

Result<std::unique_ptr<StepGraph>> StepGraph::create(cudaStream_t stream) {
  auto g = std::unique_ptr<StepGraph>(new StepGraph(stream));
  if (const char* env = std::getenv("STRATA_CUDA_GRAPHS"); env != nullptr && std::string(env) == "0") {
    g->enabled_ = false;
    return g;
  }
  cudaError_t e = cudaMallocHost(reinterpret_cast<void**>(&g->host_staging_), kStagingBytes);
  if (e == cudaSuccess) e = cudaMalloc(reinterpret_cast<void**>(&g->dev_staging_), kStagingBytes);
  if (e == cudaSuccess) e = cudaEventCreateWithFlags(&g->staging_copied_, cudaEventDisableTiming);
  if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&g->side_, cudaStreamNonBlocking);
  if (e == cudaSuccess) e = cudaEventCreateWithFlags(&g->fork_, cudaEventDisableTiming);
  if (e == cudaSuccess) e = cudaEventCreateWithFlags(&g->join_, cudaEventDisableTiming);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return resource_exhausted("cuda: cannot set up decode-step graphs (a {} KiB staging area, a side stream, "
                              "three events): {}",
                              kStagingBytes >> 10, describe(e));
  }
  g->pending_.reserve(1024);
  g->sigs_.reserve(1024);
  return g;
}

StepGraph::~StepGraph() {
  for (Cached& c : cache_) {
    if (c.exec != nullptr) cudaGraphExecDestroy(c.exec);
  }
  if (dev_staging_ != nullptr) cudaFree(dev_staging_);
  if (staging_copied_ != nullptr) cudaEventDestroy(staging_copied_);
  if (fork_ != nullptr) cudaEventDestroy(fork_);
  if (join_ != nullptr) cudaEventDestroy(join_);
  if (side_ != nullptr) cudaStreamDestroy(side_);
  if (host_staging_ != nullptr) cudaFreeHost(host_staging_);
}

void StepGraph::maybe_open(int64_t n_tokens) {
  if (in_step_ || !enabled_ || !drained_ || n_tokens > kMaxGraphTokens) return;
  in_step_ = true;
  graphable_ = true;
}

Result<void*> StepGraph::stage(const void* values, size_t bytes) {
  const size_t offset = (staged_ + kStageAlign - 1) / kStageAlign * kStageAlign;
  if (offset + bytes > kStagingBytes) {
    return resource_exhausted("cuda: a decode step stages more than {} KiB of metadata (ids, positions); run "
                              "fewer sequences or tokens per step",
                              kStagingBytes >> 10);
  }
  if (staged_ == 0 && bytes > 0 && staging_copied_ != nullptr) {
    // The previous step's copy out of the pinned area must be done before it is overwritten.
    const cudaError_t e = cudaEventSynchronize(staging_copied_);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return internal_error("cuda: waiting for the previous decode step's metadata copy failed: {}", describe(e));
    }
  }
  if (bytes > 0) std::memcpy(host_staging_ + offset, values, bytes);
  staged_ = offset + bytes;
  return static_cast<void*>(dev_staging_ + offset);
}

cudaError_t StepGraph::submit(const char* name, const OpSignature& sig, Launch launch, bool graphable) {
  ++submitted_;
  if (!in_step_) {
    drained_ = false;
    return launch(stream_);
  }
  if (!graphable || !sig.valid()) graphable_ = false;
  pending_.push_back({name, std::move(launch)});
  sigs_.push_back(sig);
  return cudaSuccess;
}

void StepGraph::reset_step() {
  in_step_ = false;
  drained_ = false;
  pending_.clear();
  sigs_.clear();
  staged_ = 0;
}

Status StepGraph::flush() {
  if (!in_step_) return {};
  cudaError_t e = cudaSuccess;
  const char* failed = "staging copy";
  if (staged_ > 0) e = cudaMemcpyAsync(dev_staging_, host_staging_, staged_, cudaMemcpyHostToDevice, stream_);
  if (staged_ > 0 && e == cudaSuccess) e = cudaEventRecord(staging_copied_, stream_);
  if (e == cudaSuccess && pending_.empty()) {
    // nothing to run
  } else if (e == cudaSuccess && graphable_) {
    failed = "step graph";
    e = capture_and_launch();
  } else if (e == cudaSuccess) {
    ++stats_.eager;
    for (Pending& p : pending_) {
      e = p.launch(stream_);
      if (e != cudaSuccess) {
        failed = p.name;
        break;
      }
    }
  }
  reset_step();
  if (e != cudaSuccess) {
    cudaGetLastError();
    return internal_error("cuda: launching a decode step failed at {}: {}", failed, describe(e));
  }
  return {};
}

cudaError_t StepGraph::capture_and_launch() {
  for (auto it = cache_.begin(); it != cache_.end(); ++it) {
    if (it->staged_bytes == staged_ && it->sigs == sigs_) {
      cache_.splice(cache_.begin(), cache_, it);
      ++stats_.replayed;
      return cudaGraphLaunch(cache_.front().exec, stream_);
    }
  }
  ++stats_.captured;
  launches_.clear();
  for (Pending& p : pending_) launches_.push_back(std::move(p.launch));
  if (fuser_) fuser_(sigs_, launches_);
  prefetch_after_.assign(launches_.size(), {});
  if (planner_) planner_(sigs_, launches_, prefetch_after_);
  cudaError_t e = cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed);
  if (e != cudaSuccess) return e;
  bool forked = false;
  for (size_t i = 0; i < launches_.size() && e == cudaSuccess; ++i) {
    if (!launches_[i]) continue;
    e = launches_[i](stream_);
    const std::vector<L2Range>& ranges = prefetch_after_[i];
    if (e != cudaSuccess || ranges.empty()) continue;
    // On a branch, the side stream joins the capture through the event, and its kernels queue
    // behind one another there, each after its own fork point; in the chain, no fork at all.
    if (!prefetch_in_chain_) {
      e = cudaEventRecord(fork_, stream_);
      if (e == cudaSuccess) e = cudaStreamWaitEvent(side_, fork_, 0);
      forked = forked || e == cudaSuccess;
    }
    for (size_t r = 0; e == cudaSuccess && r < ranges.size(); r += kMaxL2Ranges) {
      const int n = static_cast<int>(ranges.size() - r < kMaxL2Ranges ? ranges.size() - r : kMaxL2Ranges);
      e = launch_l2_prefetch(ranges.data() + r, n, bulk_prefetch_, prefetch_in_chain_,
                             prefetch_in_chain_ ? stream_ : side_);
    }
  }
  // A capture must end with every forked stream joined back.
  if (forked) {
    const cudaError_t j = cudaEventRecord(join_, side_);
    const cudaError_t w = j == cudaSuccess ? cudaStreamWaitEvent(stream_, join_, 0) : j;
    if (e == cudaSuccess) e = w;
  }
  launches_.clear();
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
  if (e == cudaSuccess) e = end;
  if (e != cudaSuccess) {
    if (graph != nullptr) cudaGraphDestroy(graph);
    return e;
  }
  // A cached graph of the same length usually differs only in arguments (the attention's
  // split count, a grown scratch buffer): update it in place, which is cheaper than a new one.
  for (auto it = cache_.begin(); it != cache_.end(); ++it) {
    if (it->sigs.size() != sigs_.size()) continue;
    cudaGraphExecUpdateResultInfo info{};
    if (cudaGraphExecUpdate(it->exec, graph, &info) == cudaSuccess) {
      it->sigs = sigs_;
      it->staged_bytes = staged_;
      cache_.splice(cache_.begin(), cache_, it);
      cudaGraphDestroy(graph);
      return cudaGraphLaunch(cache_.front().exec, stream_);
    }
    cudaGetLastError();
    break;
  }
  cudaGraphExec_t exec = nullptr;
  e = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (e != cudaSuccess) return e;
  if (cache_.size() >= kMaxCached) {
    cudaGraphExecDestroy(cache_.back().exec);
    cache_.pop_back();
  }
  cache_.push_front({sigs_, staged_, exec});
  return cudaGraphLaunch(exec, stream_);
}

}  // namespace strata::backend::cuda
