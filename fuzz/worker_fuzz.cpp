// Fuzzes the worker's message handling (dist::WorkerCore). The first byte picks the message
// (its value mod 8), the rest is the message's protobuf encoding:
//   0 Handshake   1 PrepareStage   3 Forward   4 SequenceOp
//   2, 5 UploadStage: [u16 little-endian header length][UploadHeader][tensor data], the data
//        arriving in chunks of up to 1 KiB
//   6 Results: a coordinator's results stream opens (replacing one of the same session), is
//        drained and closes
//   7 a forged stage: an upload as in 2 whose content hash the harness sets to what the data
//     hashes to (as a coordinator that forges a stage would), then PrepareStage of it from the
//     cache and one Forward through it. This reaches what a peer's metadata and tensors do to
//     read_hparams and Stage::create, which a fuzzer could not reach by guessing a hash.
// A tiny synth model backs the worker: stage 1 is layers 0-1 (64 cells, 2 sequences, batch 8,
// K f16 / V q4_0, flash attention), stage 2 layers 2-3 (8 cells, 2 sequences, batch 4, f32 /
// q8_0, plain attention), and Results session 1 is open. A next hop named "self" is this worker
// (so chains run through both stages); any other address is unreachable. Each input starts from
// the same state: both stages re-prepared (empty caches, no micro-batch history), session 1
// drained; an input that left other stages gets a fresh worker. Anything may fail; nothing may
// crash, leak or hang.
#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "dist/stage_identity.h"
#include "dist/worker_core.h"
#include "model/synth.h"

namespace {

namespace v1 = strata::dist::v1;
namespace fs = std::filesystem;

constexpr uint64_t kResultsSession = 1;
constexpr size_t kBaseStages = 2;

struct Harness {
  fs::path dir;
  std::unique_ptr<strata::backend::cpu::CpuBackend> backend;
  std::unique_ptr<strata::dist::WorkerCore> core;
  v1::PrepareRequest base[kBaseStages];
  std::shared_ptr<strata::dist::ResultQueue> results;
};

fs::path scratch_dir() {
  return fs::temp_directory_path() / ("strata-worker-fuzz-" + std::to_string(::getpid()));
}

// A failure here is the harness's, not the input's.
[[noreturn]] void harness_failed(const char* what, const strata::Status& status) {
  std::fprintf(stderr, "worker fuzz harness: %s: %s\n", what, status.message().c_str());
  std::abort();
}

v1::PrepareRequest base_request(const strata::gguf::File& file, strata::model::LayerRange range) {
  auto id = strata::dist::stage_identity(file, range);
  if (!id.ok()) harness_failed("stage identity", id.status());
  v1::PrepareRequest r;
  r.set_content_hash(id->content.hex());
  r.set_shape_hash(id->shape.hex());
  r.set_layer_begin(range.begin);
  r.set_layer_end(range.end);
  return r;
}

// A fresh worker with the two base stages and session 1; the cache starts empty.
void rebuild(Harness& h) {
  h.results.reset();
  h.core.reset();
  std::error_code ec;
  fs::remove_all(h.dir / "cache", ec);
  strata::dist::WorkerConfig config;
  config.model_files = {h.dir / "tiny.gguf"};
  config.cache_dir = h.dir / "cache";
  // The real bound on what a prepare may allocate (--mem); the base stages take a few MiB.
  config.memory_limit = uint64_t{256} << 20;
  config.micro_batch_wait = std::chrono::milliseconds(2);  // inputs name requests that never ran
  Harness* self = &h;
  auto core = strata::dist::WorkerCore::create(
      *h.backend, config,
      [self](const std::string& address, const v1::ForwardRequest& request, v1::ForwardReply* reply) {
        if (address == "self") return self->core->forward(request, reply);
        return strata::unavailable("worker {}: unreachable (fuzzing)", address.substr(0, 64));
      });
  if (!core.ok()) harness_failed("worker", core.status());
  h.core = std::move(*core);
  for (size_t i = 0; i < kBaseStages; ++i) {
    v1::PrepareReply reply;
    strata::Status s = h.core->prepare(h.base[i], &reply);
    if (!s.ok()) harness_failed("base stage", s);
    if (reply.stage_id() != i + 1) harness_failed("base stage id", strata::internal_error("ids start at 1"));
  }
  h.results = h.core->open_session(kResultsSession);
}

Harness* make_harness() {
  // The worker's log and protobuf's complaints about bad UTF-8 would be most of the run's output.
  spdlog::set_level(spdlog::level::off);
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  auto* h = new Harness();
  h->dir = scratch_dir();
  fs::create_directories(h->dir);
  const fs::path model_path = h->dir / "tiny.gguf";
  strata::model::SynthOptions synth;
  synth.hparams = *strata::model::synth_preset("tiny", strata::model::Arch::kLlama);
  synth.target = *strata::model::parse_quant_target("f16");
  if (auto s = strata::model::synth_model(synth, model_path); !s.ok()) harness_failed("synth", s.status());
  h->backend = std::move(*strata::backend::cpu::CpuBackend::create(1));
  auto file = strata::gguf::File::open(model_path);
  if (!file.ok()) harness_failed("tiny model", file.status());
  h->base[0] = base_request(*file, {0, 2});
  h->base[0].set_type_k(1);  // f16
  h->base[0].set_type_v(2);  // q4_0
  h->base[0].set_n_ctx(64);
  h->base[0].set_n_seq(2);
  h->base[0].set_n_batch(8);
  h->base[0].set_flash_attn(true);
  h->base[1] = base_request(*file, {2, 4});
  h->base[1].set_type_k(0);  // f32
  h->base[1].set_type_v(8);  // q8_0
  h->base[1].set_n_ctx(8);   // 4 cells a sequence: a sequence fills within one batch or two
  h->base[1].set_n_seq(2);
  h->base[1].set_n_batch(4);
  h->base[1].set_flash_attn(false);
  rebuild(*h);
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(scratch_dir(), ec);
  });
  return h;
}

