// Scheduler: queue -> slots -> one batched forward pass per step -> sampling -> events.
#include "engine/scheduler.h"

#include <algorithm>

namespace strata::engine {
namespace {

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Length of the common prefix of two token sequences.
size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

}  // namespace

Result<std::unique_ptr<Scheduler>> Scheduler::create(model::Model& model, SchedulerConfig config) {
  if (config.queue_size < 0) {
    return invalid_argument("--queue-size {} is negative; give 0 or more waiting requests", config.queue_size);
  }
  if (config.prefill_chunk < 1) {
    return invalid_argument("the prefill chunk of {} tokens is too small; give 1 or more", config.prefill_chunk);
  }
  if (model.stages().empty()) return invalid_argument("the model has no stages to schedule");
  if (model.max_outputs() < model.config().kv.n_seq) {
    return invalid_argument("the model returns {} logits rows per step, fewer than its {} sequences",
                            model.max_outputs(), model.config().kv.n_seq);
  }
  if (model.config().n_batch <= model.config().kv.n_seq) {
    return invalid_argument("the batch of {} tokens leaves no room for prompts beside {} decoding slots; load the "
                            "model with a batch larger than -np",
                            model.config().n_batch, model.config().kv.n_seq);
  }
  auto scheduler = std::unique_ptr<Scheduler>(new Scheduler(model, std::move(config)));
  scheduler->thread_ = std::thread([s = scheduler.get()] { s->loop(); });
  return scheduler;
}

Scheduler::Scheduler(model::Model& model, SchedulerConfig config)
    : model_(model), config_(std::move(config)) {
  const uint32_t n_seq = model_.config().kv.n_seq;
  n_ctx_per_seq_ = model_.n_ctx_per_seq();
  if (config_.cache_epoch) cache_epoch_ = config_.cache_epoch();
  n_vocab_ = static_cast<int32_t>(model_.hparams().n_vocab);
  slots_.resize(n_seq);
  for (uint32_t s = 0; s < n_seq; ++s) {
    slots_[s].seq = static_cast<int32_t>(s);
    slots_[s].cached.reserve(n_ctx_per_seq_);
    // Whatever an earlier user of the model left in the cells is not known here.
    (void)model_.clear(s);
  }
  batch_.reserve(model_.config().n_batch);
  output_slots_.reserve(n_seq);
  prefilling_.reserve(n_seq);
  stats_.slots_total = n_seq;
  stats_.kv_cells_total = static_cast<int64_t>(n_ctx_per_seq_) * n_seq;
  stats_.queue_capacity = config_.queue_size;
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<RequestId> Scheduler::submit(GenerationRequest request, EventCallback on_event) {
  const std::vector<int32_t>& prompt = request.prompt;
  if (prompt.empty()) return invalid_argument("the prompt is empty; give at least one token");
  if (prompt.size() >= n_ctx_per_seq_) {
    return invalid_argument(
        "the prompt has {} tokens, which leaves no room for an answer in a slot's context of {} (-c {} over -np {} "
        "slots); shorten it or start the server with a larger -c",
        prompt.size(), n_ctx_per_seq_, n_ctx_per_seq_ * slots_.size(), slots_.size());
  }
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= n_vocab_) {
      return invalid_argument("prompt token {} (at index {}) is not in the vocabulary of {} tokens (ids 0 to {})",
                              prompt[i], i, n_vocab_, n_vocab_ - 1);
    }
  }
  if (request.max_tokens == 0 || request.max_tokens < -1) {
    return invalid_argument("max_tokens {} is not valid; give a positive number (or none for no limit)",
                            request.max_tokens);
  }
  STRATA_TRY(sampling::validate(request.sampling, n_vocab_));
  if (!on_event) return invalid_argument("a request needs an event callback");

