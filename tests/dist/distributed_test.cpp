// Coordinator + real `strata worker` processes on 127.0.0.1: logits bit-identical to one
// process, a worker killed and restarted (error, degraded health, recovery from its cache
// without a re-upload), and refusals (token, protocol version, non-loopback without token).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "backend/cpu/cpu_backend.h"
#include "dist/distributed_model.h"
#include "dist/micro_batches.h"
#include "dist/worker_process.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace strata::dist {
namespace {

using testing::WorkerProcess;

// One synth model for every test of this file.
class DistributedTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    model_path_ = (*dir_ / "tiny.gguf").string();
    const auto result = testing::run_command(std::string(STRATA_BINARY) + " synth --preset tiny -o " + model_path_);
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  // The cache folder is named after `cache` (default: the worker's name), so a restarted
  // worker can find what it kept.
  std::unique_ptr<WorkerProcess> start_worker(const std::string& name, std::vector<std::string> extra = {},
                                              int port = 0, std::string cache = "") {
    if (cache.empty()) cache = name;
    std::vector<std::string> args = {"--port", std::to_string(port), "-t", "1", "--cache-dir",
                                     (*dir_ / ("cache-" + cache)).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto log = *dir_ / (name + ".log");
    auto worker = WorkerProcess::start(args, log);
    EXPECT_NE(worker, nullptr) << testing::read_log(log);
    return worker;
  }

  static model::ModelConfig config(quant::Type k, quant::Type v) {
    model::ModelConfig c;
    c.kv.n_ctx = 128;
    c.kv.n_seq = 2;
    c.kv.type_k = k;
    c.kv.type_v = v;
    c.n_batch = 32;
    c.n_outputs = 32;
    return c;
  }

  static gguf::File open_model() {
    auto file = gguf::File::open(model_path_);
    EXPECT_TRUE(file.ok()) << file.status().message();
    return *file;
  }

  static testing::TempDir* dir_;
  static std::string model_path_;
};

testing::TempDir* DistributedTest::dir_ = nullptr;
std::string DistributedTest::model_path_;

const std::vector<int32_t> kPrompt = {1, 17, 300, 42, 7, 99, 250, 3, 480, 12, 64, 128};

// Prompt logits (every position) followed by the logits of each greedy step. The prompt goes in
// forward passes of `chunk` tokens (0: all at once).
Result<std::vector<float>> prompt_and_greedy(model::Model& model, int n_steps, uint32_t seq = 0, size_t chunk = 0) {
  std::vector<float> out;
  STRATA_TRY(model.clear(seq));
  if (chunk == 0) chunk = kPrompt.size();
  for (size_t first = 0; first < kPrompt.size(); first += chunk) {
    const size_t last = std::min(kPrompt.size(), first + chunk);
    std::vector<int32_t> tokens(kPrompt.begin() + first, kPrompt.begin() + last), positions, seqs;
    std::vector<uint8_t> flags(last - first, 1);
    for (size_t i = first; i < last; ++i) {
      positions.push_back(static_cast<int32_t>(i));
      seqs.push_back(static_cast<int32_t>(seq));
    }
    STRATA_TRY(model.forward({tokens, positions, seqs, flags}));
    for (size_t i = 0; i < model.n_outputs(); ++i) {
      auto row = model.logits(i);
      out.insert(out.end(), row.begin(), row.end());
    }
  }
  int32_t pos = static_cast<int32_t>(kPrompt.size());
  for (int step = 0; step < n_steps; ++step) {
    auto last = model.logits(model.n_outputs() - 1);
    const auto token = static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
    const int32_t p = pos++;
    const int32_t s = static_cast<int32_t>(seq);
    const uint8_t flag = 1;
    STRATA_TRY(model.forward({std::span(&token, 1), std::span(&p, 1), std::span(&s, 1), std::span(&flag, 1)}));
    auto row = model.logits(0);
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

std::vector<float> single_process(const gguf::File& file, const model::ModelConfig& config, size_t chunk = 0) {
  auto backend = backend::cpu::CpuBackend::create(1);
  auto model = model::Model::load(file, **backend, config);
  EXPECT_TRUE(model.ok()) << model.status().message();
  auto logits = prompt_and_greedy(**model, 12, 0, chunk);
  EXPECT_TRUE(logits.ok()) << logits.status().message();
  return logits.ok() ? *logits : std::vector<float>{};
}

void expect_bit_identical(quant::Type k, quant::Type v, DistributedTest* test, const model::ModelConfig& config,
                          const gguf::File& file, const std::vector<std::string>& workers) {
  const std::vector<float> reference = single_process(file, config);
  auto backend = backend::cpu::CpuBackend::create(1);
  CoordinatorOptions options;
  options.workers = workers;
  auto dm = load_distributed(file, **backend, config, options);
  ASSERT_TRUE(dm.ok()) << dm.status().message();
  ASSERT_EQ((*dm)->placement().nodes.size(), 3u);
  EXPECT_EQ((*dm)->placement().nodes[0].layers.size(), 0u);  // the coordinator keeps only embeddings and head
  auto logits = prompt_and_greedy((*dm)->model(), 12);
  ASSERT_TRUE(logits.ok()) << logits.status().message();
  ASSERT_EQ(logits->size(), reference.size());
  EXPECT_TRUE(*logits == reference) << "distributed logits differ from one process";
  // A second sequence, reusing the first's prompt through copy(), gives the same next logits.
  ASSERT_TRUE((*dm)->model().copy(0, 1, kPrompt.size()).ok());
  EXPECT_EQ((*dm)->model().length(1), kPrompt.size());
  EXPECT_TRUE((*dm)->health().ok);
}

TEST_F(DistributedTest, TwoWorkersBitIdenticalF16Cache) {
  auto a = start_worker("f16-a");
  auto b = start_worker("f16-b");
  ASSERT_TRUE(a && b);
  const gguf::File file = open_model();
  expect_bit_identical(quant::Type::F16, quant::Type::F16, this, config(quant::Type::F16, quant::Type::F16), file,
                       {a->address(), b->address()});
}

TEST_F(DistributedTest, TwoWorkersBitIdenticalQuantizedCache) {
  auto a = start_worker("q-a");
  auto b = start_worker("q-b");
  ASSERT_TRUE(a && b);
  const gguf::File file = open_model();
  expect_bit_identical(quant::Type::Q8_0, quant::Type::Q4_0, this, config(quant::Type::Q8_0, quant::Type::Q4_0), file,
                       {a->address(), b->address()});
}

TEST_F(DistributedTest, CoordinatorLayersAndTensorSplit) {
  auto a = start_worker("ts-a", {"--model", model_path_});
  ASSERT_TRUE(a);
  const gguf::File file = open_model();
  const auto cfg = config(quant::Type::F16, quant::Type::F16);
  const std::vector<float> reference = single_process(file, cfg);
  auto backend = backend::cpu::CpuBackend::create(1);
  CoordinatorOptions options;
  options.workers = {a->address()};
  options.tensor_split = {1, 1};  // this machine first: layers 0-1 here, 2-3 on the worker
  auto dm = load_distributed(file, **backend, cfg, options);
  ASSERT_TRUE(dm.ok()) << dm.status().message();
  EXPECT_EQ((*dm)->placement().nodes[0].layers.end, 2u);
  EXPECT_EQ((*dm)->uploaded_bytes(), 0u) << "the worker has a local copy";
  EXPECT_NE(a->log().find("from local file"), std::string::npos) << a->log();
  auto logits = prompt_and_greedy((*dm)->model(), 12);
  ASSERT_TRUE(logits.ok()) << logits.status().message();
  EXPECT_TRUE(*logits == reference);
}

// `strata serve` connects to the workers while it reads the model (connect_workers), then
// hands those connections to the load, whose stages run on them.
TEST_F(DistributedTest, ConnectWorkersFirstThenLoadOnThoseConnections) {
  auto a = start_worker("early-a", {"--model", model_path_});
  auto b = start_worker("early-b", {"--model", model_path_});
  ASSERT_TRUE(a && b);
  CoordinatorOptions options;
  options.workers = {a->address(), a->address()};
  auto twice = connect_workers(options);
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("listed twice"), std::string::npos) << twice.status().message();

  // A worker that is not there is named, whatever the others do.
  options.workers = {a->address(), "127.0.0.1:1"};
  auto missing = connect_workers(options);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("127.0.0.1:1"), std::string::npos) << missing.status().message();

  options.workers = {a->address(), b->address()};
  auto clients = connect_workers(options);
  ASSERT_TRUE(clients.ok()) << clients.status().message();
  ASSERT_EQ(clients->size(), 2u);
  EXPECT_EQ((*clients)[0]->address(), a->address());
  EXPECT_EQ((*clients)[1]->address(), b->address());
  const gguf::File file = open_model();
  const auto cfg = config(quant::Type::F16, quant::Type::F16);
  const std::vector<float> reference = single_process(file, cfg);
  auto backend = backend::cpu::CpuBackend::create(1);
  auto dm = load_distributed(file, **backend, cfg, options, std::move(*clients));
  ASSERT_TRUE(dm.ok()) << dm.status().message();
  ASSERT_EQ((*dm)->placement().nodes.size(), 3u);
  auto logits = prompt_and_greedy((*dm)->model(), 12);
  ASSERT_TRUE(logits.ok()) << logits.status().message();
  EXPECT_TRUE(*logits == reference);
}

TEST_F(DistributedTest, F16HiddenStatesHalveTheBytesAndStayClose) {
  auto a = start_worker("f16h-a", {"--model", model_path_});
  auto b = start_worker("f16h-b", {"--model", model_path_});
  ASSERT_TRUE(a && b);
  const gguf::File file = open_model();
  const auto cfg = config(quant::Type::F16, quant::Type::F16);
  const std::vector<float> reference = single_process(file, cfg);
  auto backend = backend::cpu::CpuBackend::create(1);
  CoordinatorOptions options;
  options.workers = {a->address(), b->address()};
  options.f16_hidden = true;
  auto dm = load_distributed(file, **backend, cfg, options);
  ASSERT_TRUE(dm.ok()) << dm.status().message();
  auto logits = prompt_and_greedy((*dm)->model(), 12);
  ASSERT_TRUE(logits.ok()) << logits.status().message();
  ASSERT_EQ(logits->size(), reference.size());
  double worst = 0;
  for (size_t i = 0; i < reference.size(); ++i) worst = std::max(worst, double(std::abs((*logits)[i] - reference[i])));
  EXPECT_LT(worst, 0.1);
  // 12 prompt tokens + 12 steps, 256 values each way at 2 bytes.
  EXPECT_EQ((*dm)->wire_bytes(), (kPrompt.size() + 12) * 256 * 2 * 2);
}

TEST_F(DistributedTest, MicroBatchesThroughTheChainMatchOneProcess) {
  auto a = start_worker("micro-a", {"--model", model_path_});
  auto b = start_worker("micro-b", {"--model", model_path_});
  auto c = start_worker("micro-c", {"--model", model_path_});
  ASSERT_TRUE(a && b && c);
  const gguf::File file = open_model();
  const auto cfg = config(quant::Type::Q8_0, quant::Type::Q4_0);
  // One process running the prompt as 4 batches of 3 tokens, as the micro-batches do.
  const std::vector<float> reference = single_process(file, cfg, 3);
  auto backend = backend::cpu::CpuBackend::create(1);
  CoordinatorOptions options;
  options.workers = {a->address(), b->address(), c->address()};
  options.micro_batches = 4;  // the 12-token prompt goes as 4 micro-batches of 3, in flight together
  auto dm = load_distributed(file, **backend, cfg, options);
  ASSERT_TRUE(dm.ok()) << dm.status().message();
  auto logits = prompt_and_greedy((*dm)->model(), 12);
  ASSERT_TRUE(logits.ok()) << logits.status().message();
  ASSERT_EQ(logits->size(), reference.size());
  EXPECT_TRUE(*logits == reference) << "micro-batches must compute what batches of their size compute";
  EXPECT_EQ((*dm)->model().length(0), kPrompt.size() + 12);
}

// Four sequences prefilled together and then decoded together (a server with four requests in
// flight). `parts` > 1 runs each batch as that many forward passes cut between sequences, as
// the coordinator's default micro-batches do over a chain of that many workers.
Result<std::vector<float>> four_sequences(model::Model& model, int n_steps, size_t parts = 1) {
  std::vector<float> out;
  std::vector<int32_t> tokens, positions, seqs;
  for (int32_t s = 0; s < 4; ++s) {
    STRATA_TRY(model.clear(static_cast<uint32_t>(s)));
    for (int32_t i = 0; i < 3; ++i) {
      tokens.push_back(kPrompt[static_cast<size_t>(s * 3 + i)]);
      positions.push_back(i);
      seqs.push_back(s);
    }
  }
  std::vector<uint8_t> flags(tokens.size(), 1);
  for (int step = 0; step <= n_steps; ++step) {
    std::vector<float> rows;  // this step's logits, in batch order
    for (const auto& [b, e] : split_at_sequences(seqs, parts)) {
      const auto part = [&](const auto& v) { return std::span(v).subspan(b, e - b); };
      STRATA_TRY(model.forward({part(tokens), part(positions), part(seqs), part(flags)}));
      for (size_t i = 0; i < model.n_outputs(); ++i) {
        auto row = model.logits(i);
        rows.insert(rows.end(), row.begin(), row.end());
      }
    }
    out.insert(out.end(), rows.begin(), rows.end());
    // Next step: each sequence's greedy token from its last output row.
    const size_t n_vocab = rows.size() / seqs.size();
    std::vector<int32_t> next, next_pos;
    for (int32_t s = 0; s < 4; ++s) {
      size_t last = 0;
      for (size_t i = 0; i < seqs.size(); ++i) {
        if (seqs[i] == s) last = i;
      }
      const auto row = std::span(rows).subspan(last * n_vocab, n_vocab);
      next.push_back(static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin()));
      next_pos.push_back(positions[last] + 1);
    }
    tokens = next;
    positions = next_pos;
    seqs = {0, 1, 2, 3};
    flags.assign(4, 1);
  }
  return out;
}