// Back to the state every input starts from (see the top of the file).
void reset(Harness& h) {
  bool fresh = h.core->stage_count() != kBaseStages;
  for (size_t i = 0; i < kBaseStages && !fresh; ++i) {
    v1::PrepareReply reply;  // "already prepared": clears the caches and micro-batch history
    fresh = !h.core->prepare(h.base[i], &reply).ok() || reply.stage_id() != i + 1 ||
            reply.source() != "already prepared";
  }
  if (fresh) {
    rebuild(h);
    return;
  }
  if (h.results->closed()) h.results = h.core->open_session(kResultsSession);  // an input replaced it
  while (h.results->pop(std::chrono::milliseconds(0)).has_value()) {
  }
}

Harness& harness() {
  static Harness* h = make_harness();
  reset(*h);
  return *h;
}

// [u16 header length][header][data]; false when the header does not parse.
bool split_upload(const char* body, size_t n, v1::UploadHeader& header, std::string& data) {
  if (n < 2) return false;
  const size_t header_len = static_cast<size_t>(body[0] & 0xff) | (static_cast<size_t>(body[1] & 0xff) << 8);
  if (header_len > n - 2) return false;
  if (!header.ParseFromArray(body + 2, static_cast<int>(header_len))) return false;
  data.assign(body + 2 + header_len, n - 2 - header_len);
  return true;
}

// The data in chunks of up to 1 KiB, as gRPC would deliver a stream of them.
strata::dist::ChunkSource chunks_of(const std::string& data) {
  auto pos = std::make_shared<size_t>(0);
  return [&data, pos]() -> strata::Result<std::optional<std::string>> {
    if (*pos >= data.size()) return std::optional<std::string>{};
    std::string chunk = data.substr(*pos, 1024);
    *pos += chunk.size();
    return std::optional<std::string>(std::move(chunk));
  };
}