  const HealthState state = health();
  if (state.status != HealthState::Status::kOk) {
    return unavailable("the model cannot take requests now: {}", state.reason.empty() ? "not ready" : state.reason);
  }
  RequestId id = 0;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return unavailable("the server is shutting down");
    // Requests that find a free slot start at the next step; the bound is on those that wait.
    const auto free_slots = static_cast<size_t>(stats_.slots_total - stats_.slots_busy);
    if (queue_.size() >= static_cast<size_t>(config_.queue_size) + free_slots) {
      return resource_exhausted("all {} slots are busy and {} requests are already waiting (--queue-size {}); retry "
                                "later",
                                stats_.slots_total, queue_.size(), config_.queue_size);
    }
    id = next_id_++;
    queue_.push_back(Pending{id, std::move(request), std::move(on_event)});
  }
  wake_.notify_one();
  return id;
}

void Scheduler::cancel(RequestId id) {
  {
    std::lock_guard lock(mutex_);
    if (id == 0 || id >= next_id_) return;
    cancelled_.insert(id);
  }
  wake_.notify_one();
}

HealthState Scheduler::health() const {
  if (config_.health_probe) return config_.health_probe();
  return {};
}

GeneratorStats Scheduler::stats() const {
  std::lock_guard lock(mutex_);
  GeneratorStats s = stats_;
  s.queue_length = static_cast<int64_t>(queue_.size());
  return s;
}

void Scheduler::loop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] {
        return stopping_ || !queue_.empty() || !cancelled_.empty() || stats_.slots_busy > 0;
      });
      if (stopping_) break;
    }
    step();
  }
  // Shutting down: every open request still gets its one final event.
  const Status gone = unavailable("the server is shutting down");
  for (Slot& slot : slots_) {
    if (slot.busy()) finish(slot, FinishReason::kError, -1, gone);
  }
  std::deque<Pending> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(queue_);
  }
  for (Pending& pending : left) {
    TokenEvent event;
    event.finish = FinishReason::kError;
    event.error = gone;
    pending.on_event(event);
  }
}

bool Scheduler::step() {
  check_cache_epoch();
  take_cancellations();
  assign_queued();
  build_batch();
  if (batch_.empty()) {
    publish_stats();
    return false;
  }
  const Status status = model_.forward(batch_.view());
  after_forward(status);
  publish_stats();
  return true;
}

void Scheduler::check_cache_epoch() {
  if (!config_.cache_epoch) return;
  const uint64_t epoch = config_.cache_epoch();
  if (epoch == cache_epoch_) return;
  cache_epoch_ = epoch;
  const Status lost = unavailable("a worker restarted and its KV cache was lost; retry the request");
  for (Slot& slot : slots_) {
    if (slot.busy()) finish(slot, FinishReason::kError, -1, lost);
    slot.cached.clear();
    // Local stages still hold the old cells; make every stage agree that the sequence is empty.
    (void)model_.clear(static_cast<uint32_t>(slot.seq));
  }
}

void Scheduler::take_cancellations() {
  std::unordered_set<RequestId> ids;
  std::vector<Pending> queued;
  {
    std::lock_guard lock(mutex_);
    if (cancelled_.empty()) return;
    ids.swap(cancelled_);
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (ids.count(it->id) != 0) {
        queued.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Pending& pending : queued) {
    TokenEvent event;
    event.finish = FinishReason::kCancelled;
    event.timings.n_prompt = static_cast<int32_t>(pending.request.prompt.size());
    pending.on_event(event);
  }
  for (Slot& slot : slots_) {
    if (slot.busy() && ids.count(slot.active->id) != 0) finish(slot, FinishReason::kCancelled, -1);
  }
}

void Scheduler::assign_queued() {
  for (;;) {
    bool any_free = false;
    for (const Slot& slot : slots_) any_free = any_free || !slot.busy();
    if (!any_free) return;
    std::optional<Pending> pending;
    {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) return;
      pending = std::move(queue_.front());
      queue_.pop_front();
      ++stats_.slots_busy;  // counted now so submit() sees the slot as taken
    }
    // The free slot whose cells already hold the longest part of this prompt; else the one
    // used least recently, so recent conversations keep their caches longest.
    Slot* best = nullptr;
    size_t best_prefix = 0;
    for (Slot& slot : slots_) {
      if (slot.busy()) continue;
      const size_t prefix = common_prefix(slot.cached, pending->request.prompt);
      if (best == nullptr || prefix > best_prefix || (prefix == best_prefix && slot.last_used < best->last_used)) {
        best = &slot;
        best_prefix = prefix;
      }
    }
    start_request(*best, std::move(*pending));
  }
}

