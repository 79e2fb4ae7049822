// Quantizes a GGUF tensor by tensor, row chunk by row chunk, with the rules of quant_mix.
#include "model/quantize_model.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <system_error>

#include "core/thread_pool.h"
#include "quant/convert.h"

namespace strata::model {
namespace {

using quant::Type;

constexpr size_t kMaxThreads = 256;

std::string readable_types() {
  std::string names;
  for (const quant::TypeInfo& info : quant::all_types()) {
    if (!info.can_dequantize) continue;
    if (!names.empty()) names += ", ";
    names += info.name;
  }
  return names;
}

// [begin, end) row ranges, a few per thread, so uneven rows balance; the first error wins.
Status parallel_row_ranges(ThreadPool& pool, uint64_t n_rows,
                           const std::function<Status(uint64_t begin, uint64_t end)>& fn) {
  const uint64_t n_groups = std::min<uint64_t>(n_rows, pool.size() * 4);
  if (n_groups == 0) return {};
  std::vector<Status> errors(n_groups);
  pool.parallel_for(n_groups, [&](size_t g) {
    errors[g] = fn(n_rows * g / n_groups, n_rows * (g + 1) / n_groups);
  });
  for (Status& e : errors) {
    if (!e.ok()) return std::move(e);
  }
  return {};
}

}  // namespace

Result<QuantizePlan> plan_quantize(const gguf::File& in, const QuantTarget& target) {
  if (const gguf::Value* split = in.find("split.count"); split != nullptr && split->as_uint().value_or(1) > 1) {
    return unsupported("'{}' is part {} of a split model ({} parts); merge it first (llama-gguf-split --merge)",
                       in.path().string(), in.find("split.no") ? in.find("split.no")->to_display() : "?",
                       split->to_display());
  }
  std::vector<TensorDesc> descs;
  descs.reserve(in.tensors().size());
  for (const gguf::TensorInfo& t : in.tensors()) descs.push_back({t.name, t.ne, t.type});
  const std::vector<TensorChoice> choices = choose_tensor_types(descs, target, mix_model_info(in));

  QuantizePlan plan;
  plan.tensors.reserve(descs.size());
  for (size_t i = 0; i < descs.size(); ++i) {
    const gguf::TensorInfo& t = in.tensors()[i];
    const Type to = choices[i].type;
    if (t.type != to) {
      if (!quant::type_info(t.type).can_dequantize) {
        return unsupported("tensor '{}' has type {}, which strata cannot read to convert it to {}; it reads {}",
                           t.name, quant::type_name(t.type), quant::type_name(to), readable_types());
      }
      if (!quant::type_info(to).can_quantize) {
        return unsupported("tensor '{}' would become {}, which strata cannot write", t.name, quant::type_name(to));
      }
    }
    uint64_t n_rows = 1;
    for (size_t d = 1; d < t.ne.size(); ++d) n_rows *= t.ne[d];
    STRATA_ASSIGN_OR_RETURN(const uint64_t out_row, quant::row_bytes(to, t.ne.empty() ? 1 : t.ne[0]));
    plan.bytes_in += t.n_bytes;
    plan.bytes_out += out_row * n_rows;
    if (!choices[i].note.empty()) ++plan.n_fallback;
    plan.tensors.push_back({t.name, t.ne, t.type, to, choices[i].note});
  }
  return plan;
}

Result<QuantizePlan> quantize_model(const std::filesystem::path& in_path, const std::filesystem::path& out,
                                    const QuantizeOptions& options, const gguf::WriteProgress& progress) {
  if (options.n_threads > kMaxThreads) {
    return invalid_argument("{} threads requested; quantize uses at most {}", options.n_threads, kMaxThreads);
  }
  STRATA_ASSIGN_OR_RETURN(gguf::File in, gguf::File::open(in_path));
  STRATA_ASSIGN_OR_RETURN(QuantizePlan plan, plan_quantize(in, options.target));

  gguf::Writer writer;
  for (const auto& [key, value] : in.metadata()) writer.set(key, value);
  writer.set_alignment(in.alignment());
  writer.set("general.quantization_version", gguf::Value::from_u32(2));
  writer.set("general.file_type", gguf::Value::from_u32(options.target.file_type));

  ThreadPool pool(std::max<size_t>(1, options.n_threads));
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const gguf::TensorInfo* t = &in.tensors()[i];
    const TensorConversion& c = plan.tensors[i];
    const uint64_t n_per_row = t->ne.empty() ? 1 : t->ne[0];
    STRATA_ASSIGN_OR_RETURN(const uint64_t in_row, quant::row_bytes(c.from, n_per_row));
    STRATA_ASSIGN_OR_RETURN(const uint64_t out_row, quant::row_bytes(c.to, n_per_row));
    const bool check_finite = quant::type_info(c.to).quantized;
    gguf::TensorFill fill = [t, from = c.from, to = c.to, n_per_row, in_row, out_row, check_finite, &pool](
                                std::span<uint8_t> dst, uint64_t row_begin, uint64_t n_rows) -> Status {
      if (dst.size() != n_rows * out_row || (row_begin + n_rows) * in_row > t->data.size()) {
        return internal_error("quantize: chunk of rows {}..{} does not fit tensor '{}'", row_begin,
                              row_begin + n_rows, t->name);
      }
      const uint8_t* src = t->data.data() + row_begin * in_row;
      if (from == to) {
        std::memcpy(dst.data(), src, dst.size());
        return {};
      }
      return parallel_row_ranges(pool, n_rows, [&](uint64_t begin, uint64_t end) -> Status {
        std::vector<float> row(n_per_row);
        const auto n = static_cast<int64_t>(n_per_row);
        for (uint64_t r = begin; r < end; ++r) {
          STRATA_TRY(quant::dequantize_row(from, src + r * in_row, row.data(), n));
          if (check_finite) {
            for (uint64_t j = 0; j < n_per_row; ++j) {
              if (!std::isfinite(row[j])) {
                return corrupt("tensor '{}' row {} column {} is {}; a non-finite weight cannot be quantized", t->name,
                               row_begin + r, j, row[j]);
              }
            }
          }
          STRATA_TRY(quant::quantize_row(to, row.data(), dst.data() + r * out_row, n));
        }
        return {};
      });
    };
    STRATA_TRY(writer.add_tensor(c.name, c.to, c.ne, std::move(fill)));
  }

  // Refuse up front rather than fail after writing most of a large file.
  std::error_code ec;
  const std::filesystem::path dir = out.has_parent_path() ? out.parent_path() : std::filesystem::path(".");
  const std::filesystem::space_info space = std::filesystem::space(dir, ec);
  if (!ec && space.available < writer.data_bytes()) {
    return make_error(ErrorCode::kResourceExhausted,
                      "writing '{}' needs {:.2f} GB but its filesystem has {:.2f} GB free", out.string(),
                      writer.data_bytes() / 1e9, space.available / 1e9);
  }
  STRATA_TRY(writer.write(out, progress));
  return plan;
}

}  // namespace strata::model