// Upload, prepare and run the stage a forging coordinator would send (kind 7).
void forged_stage(Harness& h, v1::UploadHeader header, const std::string& data) {
  v1::UploadReply uploaded;
  strata::Status s = h.core->upload(header, chunks_of(data), &uploaded);
  // The cache names the hash the data has in its refusal; a coordinator computes the same.
  constexpr std::string_view kHashesTo = "hashes to ";
  const size_t at = s.message().find(kHashesTo);
  if (s.code() != strata::ErrorCode::kCorrupt || at == std::string::npos) return;
  header.set_content_hash(s.message().substr(at + kHashesTo.size(), 32));
  if (!h.core->upload(header, chunks_of(data), &uploaded).ok()) return;

  v1::PrepareRequest prepare;
  prepare.set_content_hash(header.content_hash());
  prepare.set_shape_hash(header.shape_hash());
  prepare.set_layer_begin(header.layer_begin());
  prepare.set_layer_end(header.layer_end());
  prepare.set_type_k(1);
  prepare.set_type_v(1);
  prepare.set_n_ctx(16);
  prepare.set_n_seq(2);
  prepare.set_n_batch(4);
  prepare.set_flash_attn(true);
  v1::PrepareReply prepared;
  if (!h.core->prepare(prepare, &prepared).ok() || prepared.needs_upload()) return;
  if (prepared.n_embd() == 0 || prepared.n_embd() > (1u << 16)) return;

  v1::ForwardRequest forward;
  forward.set_stage_id(prepared.stage_id());
  forward.set_request_id(1);
  for (int t = 0; t < 2; ++t) {
    forward.add_positions(t);
    forward.add_seq_ids(0);
  }
  std::vector<float> hidden(2 * size_t{prepared.n_embd()});
  for (size_t i = 0; i < hidden.size(); ++i) hidden[i] = static_cast<float>(static_cast<int>(i % 17) - 8) / 8.0f;
  forward.set_hidden(reinterpret_cast<const char*>(hidden.data()), hidden.size() * sizeof(float));
  v1::ForwardReply reply;
  (void)h.core->forward(forward, &reply);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Harness& h = harness();
  const auto* body = reinterpret_cast<const char*>(data + 1);
  const size_t n = size - 1;
  const int len = static_cast<int>(n);
  switch (data[0] % 8) {
    case 0: {
      v1::HandshakeRequest request;
      v1::HandshakeReply reply;
      if (request.ParseFromArray(body, len)) (void)h.core->handshake(request, &reply);
      break;
    }
    case 1: {
      v1::PrepareRequest request;
      v1::PrepareReply reply;
      // Bounded so an input cannot ask for gigabytes of KV cache (memory_limit bounds it too).
      if (request.ParseFromArray(body, len) && request.n_ctx() <= 4096) (void)h.core->prepare(request, &reply);
      break;
    }
    case 2:
    case 5: {
      v1::UploadHeader header;
      std::string rest;
      if (!split_upload(body, n, header, rest)) break;
      v1::UploadReply reply;
      (void)h.core->upload(header, chunks_of(rest), &reply);
      break;
    }
    case 3: {
      v1::ForwardRequest request;
      v1::ForwardReply reply;
      if (request.ParseFromArray(body, len)) (void)h.core->forward(request, &reply);
      break;
    }
    case 4: {
      v1::SequenceOpRequest request;
      if (request.ParseFromArray(body, len)) (void)h.core->sequence_op(request);
      break;
    }
    case 6: {
      // What worker_server's Results handler does, without the waiting: session 0 is refused there.
      v1::ResultsRequest request;
      if (!request.ParseFromArray(body, len) || request.session() == 0) break;
      auto queue = h.core->open_session(request.session());
      while (queue->pop(std::chrono::milliseconds(0)).has_value()) {
      }
      h.core->close_session(request.session(), queue);
      break;
    }
    case 7: {
      v1::UploadHeader header;
      std::string rest;
      if (split_upload(body, n, header, rest)) forged_stage(h, std::move(header), rest);
      break;
    }
  }
  return 0;
}
