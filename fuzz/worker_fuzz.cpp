// Fuzzes the worker's message handling (dist::WorkerCore): the first byte picks the message,
// the rest is its protobuf encoding. A tiny synth model with one prepared stage (id 1, layers
// 0-1) backs it, so forward and sequence operations reach the stage; next hops and results
// sessions fail as an unreachable peer would. Anything may fail; nothing may crash or hang.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "dist/stage_identity.h"
#include "dist/worker_core.h"
#include "model/synth.h"

namespace {

namespace v1 = strata::dist::v1;

struct Harness {
  std::filesystem::path dir;
  std::unique_ptr<strata::backend::cpu::CpuBackend> backend;
  std::unique_ptr<strata::dist::WorkerCore> core;
};

Harness* make_harness() {
  auto* h = new Harness();
  h->dir = std::filesystem::temp_directory_path() / ("strata-worker-fuzz-" + std::to_string(::getpid()));
  std::filesystem::create_directories(h->dir);
  const auto model_path = h->dir / "tiny.gguf";
  strata::model::SynthOptions synth;
  synth.hparams = *strata::model::synth_preset("tiny", strata::model::Arch::kLlama);
  synth.target = *strata::model::parse_quant_target("f16");
  if (!strata::model::synth_model(synth, model_path).ok()) std::abort();  // the harness, not the input
  h->backend = std::move(*strata::backend::cpu::CpuBackend::create(1));
  strata::dist::WorkerConfig config;
  config.model_files = {model_path};
  config.cache_dir = h->dir / "cache";
  config.memory_limit = uint64_t{1} << 30;
  config.micro_batch_wait = std::chrono::milliseconds(10);  // inputs name requests that never ran
  auto core = strata::dist::WorkerCore::create(
      *h->backend, config, [](const std::string& address, const v1::ForwardRequest&, v1::ForwardReply*) {
        return strata::unavailable("worker {}: unreachable (fuzzing)", address);
      });
  if (!core.ok()) std::abort();
  h->core = std::move(*core);
  auto file = strata::gguf::File::open(model_path);
  auto id = strata::dist::stage_identity(*file, {0, 2});
  v1::PrepareRequest prepare;
  prepare.set_content_hash(id->content.hex());
  prepare.set_shape_hash(id->shape.hex());
  prepare.set_layer_begin(0);
  prepare.set_layer_end(2);
  prepare.set_type_k(1);
  prepare.set_type_v(2);
  prepare.set_n_ctx(64);
  prepare.set_n_seq(2);
  prepare.set_n_batch(8);
  prepare.set_flash_attn(true);
  v1::PrepareReply reply;
  if (!h->core->prepare(prepare, &reply).ok() || reply.stage_id() != 1) std::abort();
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::temp_directory_path() /
                                    ("strata-worker-fuzz-" + std::to_string(::getpid())),
                                ec);
  });
  return h;
}

Harness& harness() {
  static Harness* h = make_harness();
  return *h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Harness& h = harness();
  const auto* body = reinterpret_cast<const char*>(data + 1);
  const int n = static_cast<int>(size - 1);
  switch (data[0] % 6) {
    case 0: {
      v1::HandshakeRequest request;
      v1::HandshakeReply reply;
      if (request.ParseFromArray(body, n)) (void)h.core->handshake(request, &reply);
      break;
    }
    case 1: {
      v1::PrepareRequest request;
      v1::PrepareReply reply;
      // Bounded so an input cannot ask for gigabytes of KV cache (the real limit is --mem).
      if (request.ParseFromArray(body, n) && request.n_ctx() <= 4096) (void)h.core->prepare(request, &reply);
      break;
    }
    case 2:
    case 5: {
      // [u16 header length][header][data...]: the data arrives in chunks of up to 1 KiB.
      if (n < 2) break;
      const size_t header_len = static_cast<size_t>(body[0] & 0xff) | (static_cast<size_t>(body[1] & 0xff) << 8);
      if (header_len > static_cast<size_t>(n - 2)) break;
      v1::UploadHeader header;
      if (!header.ParseFromArray(body + 2, static_cast<int>(header_len))) break;
      std::string rest(body + 2 + header_len, static_cast<size_t>(n) - 2 - header_len);
      size_t pos = 0;
      strata::dist::ChunkSource next = [&]() -> strata::Result<std::optional<std::string>> {
        if (pos >= rest.size()) return std::optional<std::string>{};
        const size_t len = std::min<size_t>(1024, rest.size() - pos);
        std::string chunk = rest.substr(pos, len);
        pos += len;
        return std::optional<std::string>(std::move(chunk));
      };
      v1::UploadReply reply;
      (void)h.core->upload(header, next, &reply);
      break;
    }
    case 3: {
      v1::ForwardRequest request;
      v1::ForwardReply reply;
      if (request.ParseFromArray(body, n)) (void)h.core->forward(request, &reply);
      break;
    }
    case 4: {
      v1::SequenceOpRequest request;
      if (request.ParseFromArray(body, n)) (void)h.core->sequence_op(request);
      break;
    }
  }
  return 0;
}