TEST_F(DistributedTest, SeveralSequencesPipelineAsMicroBatchesBitIdentical) {
  auto a = start_worker("pipe-a", {"--model", model_path_});
  auto b = start_worker("pipe-b", {"--model", model_path_});
  ASSERT_TRUE(a && b);
  const gguf::File file = open_model();
  auto cfg = config(quant::Type::Q8_0, quant::Type::Q4_0);
  cfg.kv.n_seq = 4;
  auto local_backend = backend::cpu::CpuBackend::create(1);
  auto local = model::Model::load(file, **local_backend, cfg);
  ASSERT_TRUE(local.ok()) << local.status().message();
  const auto reference = four_sequences(**local, 6, 2);
  ASSERT_TRUE(reference.ok()) << reference.status().message();

  auto backend = backend::cpu::CpuBackend::create(1);
  CoordinatorOptions options;
  options.workers = {a->address(), b->address()};
  auto dm = load_distributed(file, **backend, cfg, options);
  ASSERT_TRUE(dm.ok()) << dm.status().message();
  const auto logits = four_sequences((*dm)->model(), 6);
  ASSERT_TRUE(logits.ok()) << logits.status().message();
  EXPECT_TRUE(*logits == *reference) << "pipelined micro-batches must compute what the same batches compute in "
                                          "one process, one after the other";
  EXPECT_EQ((*dm)->micro_batches(), 2u * 7u) << "each of the 7 batches should go as 2 micro-batches";
}

