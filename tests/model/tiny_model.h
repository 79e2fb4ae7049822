// Test helpers: a tiny llama/qwen2 GGUF written in a temp dir with gguf::Writer, and a naive
// reference forward pass of it in double precision (weights through quant::dequantize_row), so
// stage/model/engine tests can compare strata's forward pass with a plain textbook one.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gguf/file.h"
#include "gguf/writer.h"
#include "model/arch_tensors.h"
#include "model/hparams.h"
#include "quant/convert.h"
#include "quant/type.h"

namespace strata::testing {

struct TinySpec {
  model::Arch arch = model::Arch::kLlama;
  uint32_t n_vocab = 96;
  uint32_t n_embd = 128;
  uint32_t n_layer = 2;
  uint32_t n_head = 4;     // head dim = n_embd / n_head
  uint32_t n_head_kv = 2;
  uint32_t n_ff = 192;
  float rope_freq_base = 10000.0f;
  float rms_eps = 1e-5f;
  quant::Type weight_type = quant::Type::F32;  // the layers' matrices
  quant::Type embd_type = quant::Type::F32;    // token_embd
  quant::Type output_type = quant::Type::F32;  // output.weight (absent when tied)
  quant::Type vector_type = quant::Type::F32;  // norm weights and biases (strata needs f32)
  bool tied = false;
  bool rope_freqs = false;       // Llama-3 style rope_freqs.weight
  std::string skip_tensor;       // leave this tensor out (a broken file)
  std::string wrong_shape_tensor;  // give this tensor one row too many
  std::string architecture_name;   // overrides general.architecture when set
  uint64_t seed = 7;
};

inline model::HParams tiny_hparams(const TinySpec& s) {
  model::HParams hp;
  hp.arch = s.arch;
  hp.n_vocab = s.n_vocab;
  hp.n_ctx_train = 512;
  hp.n_embd = s.n_embd;
  hp.n_layer = s.n_layer;
  hp.n_head = s.n_head;
  hp.n_head_kv = s.n_head_kv;
  hp.n_ff = s.n_ff;
  hp.head_dim_k = hp.head_dim_v = s.n_embd / s.n_head;
  hp.rope_dim = hp.head_dim_k;
  hp.rope_freq_base = s.rope_freq_base;
  hp.rms_norm_eps = s.rms_eps;
  hp.rope_type = s.arch == model::Arch::kQwen2 ? model::RopeType::kNeox : model::RopeType::kNormal;
  hp.tied_embeddings = s.tied;
  return hp;
}

// Writes the model and returns its path (in `dir`).
inline std::filesystem::path write_tiny_model(const TinySpec& s, const std::filesystem::path& dir,
                                              const std::string& name = "tiny.gguf") {
  const model::HParams hp = tiny_hparams(s);
  gguf::Writer writer;
  const std::string arch = s.architecture_name.empty() ? std::string(model::arch_name(s.arch)) : s.architecture_name;
  const std::string p = std::string(model::arch_name(s.arch)) + ".";
  writer.set("general.architecture", gguf::Value::from_string(arch));
  writer.set("general.name", gguf::Value::from_string("tiny test model"));
  writer.set(p + "vocab_size", gguf::Value::from_u32(hp.n_vocab));
  writer.set(p + "context_length", gguf::Value::from_u32(hp.n_ctx_train));
  writer.set(p + "embedding_length", gguf::Value::from_u32(hp.n_embd));
  writer.set(p + "block_count", gguf::Value::from_u32(hp.n_layer));
  writer.set(p + "feed_forward_length", gguf::Value::from_u32(hp.n_ff));
  writer.set(p + "attention.head_count", gguf::Value::from_u32(hp.n_head));
  writer.set(p + "attention.head_count_kv", gguf::Value::from_u32(hp.n_head_kv));
  writer.set(p + "rope.freq_base", gguf::Value::from_f32(hp.rope_freq_base));
  writer.set(p + "attention.layer_norm_rms_epsilon", gguf::Value::from_f32(hp.rms_norm_eps));

  auto specs = model::arch_tensors(hp, {.rope_freqs = s.rope_freqs});
  EXPECT_TRUE(specs.ok()) << specs.status().message();
  std::mt19937_64 rng(s.seed);
  for (model::TensorSpec spec : *specs) {
    if (spec.name == s.skip_tensor) continue;
    if (spec.name == s.wrong_shape_tensor) spec.ne.back() += 1;
    quant::Type type = s.vector_type;
    if (!spec.is_vector()) {
      type = spec.role == model::TensorRole::kTokenEmbd ? s.embd_type
             : spec.role == model::TensorRole::kOutput  ? s.output_type
                                                        : s.weight_type;
    }
    uint64_t n = 1;
    for (uint64_t d : spec.ne) n *= d;
    auto values = std::make_shared<std::vector<float>>(n);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> uniform(1.0f, 4.0f);
    const float fan_in = static_cast<float>(spec.ne[0]);
    for (float& v : *values) {
      switch (spec.role) {
        case model::TensorRole::kTokenEmbd: v = normal(rng); break;
        case model::TensorRole::kRopeFreqs: v = uniform(rng); break;
        case model::TensorRole::kAttnNorm:
        case model::TensorRole::kFfnNorm:
        case model::TensorRole::kOutputNorm: v = 1.0f + 0.2f * normal(rng); break;
        case model::TensorRole::kAttnQBias:
        case model::TensorRole::kAttnKBias:
        case model::TensorRole::kAttnVBias: v = 0.3f * normal(rng); break;
        case model::TensorRole::kOutput: v = 2.0f * normal(rng) / std::sqrt(fan_in); break;
        default: v = normal(rng) / std::sqrt(fan_in); break;
      }
    }
    const uint64_t row = spec.ne[0];
    const uint64_t row_bytes = *quant::row_bytes(type, row);
    Status added = writer.add_tensor(spec.name, type, spec.ne,
                                     [values, type, row, row_bytes](std::span<uint8_t> out, uint64_t begin,
                                                                    uint64_t n_rows) -> Status {
                                       for (uint64_t r = 0; r < n_rows; ++r) {
                                         STRATA_TRY(quant::quantize_row(type, values->data() + (begin + r) * row,
                                                                        out.data() + r * row_bytes,
                                                                        static_cast<int64_t>(row)));
                                       }
                                       return {};
                                     });
    EXPECT_TRUE(added.ok()) << added.message();
  }
  const std::filesystem::path path = dir / name;
  const Status written = writer.write(path);
  EXPECT_TRUE(written.ok()) << written.message();
  return path;
}

// The textbook forward pass of one sequence, in double, with an exact (unquantized) KV cache.
class ReferenceModel {
 public:
  using Vec = std::vector<double>;

