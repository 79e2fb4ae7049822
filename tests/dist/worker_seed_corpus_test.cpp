// Generates the seeds of fuzz/corpus/worker that need real stage hashes or a whole stage (the
// harness's tiny model and forged stages); disabled, so not run in CI:
//   STRATA_WORKER_CORPUS_OUT=fuzz/corpus/worker build/<dir>/bin/dist_test
//       --gtest_also_run_disabled_tests --gtest_filter='*SeedCorpus*'
// The file layout is fuzz/worker_fuzz.cpp's: a kind byte, then the message. Each seed is also
// run here against a WorkerCore set up as the harness sets it up, and must do what it is for.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "backend/cpu/cpu_backend.h"
#include "dist/stage_cache.h"
#include "dist/stage_identity.h"
#include "dist/stage_messages.h"
#include "dist/worker_core.h"
#include "model/synth.h"
#include "support/temp_dir.h"

namespace strata::dist {
namespace {

namespace fs = std::filesystem;

enum Kind : char { kPrepare = 1, kUpload = 2, kForward = 3, kSequenceOp = 4, kResults = 6, kForgedStage = 7 };

void write_seed(const fs::path& dir, const char* name, Kind kind, const std::string& body) {
  std::ofstream out(dir / name, std::ios::binary);
  out.put(kind);
  out.write(body.data(), static_cast<std::streamsize>(body.size()));
  ASSERT_TRUE(out.good()) << name;
  ASSERT_LT(body.size() + 1, size_t{64} << 10) << name << ": seeds stay under 64 KiB";
}

// [u16 little-endian header length][header][data], as the harness splits an upload.
std::string upload_body(const v1::UploadHeader& header, const std::string& data) {
  const std::string h = header.SerializeAsString();
  std::string out;
  out.push_back(static_cast<char>(h.size() & 0xff));
  out.push_back(static_cast<char>(h.size() >> 8));
  return out + h + data;
}

using testing::prepare_request;
using testing::stage_data;

std::string f16_zeros(size_t n) { return std::string(n * 2, '\0'); }

TEST(WorkerSeedCorpusTest, DISABLED_WriteSeeds) {
  const char* out_env = std::getenv("STRATA_WORKER_CORPUS_OUT");
  ASSERT_NE(out_env, nullptr) << "set STRATA_WORKER_CORPUS_OUT to the corpus folder";
  const fs::path out = out_env;
  testing::TempDir dir;

  // The harness's model and base stages (fuzz/worker_fuzz.cpp).
  model::SynthOptions synth;
  synth.hparams = *model::synth_preset("tiny", model::Arch::kLlama);
  synth.target = *model::parse_quant_target("f16");
  ASSERT_TRUE(model::synth_model(synth, dir / "tiny.gguf").ok());
  const gguf::File tiny = *gguf::File::open(dir / "tiny.gguf");
  auto backend = std::move(*backend::cpu::CpuBackend::create(1));
  WorkerConfig config;
  config.model_files = {tiny.path()};
  config.cache_dir = dir / "cache";
  config.micro_batch_wait = std::chrono::milliseconds(2);
  WorkerCore* core_ptr = nullptr;
  auto core = std::move(*WorkerCore::create(
      *backend, config, [&core_ptr](const std::string& address, const v1::ForwardRequest& r, v1::ForwardReply* reply) {
        return address == "self" ? core_ptr->forward(r, reply) : unavailable("unreachable");
      }));
  core_ptr = core.get();
  v1::PrepareRequest base1 = prepare_request(tiny, {0, 2});
  base1.set_type_k(1);
  base1.set_type_v(2);
  base1.set_n_ctx(64);
  base1.set_n_seq(2);
  base1.set_n_batch(8);
  base1.set_flash_attn(true);
  v1::PrepareRequest base2 = prepare_request(tiny, {2, 4});
  base2.set_type_k(0);
  base2.set_type_v(8);
  base2.set_n_ctx(8);
  base2.set_n_seq(2);
  base2.set_n_batch(4);
  v1::PrepareReply reply;
  ASSERT_TRUE(core->prepare(base1, &reply).ok());
  ASSERT_EQ(reply.stage_id(), 1u);
  ASSERT_TRUE(core->prepare(base2, &reply).ok());
  ASSERT_EQ(reply.stage_id(), 2u);
  const uint32_t n_embd = reply.n_embd();
  auto session = core->open_session(1);

  // Prepares with real hashes: again (same settings), other settings, layers of neither stage.
  write_seed(out, "prepare_already_prepared", kPrepare, base1.SerializeAsString());
  ASSERT_TRUE(core->prepare(base1, &reply).ok());
  EXPECT_EQ(reply.source(), "already prepared");
  v1::PrepareRequest wider = base2;
  wider.set_n_ctx(16);
  write_seed(out, "prepare_other_settings", kPrepare, wider.SerializeAsString());
  v1::PrepareRequest middle = prepare_request(tiny, {1, 3});
  middle.set_type_k(1);
  middle.set_type_v(1);
  middle.set_n_ctx(32);
  middle.set_n_seq(1);
  middle.set_n_batch(2);
  write_seed(out, "prepare_local_copy", kPrepare, middle.SerializeAsString());

  // A chain through both stages on this worker: to the caller, to the Results stream, and a
  // route that comes back to a stage the batch already went through (refused, rolled back).
  v1::ForwardRequest chain;
  chain.set_stage_id(1);
  chain.set_request_id(5);
  for (int32_t seq : {0, 0, 1}) chain.add_seq_ids(seq);
  for (int32_t pos : {0, 1, 0}) chain.add_positions(pos);
  chain.set_hidden_type(v1::HIDDEN_F16);
  chain.set_hidden(f16_zeros(3 * n_embd));
  v1::Hop* hop = chain.add_next();
  hop->set_address("self");
  hop->set_stage_id(2);
  write_seed(out, "forward_chain_self", kForward, chain.SerializeAsString());
  v1::ForwardReply forwarded;
  Status s = core->forward(chain, &forwarded);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(forwarded.hidden().size(), 3u * n_embd * 2);
  ASSERT_TRUE(core->prepare(base1, &reply).ok());  // empty caches again, as the harness does per input
  ASSERT_TRUE(core->prepare(base2, &reply).ok());

  chain.set_result_session(1);
  write_seed(out, "forward_chain_session", kForward, chain.SerializeAsString());
  ASSERT_TRUE(core->forward(chain, &forwarded).ok());
  EXPECT_TRUE(session->pop(std::chrono::milliseconds(0)).has_value());
  ASSERT_TRUE(core->prepare(base1, &reply).ok());
  ASSERT_TRUE(core->prepare(base2, &reply).ok());

  chain.set_result_session(0);
  v1::Hop* back = chain.add_next();
  back->set_address("self");
  back->set_stage_id(1);
  write_seed(out, "forward_chain_revisits_stage", kForward, chain.SerializeAsString());
  EXPECT_EQ(core->forward(chain, &forwarded).code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(core->prepare(base1, &reply).ok());
  ASSERT_TRUE(core->prepare(base2, &reply).ok());

  // Stage 2 holds 4 cells a sequence: one batch fills sequence 0, a fifth token cannot fit.
  v1::ForwardRequest fill;
  fill.set_stage_id(2);
  for (int32_t pos : {0, 1, 2, 3}) {
    fill.add_positions(pos);
    fill.add_seq_ids(0);
  }
  fill.set_hidden(std::string(4 * n_embd * 4, '\0'));
  write_seed(out, "forward_stage2_fills_sequence", kForward, fill.SerializeAsString());
  ASSERT_TRUE(core->forward(fill, &forwarded).ok());
  v1::SequenceOpRequest copy;
  copy.set_stage_id(2);
  copy.set_op(v1::SequenceOpRequest::COPY);
  copy.set_seq(0);
  copy.set_dst(1);
  copy.set_n(3);
  write_seed(out, "seq_copy_stage2", kSequenceOp, copy.SerializeAsString());

  v1::ResultsRequest results;
  results.set_session(1);
  write_seed(out, "results_replace_session", kResults, results.SerializeAsString());
  results.set_session(9);
  write_seed(out, "results_other_session", kResults, results.SerializeAsString());

  // A stage the coordinator made itself: a one-layer model of the smallest head size the CPU
  // backend takes, q4_0, from the upload through the cache into a prepared stage.
  model::SynthOptions small;
  small.hparams = *model::synth_preset("tiny", model::Arch::kLlama);
  small.hparams.n_embd = 64;
  small.hparams.n_layer = 2;
  small.hparams.n_head = 1;
  small.hparams.n_head_kv = 1;
  small.hparams.n_ff = 64;
  small.hparams.head_dim_k = small.hparams.head_dim_v = small.hparams.rope_dim = 64;
  small.target = *model::parse_quant_target("q4_0");
  for (const bool rope_freqs : {false, true}) {
    small.rope_freqs = rope_freqs;
    const fs::path path = dir / (rope_freqs ? "small-rope.gguf" : "small.gguf");
    auto written = model::synth_model(small, path);
    ASSERT_TRUE(written.ok()) << written.status().message();
    const gguf::File file = *gguf::File::open(path);
    const model::LayerRange range{1, 2};
    auto id = stage_identity(file, range);
    ASSERT_TRUE(id.ok()) << id.status().message();
    auto made = make_upload_header(file, range, *id, 512);
    ASSERT_TRUE(made.ok()) << made.status().message();
    const v1::UploadHeader header = *made;
    const std::string data = stage_data(file, range);
    // The harness replaces the hash with the one the data has; any well-formed one will do.
    v1::UploadHeader sent = header;
    sent.set_content_hash(std::string(32, '0'));
    write_seed(out, rope_freqs ? "forged_stage_rope_freqs" : "forged_stage", kForgedStage, upload_body(sent, data));
    if (!rope_freqs) write_seed(out, "upload_stage_wrong_hash", kUpload, upload_body(sent, data));

    v1::UploadReply uploaded;
    ASSERT_TRUE(core->upload(header, [&data, done = false]() mutable -> Result<std::optional<std::string>> {
      if (done) return std::optional<std::string>{};
      done = true;
      return std::optional<std::string>(data);
    }, &uploaded).ok());
    v1::PrepareRequest prepare = prepare_request(file, range);
    prepare.set_type_k(1);
    prepare.set_type_v(1);
    prepare.set_n_ctx(16);
    prepare.set_n_seq(2);
    prepare.set_n_batch(4);
    prepare.set_flash_attn(true);
    v1::PrepareReply prepared;
    s = core->prepare(prepare, &prepared);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(prepared.source(), "cache");
    v1::ForwardRequest run;
    run.set_stage_id(prepared.stage_id());
    run.add_positions(0);
    run.add_seq_ids(0);
    run.set_hidden(std::string(64 * 4, '\0'));
    s = core->forward(run, &forwarded);
    EXPECT_TRUE(s.ok()) << s.message();
  }
}

}  // namespace
}  // namespace strata::dist