TEST_F(DistributedTest, KilledWorkerFailsRequestsThenRecoversFromItsCache) {
  auto a = start_worker("kill-a");
  auto b = start_worker("kill-b");
  ASSERT_TRUE(a && b);
  const int port_b = b->port();
  const std::string address_b = b->address();
  const gguf::File file = open_model();
  const auto cfg = config(quant::Type::F16, quant::Type::F16);
  const std::vector<float> reference = single_process(file, cfg);
  auto backend = backend::cpu::CpuBackend::create(1);
  CoordinatorOptions options;
  options.workers = {a->address(), address_b};
  auto dm = load_distributed(file, **backend, cfg, options);
  ASSERT_TRUE(dm.ok()) << dm.status().message();
  const uint64_t uploaded = (*dm)->uploaded_bytes();
  EXPECT_GT(uploaded, 0u) << "fresh caches: the tensors were sent once";
  ASSERT_TRUE(prompt_and_greedy((*dm)->model(), 2).ok());

  b->kill();
  auto failed = prompt_and_greedy((*dm)->model(), 2);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), ErrorCode::kUnavailable) << failed.status().message();
  EXPECT_NE(failed.status().message().find(address_b), std::string::npos) << failed.status().message();
  EXPECT_FALSE((*dm)->health().ok);
  EXPECT_NE((*dm)->health().reason.find(address_b), std::string::npos) << (*dm)->health().reason;

  b = start_worker("kill-b-again", {}, port_b, "kill-b");
  ASSERT_TRUE(b);
  // Wait for the coordinator's reconnection (backoff of at most 5 s between tries).
  for (int i = 0; i < 300 && !(*dm)->health().ok; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE((*dm)->health().ok) << (*dm)->health().reason;
  EXPECT_EQ((*dm)->uploaded_bytes(), uploaded) << "re-prepared from the worker's cache, not re-uploaded";
  EXPECT_NE(b->log().find("from cache"), std::string::npos) << b->log();
  EXPECT_EQ((*dm)->resets(), 1u);
  auto logits = prompt_and_greedy((*dm)->model(), 12);
  ASSERT_TRUE(logits.ok()) << logits.status().message();
  EXPECT_TRUE(*logits == reference);
}