void Scheduler::start_request(Slot& slot, Pending pending) {
  slot.last_used = ++step_count_;
  slot.n_generated = 0;
  slot.next_token = -1;
  slot.in_batch = false;
  slot.prefill_start = Clock::now();
  slot.first_token_at = slot.prefill_start;
  slot.active = std::move(pending);
  const GenerationRequest& request = slot.active->request;

  auto sampler = sampling::Sampler::create(request.sampling, n_vocab_);
  if (!sampler.ok()) return finish(slot, FinishReason::kError, -1, sampler.status());
  slot.sampler = std::move(*sampler);
  for (int32_t token : request.prompt) {
    if (Status s = slot.sampler->accept(token); !s.ok()) return finish(slot, FinishReason::kError, -1, s);
  }
  if (Status s = reuse_prefix(slot, request.prompt); !s.ok()) return finish(slot, FinishReason::kError, -1, s);
}

Status Scheduler::reuse_prefix(Slot& slot, const std::vector<int32_t>& prompt) {
  // The last prompt token is always computed: its logits give the first generated token.
  const size_t limit = prompt.size() - 1;
  const size_t own = std::min(common_prefix(slot.cached, prompt), limit);
  Slot* donor = nullptr;
  size_t donor_prefix = own;
  for (Slot& other : slots_) {
    if (&other == &slot) continue;
    const size_t prefix = std::min(common_prefix(other.cached, prompt), limit);
    if (prefix > donor_prefix) {
      donor = &other;
      donor_prefix = prefix;
    }
  }
  size_t reused = own;
  if (donor != nullptr) {
    // Cells below a busy donor's length never change while it runs, so copying them is safe.
    if (model_.copy(static_cast<uint32_t>(donor->seq), static_cast<uint32_t>(slot.seq), donor_prefix).ok()) {
      slot.cached.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(donor_prefix));
      reused = donor_prefix;
    }
  }
  if (reused == own) {
    STRATA_TRY(model_.trim(static_cast<uint32_t>(slot.seq), own));
    slot.cached.resize(own);
  }
  slot.n_prefilled = reused;
  slot.n_cached = static_cast<int32_t>(reused);
  return {};
}

void Scheduler::build_batch() {
  batch_.clear();
  output_slots_.clear();
  size_t budget = model_.config().n_batch;
  bool any_decoding = false;
  // The next token of every decoding slot first: running streams never wait for prompts.
  for (Slot& slot : slots_) {
    if (!slot.decoding() || budget == 0) continue;
    batch_.add(slot.next_token, static_cast<int32_t>(slot.cached.size()), slot.seq, true);
    output_slots_.push_back(&slot);
    slot.in_batch = true;
    slot.batch_tokens = 0;
    any_decoding = true;
    --budget;
  }
  size_t chunk = any_decoding ? std::min(budget, static_cast<size_t>(config_.prefill_chunk)) : budget;
  // Prompts in the order their requests started, so an earlier one finishes its prefill first.
  prefilling_.clear();
  for (Slot& slot : slots_) {
    if (slot.busy() && !slot.decoding()) prefilling_.push_back(&slot);
  }
  std::sort(prefilling_.begin(), prefilling_.end(),
            [](const Slot* a, const Slot* b) { return a->last_used < b->last_used; });
  for (Slot* slot : prefilling_) {
    if (chunk == 0) break;
    const std::vector<int32_t>& prompt = slot->active->request.prompt;
    const size_t n = std::min(prompt.size() - slot->n_prefilled, chunk);
    for (size_t i = 0; i < n; ++i) {
      const size_t p = slot->n_prefilled + i;
      const bool last = p + 1 == prompt.size();
      batch_.add(prompt[p], static_cast<int32_t>(p), slot->seq, last);
      if (last) output_slots_.push_back(slot);
    }
    slot->in_batch = true;
    slot->batch_tokens = n;
    chunk -= n;
  }
}

