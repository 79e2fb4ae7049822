// WorkerCore without the network: preparing from a local copy or the cache, uploads that are
// verified before they become cache entries (wrong hash, short or long data, names outside the
// range), and malformed forward / sequence messages answered with errors.
#include "dist/worker_core.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "backend/cpu/cpu_backend.h"
#include "dist/stage_identity.h"
#include "dist/stage_messages.h"
#include "model/synth.h"
#include "support/temp_dir.h"

namespace strata::dist {
namespace {

namespace fs = std::filesystem;

struct Fixture {
  testing::TempDir dir;
  gguf::File file;
  std::unique_ptr<backend::cpu::CpuBackend> backend;

  Fixture() {
    model::SynthOptions synth;
    synth.hparams = *model::synth_preset("tiny", model::Arch::kLlama);
    synth.target = *model::parse_quant_target("f16");
    const fs::path path = dir / "tiny.gguf";
    EXPECT_TRUE(model::synth_model(synth, path).ok());
    file = *gguf::File::open(path);
    backend = std::move(*backend::cpu::CpuBackend::create(1));
  }

  std::unique_ptr<WorkerCore> core(bool with_local_copy) {
    WorkerConfig config;
    if (with_local_copy) config.model_files = {file.path()};
    config.cache_dir = dir / "cache";
    auto core = WorkerCore::create(*backend, config, {});
    EXPECT_TRUE(core.ok()) << core.status().message();
    return std::move(*core);
  }

  v1::PrepareRequest prepare_request(model::LayerRange range) const {
    v1::PrepareRequest r = testing::prepare_request(file, range);
    r.set_type_k(1);
    r.set_type_v(1);
    r.set_n_ctx(64);
    r.set_n_seq(1);
    r.set_n_batch(8);
    return r;
  }

  std::string stage_data(model::LayerRange range) const { return testing::stage_data(file, range); }

  size_t cache_entries() const {
    size_t n = 0;
    // Stage files, finished or not; identities/ holds only hash records (identity_memo.h).
    for (const auto& e : fs::recursive_directory_iterator(dir / "cache")) {
      n += e.is_regular_file() && e.path().parent_path().filename() != "identities" ? 1 : 0;
    }
    return n;
  }
};

ChunkSource chunks_of(const std::string& data, size_t chunk = 100000) {
  auto pos = std::make_shared<size_t>(0);
  return [&data, pos, chunk]() -> Result<std::optional<std::string>> {
    if (*pos >= data.size()) return std::optional<std::string>{};
    std::string part = data.substr(*pos, chunk);
    *pos += part.size();
    return std::optional<std::string>(std::move(part));
  };
}

TEST(WorkerCoreTest, PreparesFromALocalCopyAndReusesIt) {
  Fixture f;
  auto core = f.core(true);
  v1::PrepareReply reply;
  ASSERT_TRUE(core->prepare(f.prepare_request({1, 3}), &reply).ok());
  EXPECT_FALSE(reply.needs_upload());
  EXPECT_NE(reply.source().find("local file"), std::string::npos);
  EXPECT_EQ(reply.n_embd(), 256u);
  v1::PrepareReply again;
  ASSERT_TRUE(core->prepare(f.prepare_request({1, 3}), &again).ok());
  EXPECT_EQ(again.stage_id(), reply.stage_id());
  EXPECT_EQ(again.source(), "already prepared");
  EXPECT_EQ(core->stage_count(), 1u);

  // Other settings for the same layers replace the stage instead of holding its memory twice.
  v1::PrepareRequest longer = f.prepare_request({1, 3});
  longer.set_n_ctx(128);
  v1::PrepareReply replaced;
  ASSERT_TRUE(core->prepare(longer, &replaced).ok());
  EXPECT_NE(replaced.stage_id(), reply.stage_id());
  EXPECT_EQ(core->stage_count(), 1u);
  v1::SequenceOpRequest op;
  op.set_stage_id(reply.stage_id());
  EXPECT_EQ(core->sequence_op(op).code(), ErrorCode::kNotFound);
}

TEST(WorkerCoreTest, UploadIsVerifiedThenServedFromTheCache) {
  Fixture f;
  auto core = f.core(false);
  const model::LayerRange range{0, 2};
  v1::PrepareReply reply;
  ASSERT_TRUE(core->prepare(f.prepare_request(range), &reply).ok());
  ASSERT_TRUE(reply.needs_upload());

  const StageIdentity id = *stage_identity(f.file, range);
  const v1::UploadHeader header = *make_upload_header(f.file, range, id, 512);
  const std::string data = f.stage_data(range);
  v1::UploadReply up;
  ASSERT_TRUE(core->upload(header, chunks_of(data), &up).ok());
  EXPECT_EQ(up.bytes_received(), data.size());
  EXPECT_EQ(f.cache_entries(), 1u);

  // A fresh worker (a restart) finds it in the cache.
  auto restarted = f.core(false);
  v1::PrepareReply from_cache;
  ASSERT_TRUE(restarted->prepare(f.prepare_request(range), &from_cache).ok());
  EXPECT_FALSE(from_cache.needs_upload());
  EXPECT_EQ(from_cache.source(), "cache");
}

TEST(WorkerCoreTest, BadUploadsLeaveNoCacheEntry) {
  Fixture f;
  auto core = f.core(false);
  const model::LayerRange range{0, 1};
  const StageIdentity id = *stage_identity(f.file, range);
  const v1::UploadHeader header = *make_upload_header(f.file, range, id, 512);
  const std::string data = f.stage_data(range);
  v1::UploadReply up;

  const std::string short_data = data.substr(0, data.size() - 10);
  Status s = core->upload(header, chunks_of(short_data), &up);
  EXPECT_EQ(s.code(), ErrorCode::kCorrupt) << s.message();
  EXPECT_NE(s.message().find("ended"), std::string::npos) << s.message();

  const std::string long_data = data + "extra";
  s = core->upload(header, chunks_of(long_data), &up);
  EXPECT_FALSE(s.ok());

  std::string flipped = data;
  flipped[flipped.size() / 2] ^= 1;
  s = core->upload(header, chunks_of(flipped), &up);
  EXPECT_EQ(s.code(), ErrorCode::kCorrupt) << s.message();
  EXPECT_NE(s.message().find("hashes to"), std::string::npos) << s.message();

  v1::UploadHeader outside = header;
  outside.mutable_tensors(0)->set_name("../../escape");
  s = core->upload(outside, chunks_of(data), &up);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.message();

  v1::UploadHeader bad_hash = header;
  bad_hash.set_content_hash("../../../../etc/passwd0000000000");
  EXPECT_FALSE(core->upload(bad_hash, chunks_of(data), &up).ok());

  EXPECT_EQ(f.cache_entries(), 0u) << "nothing half-written or unverified stays";
}

TEST(WorkerCoreTest, MalformedMessagesAreErrors) {
  Fixture f;
  auto core = f.core(true);
  v1::PrepareReply prepared;
  ASSERT_TRUE(core->prepare(f.prepare_request({0, 4}), &prepared).ok());

  v1::ForwardRequest forward;
  v1::ForwardReply reply;
  forward.set_stage_id(prepared.stage_id() + 7);
  EXPECT_EQ(core->forward(forward, &reply).code(), ErrorCode::kNotFound);

  forward.set_stage_id(prepared.stage_id());
  EXPECT_EQ(core->forward(forward, &reply).code(), ErrorCode::kInvalidArgument);  // no tokens
  forward.add_positions(0);
  forward.add_seq_ids(0);
  forward.set_hidden(std::string(100, '\0'));
  Status s = core->forward(forward, &reply);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("1024 bytes"), std::string::npos) << s.message();