  explicit ReferenceModel(const gguf::File& file) {
    auto hp = model::read_hparams(file);
    EXPECT_TRUE(hp.ok()) << hp.status().message();
    hp_ = *hp;
    for (const gguf::TensorInfo& t : file.tensors()) {
      const uint64_t row = t.ne[0];
      const uint64_t rows = t.n_elements / row;
      const uint64_t row_bytes = *quant::row_bytes(t.type, row);
      std::vector<float> f(row);
      Vec& out = tensors_[t.name];
      out.resize(t.n_elements);
      for (uint64_t r = 0; r < rows; ++r) {
        EXPECT_TRUE(quant::dequantize_row(t.type, t.data.data() + r * row_bytes, f.data(), static_cast<int64_t>(row)).ok());
        for (uint64_t i = 0; i < row; ++i) out[r * row + i] = f[i];
      }
    }
    k_.resize(hp_.n_layer);
    v_.resize(hp_.n_layer);
  }

  const model::HParams& hparams() const { return hp_; }
  size_t length() const { return n_past_; }
  void reset() {
    n_past_ = 0;
    for (auto& k : k_) k.clear();
    for (auto& v : v_) v.clear();
  }

  Vec embed(int32_t token) const {
    const Vec& e = tensors_.at("token_embd.weight");
    return Vec(e.begin() + static_cast<int64_t>(token) * hp_.n_embd, e.begin() + static_cast<int64_t>(token + 1) * hp_.n_embd);
  }

  // Layers [begin, end) on the hidden state of the next position, which they then store.
  void layers(uint32_t begin, uint32_t end, Vec& x, size_t pos) {
    for (uint32_t il = begin; il < end; ++il) layer(il, x, pos);
  }

  Vec head(const Vec& x) const {
    const Vec xn = rms_norm(x, tensors_.at("output_norm.weight"));
    const std::string out = tensors_.count("output.weight") ? "output.weight" : "token_embd.weight";
    return matvec(tensors_.at(out), xn, hp_.n_vocab);
  }

  // Logits of each token, continuing the sequence.
  std::vector<Vec> forward(const std::vector<int32_t>& tokens) {
    std::vector<Vec> logits;
    for (int32_t token : tokens) {
      Vec x = embed(token);
      layers(0, hp_.n_layer, x, n_past_);
      logits.push_back(head(x));
      ++n_past_;
    }
    return logits;
  }

 private:
  Vec rms_norm(const Vec& x, const Vec& w) const {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double scale = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + hp_.rms_norm_eps);
    Vec y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * w[i];
    return y;
  }