void Scheduler::after_forward(const Status& forward_status) {
  if (!forward_status.ok()) {
    // The caches kept what they held before the batch, so `cached` is still right.
    for (Slot& slot : slots_) {
      if (slot.in_batch) {
        slot.in_batch = false;
        finish(slot, FinishReason::kError, -1, forward_status);
      }
    }
    return;
  }
  for (Slot& slot : slots_) {
    if (!slot.in_batch) continue;
    if (slot.batch_tokens == 0) {
      slot.cached.push_back(slot.next_token);
    } else {
      const std::vector<int32_t>& prompt = slot.active->request.prompt;
      const auto from = static_cast<std::ptrdiff_t>(slot.n_prefilled);
      slot.cached.insert(slot.cached.end(), prompt.begin() + from,
                         prompt.begin() + from + static_cast<std::ptrdiff_t>(slot.batch_tokens));
      slot.n_prefilled += slot.batch_tokens;
    }
    slot.in_batch = false;
  }
  for (size_t row = 0; row < output_slots_.size(); ++row) sample_slot(*output_slots_[row], row);
}

void Scheduler::sample_slot(Slot& slot, size_t output_row) {
  if (!slot.busy()) return;
  auto token = slot.sampler->sample(model_.logits(output_row));
  if (!token.ok()) return finish(slot, FinishReason::kError, -1, token.status());
  if (Status s = slot.sampler->accept(*token); !s.ok()) return finish(slot, FinishReason::kError, -1, s);
  const Clock::time_point now = Clock::now();
  if (slot.n_generated == 0) slot.first_token_at = now;
  ++slot.n_generated;

  const GenerationRequest& request = slot.active->request;
  FinishReason reason = FinishReason::kNone;
  if (std::find(config_.end_tokens.begin(), config_.end_tokens.end(), *token) != config_.end_tokens.end()) {
    reason = FinishReason::kEndOfGeneration;
  } else if (request.max_tokens > 0 && slot.n_generated >= request.max_tokens) {
    reason = FinishReason::kMaxTokens;
  } else if (slot.cached.size() + 1 >= n_ctx_per_seq_) {
    // Prompt and completion together fill the slot's context (the OpenAI and llama-server
    // rule): this token would take the last cell.
    reason = FinishReason::kContextFull;
  }
  if (reason != FinishReason::kNone) return finish(slot, reason, *token);

  TokenEvent event;
  event.token = *token;
  event.time = now;
  slot.active->on_event(event);
  slot.next_token = *token;
}

void Scheduler::finish(Slot& slot, FinishReason reason, int32_t token, Status error) {
  const Clock::time_point now = Clock::now();
  TokenEvent event;
  event.token = token;
  event.finish = reason;
  event.error = std::move(error);
  event.time = now;
  GenerationTimings& t = event.timings;
  t.n_prompt = static_cast<int32_t>(slot.active->request.prompt.size());
  t.n_cached = slot.n_cached;
  t.n_generated = slot.n_generated;
  if (slot.n_generated > 0) {
    t.prompt_ms = ms_between(slot.prefill_start, slot.first_token_at);
    t.generation_ms = ms_between(slot.first_token_at, now);
  }
  EventCallback on_event = std::move(slot.active->on_event);
  slot.active.reset();
  slot.sampler.reset();
  slot.next_token = -1;
  slot.in_batch = false;
  {
    std::lock_guard lock(mutex_);
    --stats_.slots_busy;
  }
  on_event(event);
}

void Scheduler::publish_stats() {
  int64_t cells = 0;
  for (const Slot& slot : slots_) cells += static_cast<int64_t>(slot.cached.size());
  std::lock_guard lock(mutex_);
  stats_.kv_cells_used = cells;
}

}  // namespace strata::engine