  forward.set_hidden(std::string(256 * 4, '\0'));
  forward.set_positions(0, 5);  // the sequence is empty: position 0 comes first
  EXPECT_EQ(core->forward(forward, &reply).code(), ErrorCode::kInvalidArgument);
  forward.set_positions(0, 0);
  forward.set_result_session(12345);  // no Results stream open
  EXPECT_EQ(core->forward(forward, &reply).code(), ErrorCode::kUnavailable);
  forward.set_result_session(0);
  ASSERT_TRUE(core->forward(forward, &reply).ok());  // and the failed one left no cell behind
  EXPECT_EQ(reply.hidden().size(), 256u * 4);

  v1::SequenceOpRequest op;
  op.set_stage_id(prepared.stage_id());
  op.set_op(v1::SequenceOpRequest::TRIM);
  op.set_seq(3);  // one sequence only
  EXPECT_EQ(core->sequence_op(op).code(), ErrorCode::kInvalidArgument);
  op.set_op(static_cast<v1::SequenceOpRequest::Op>(42));
  EXPECT_EQ(core->sequence_op(op).code(), ErrorCode::kInvalidArgument);

  v1::HandshakeRequest hello;
  v1::HandshakeReply info;
  hello.set_protocol_version(0);
  s = core->handshake(hello, &info);
  EXPECT_EQ(s.code(), ErrorCode::kUnsupported);
  EXPECT_NE(s.message().find("protocol version mismatch"), std::string::npos);
}

TEST(WorkerCoreTest, MicroBatchesRunInOrderOrNotAtAll) {
  Fixture f;
  WorkerConfig config;
  config.model_files = {f.file.path()};
  config.micro_batch_wait = std::chrono::milliseconds(50);
  auto core = *WorkerCore::create(*f.backend, config, {});
  v1::PrepareReply prepared;
  ASSERT_TRUE(core->prepare(f.prepare_request({0, 4}), &prepared).ok());
  v1::ForwardRequest first;
  first.set_stage_id(prepared.stage_id());
  first.set_request_id(10);
  first.add_positions(0);
  first.add_seq_ids(0);
  first.set_hidden(std::string(256 * 4, '\0'));
  v1::ForwardRequest second = first;
  second.set_request_id(11);
  second.set_positions(0, 1);
  second.set_after_request(10);
  v1::ForwardReply reply;
  // The one before it never came: refused after the wait, nothing stored.
  EXPECT_EQ(core->forward(second, &reply).code(), ErrorCode::kDeadlineExceeded);
  ASSERT_TRUE(core->forward(first, &reply).ok());
  second.set_request_id(12);
  ASSERT_TRUE(core->forward(second, &reply).ok());
  // After a refused micro-batch, the ones that depend on it are refused too.
  v1::ForwardRequest broken = first;
  broken.set_request_id(20);
  broken.set_positions(0, 9);  // not the next position
  EXPECT_FALSE(core->forward(broken, &reply).ok());
  v1::ForwardRequest after_broken = first;
  after_broken.set_request_id(21);
  after_broken.set_positions(0, 2);
  after_broken.set_after_request(20);
  Status s = core->forward(after_broken, &reply);
  EXPECT_EQ(s.code(), ErrorCode::kUnavailable) << s.message();
}

TEST(WorkerCoreTest, MemoryLimitIsEnforced) {
  Fixture f;
  WorkerConfig config;
  config.model_files = {f.file.path()};
  config.memory_limit = 1 << 20;  // 1 MiB: less than two layers
  auto core = *WorkerCore::create(*f.backend, config, {});
  v1::PrepareReply reply;
  Status s = core->prepare(f.prepare_request({0, 2}), &reply);
  EXPECT_EQ(s.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(s.message().find("--mem"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace strata::dist