  // W has n_out rows of x.size() values.
  static Vec matvec(const Vec& w, const Vec& x, size_t n_out) {
    Vec y(n_out, 0.0);
    for (size_t r = 0; r < n_out; ++r) {
      double s = 0;
      for (size_t k = 0; k < x.size(); ++k) s += w[r * x.size() + k] * x[k];
      y[r] = s;
    }
    return y;
  }

  void add_bias(Vec& y, const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) return;
    for (size_t i = 0; i < y.size(); ++i) y[i] += it->second[i];
  }

  void rope(Vec& x, size_t n_heads, size_t pos) const {
    const size_t hd = hp_.head_dim_k;
    const size_t rd = hp_.rope_dim;
    const Vec* factors = tensors_.count("rope_freqs.weight") ? &tensors_.at("rope_freqs.weight") : nullptr;
    for (size_t h = 0; h < n_heads; ++h) {
      double* head = x.data() + h * hd;
      for (size_t i = 0; i < rd / 2; ++i) {
        double theta = static_cast<double>(pos) * std::pow(static_cast<double>(hp_.rope_freq_base),
                                                           -2.0 * static_cast<double>(i) / static_cast<double>(rd));
        if (factors != nullptr) theta /= (*factors)[i];
        const size_t a = hp_.rope_type == model::RopeType::kNeox ? i : 2 * i;
        const size_t b = hp_.rope_type == model::RopeType::kNeox ? i + rd / 2 : 2 * i + 1;
        const double x0 = head[a];
        const double x1 = head[b];
        head[a] = x0 * std::cos(theta) - x1 * std::sin(theta);
        head[b] = x0 * std::sin(theta) + x1 * std::cos(theta);
      }
    }
  }

  void layer(uint32_t il, Vec& x, size_t pos) {
    const std::string p = "blk." + std::to_string(il) + ".";
    const size_t hd = hp_.head_dim_k;
    const size_t nq = size_t{hp_.n_head} * hd;
    const size_t nkv = size_t{hp_.n_head_kv} * hd;

    Vec xn = rms_norm(x, tensors_.at(p + "attn_norm.weight"));
    Vec q = matvec(tensors_.at(p + "attn_q.weight"), xn, nq);
    Vec k = matvec(tensors_.at(p + "attn_k.weight"), xn, nkv);
    Vec v = matvec(tensors_.at(p + "attn_v.weight"), xn, nkv);
    add_bias(q, p + "attn_q.bias");
    add_bias(k, p + "attn_k.bias");
    add_bias(v, p + "attn_v.bias");
    rope(q, hp_.n_head, pos);
    rope(k, hp_.n_head_kv, pos);
    if (k_[il].size() <= pos) {
      k_[il].resize(pos + 1);
      v_[il].resize(pos + 1);
    }
    k_[il][pos] = k;
    v_[il][pos] = v;

    Vec attn(nq, 0.0);
    const size_t group = hp_.n_head / hp_.n_head_kv;
    for (size_t h = 0; h < hp_.n_head; ++h) {
      const size_t g = h / group;
      std::vector<double> scores(pos + 1);
      double max_score = -1e300;
      for (size_t c = 0; c <= pos; ++c) {
        double s = 0;
        for (size_t i = 0; i < hd; ++i) s += q[h * hd + i] * k_[il][c][g * hd + i];
        scores[c] = s / std::sqrt(static_cast<double>(hd));
        max_score = std::max(max_score, scores[c]);
      }
      double sum = 0;
      for (double& s : scores) sum += (s = std::exp(s - max_score));
      for (size_t c = 0; c <= pos; ++c) {
        for (size_t i = 0; i < hd; ++i) attn[h * hd + i] += scores[c] / sum * v_[il][c][g * hd + i];
      }
    }
    const Vec o = matvec(tensors_.at(p + "attn_output.weight"), attn, hp_.n_embd);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];

    xn = rms_norm(x, tensors_.at(p + "ffn_norm.weight"));
    const Vec gate = matvec(tensors_.at(p + "ffn_gate.weight"), xn, hp_.n_ff);
    const Vec up = matvec(tensors_.at(p + "ffn_up.weight"), xn, hp_.n_ff);
    Vec act(hp_.n_ff);
    for (size_t i = 0; i < act.size(); ++i) act[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
    const Vec down = matvec(tensors_.at(p + "ffn_down.weight"), act, hp_.n_embd);
    for (size_t i = 0; i < x.size(); ++i) x[i] += down[i];
  }

  model::HParams hp_;
  std::map<std::string, Vec> tensors_;
  std::vector<std::vector<Vec>> k_;  // [layer][position]
  std::vector<std::vector<Vec>> v_;
  size_t n_past_ = 0;
};

// Largest |a - b| over two equally long ranges.
template <typename A, typename B>
double max_abs_diff(const A& a, const B& b) {
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  return m;
}

}  // namespace strata::testing