TEST_F(DistributedTest, CoordinatorRestartAndBadMessagesLeaveWorkersServing) {
  auto a = start_worker("restart-a");
  ASSERT_TRUE(a);
  const gguf::File file = open_model();
  const auto cfg = config(quant::Type::Q8_0, quant::Type::Q8_0);
  const std::vector<float> reference = single_process(file, cfg);
  auto backend = backend::cpu::CpuBackend::create(1);
  CoordinatorOptions options;
  options.workers = {a->address()};
  {
    auto first = load_distributed(file, **backend, cfg, options);
    ASSERT_TRUE(first.ok()) << first.status().message();
    EXPECT_GT((*first)->uploaded_bytes(), 0u);
    ASSERT_TRUE(prompt_and_greedy((*first)->model(), 3).ok());
  }
  // Hostile or confused calls end with an error status, and only their own call.
  auto client = WorkerClient::connect(a->address(), options.client);
  ASSERT_TRUE(client.ok()) << client.status().message();
  v1::ForwardRequest bad;
  v1::ForwardReply reply;
  bad.set_stage_id(1);
  bad.add_positions(0);
  bad.add_seq_ids(0);
  bad.set_hidden("not hidden states");
  Status s = (*client)->forward(bad, &reply);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.message();
  bad.set_stage_id(424242);
  EXPECT_EQ((*client)->forward(bad, &reply).code(), ErrorCode::kNotFound);
  v1::SequenceOpRequest op;
  op.set_stage_id(1);
  op.set_op(v1::SequenceOpRequest::COPY);
  op.set_seq(0);
  op.set_dst(77);
  EXPECT_FALSE((*client)->sequence_op(op).ok());

  // A restarted coordinator finds the stage prepared: no upload, same logits.
  auto second = load_distributed(file, **backend, cfg, options);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ((*second)->uploaded_bytes(), 0u);
  auto logits = prompt_and_greedy((*second)->model(), 12);
  ASSERT_TRUE(logits.ok()) << logits.status().message();
  EXPECT_TRUE(*logits == reference);
}

TEST_F(DistributedTest, TokenIsRequiredAndChecked) {
  auto a = start_worker("token", {"--token", "s3cret"});
  ASSERT_TRUE(a);
  const gguf::File file = open_model();
  const auto cfg = config(quant::Type::F16, quant::Type::F16);
  CoordinatorOptions options;
  options.workers = {a->address()};
  auto none = plan_distributed(file, cfg, options);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(none.status().message().find("needs a token"), std::string::npos) << none.status().message();
  EXPECT_NE(none.status().message().find(a->address()), std::string::npos) << none.status().message();

  options.client.token = "guess";
  auto wrong = plan_distributed(file, cfg, options);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("wrong token"), std::string::npos) << wrong.status().message();

  options.client.token = "s3cret";
  auto right = plan_distributed(file, cfg, options);
  ASSERT_TRUE(right.ok()) << right.status().message();
  EXPECT_EQ(right->nodes.back().layers.size(), 4u);
}

TEST_F(DistributedTest, ProtocolVersionMismatchIsRefused) {
  auto a = start_worker("version", {"--test-protocol-version", "999"});
  ASSERT_TRUE(a);
  const gguf::File file = open_model();
  CoordinatorOptions options;
  options.workers = {a->address()};
  auto plan = plan_distributed(file, config(quant::Type::F16, quant::Type::F16), options);
  ASSERT_FALSE(plan.ok());
  const std::string& message = plan.status().message();
  EXPECT_NE(message.find("protocol version mismatch"), std::string::npos) << message;
  EXPECT_NE(message.find("999"), std::string::npos) << message;
  EXPECT_NE(message.find(a->address()), std::string::npos) << message;
}

TEST_F(DistributedTest, TlsWorkerNeedsTheCoordinatorToTrustIt) {
  const std::string cert = (*dir_ / "cert.pem").string();
  const std::string key = (*dir_ / "key.pem").string();
  const auto made = testing::run_command("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
                                         "-addext subjectAltName=IP:127.0.0.1 -keyout " +
                                         key + " -out " + cert);
  if (made.exit_code != 0) GTEST_SKIP() << "no openssl command to make a test certificate: " << made.output;
  auto a = start_worker("tls", {"--tls-cert", cert, "--tls-key", key});
  ASSERT_TRUE(a);
  const gguf::File file = open_model();
  CoordinatorOptions options;
  options.workers = {a->address()};
  options.client.call_timeout = std::chrono::milliseconds(3000);
  auto plain = plan_distributed(file, config(quant::Type::F16, quant::Type::F16), options);
  ASSERT_FALSE(plain.ok()) << "a plaintext coordinator must not reach a TLS worker";
  EXPECT_NE(plain.status().message().find(a->address()), std::string::npos) << plain.status().message();

  options.client.tls_ca_file = cert;
  auto trusted = plan_distributed(file, config(quant::Type::F16, quant::Type::F16), options);
  ASSERT_TRUE(trusted.ok()) << trusted.status().message();

  const auto half = testing::run_command(std::string(STRATA_BINARY) + " worker --port 0 --tls-cert " + cert);
  EXPECT_EQ(half.exit_code, 1);
  EXPECT_NE(half.output.find("--tls-key"), std::string::npos) << half.output;
}

TEST_F(DistributedTest, NonLoopbackWithoutTokenIsRefused) {
  const auto result = testing::run_command(std::string(STRATA_BINARY) + " worker --host 0.0.0.0 --port 0");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.output.find("without a token"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("--insecure"), std::string::npos) << result.output;
}

TEST_F(DistributedTest, UnreachableWorkerIsNamed) {
  const gguf::File file = open_model();
  CoordinatorOptions options;
  options.workers = {"127.0.0.1:1"};
  options.client.call_timeout = std::chrono::milliseconds(2000);
  auto plan = plan_distributed(file, config(quant::Type::F16, quant::Type::F16), options);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("127.0.0.1:1"), std::string::npos) << plan.status().message();
}

}  // namespace
}  // namespace strata::dist
