// Loader: seeded per-epoch order, collation with padding and masks, a background prefetch thread.
#include "data/loader.h"

#include <algorithm>

#include "core/copy.h"
#include "core/error.h"
#include "core/philox.h"

namespace coil::data {

Batch collate(const std::vector<Example>& examples, int32_t pad_id) {
  const int64_t b = int64_t(examples.size());
  COIL_CHECK(b > 0, "[collate] empty batch");
  int64_t len = 0;
  const bool per_position = examples[0].target.size() == examples[0].input.size();
  for (const Example& e : examples) {
    len = std::max<int64_t>(len, int64_t(e.input.size()));
    bool pp = e.target.size() == e.input.size();
    COIL_CHECK(pp == per_position && (pp || e.target.size() == 1),
               "[collate] targets must all be per position or all one label per sequence; got "
               "input length {} with {} targets",
               e.input.size(), e.target.size());
  }
  Batch out;
  out.input = empty({b, len}, {DType::i64});
  out.mask = empty({b, len}, {DType::f32});
  out.lengths = empty({b}, {DType::i64});
  out.target = per_position ? empty({b, len}, {DType::i64}) : empty({b}, {DType::i64});
  int64_t* in = out.input.data<int64_t>();
  int64_t* tg = out.target.data<int64_t>();
  float* mk = out.mask.data<float>();
  int64_t* ln = out.lengths.data<int64_t>();
  for (int64_t r = 0; r < b; ++r) {
    const Example& e = examples[r];
    const int64_t n = int64_t(e.input.size());
    ln[r] = n;
    out.tokens += n;
    for (int64_t t = 0; t < len; ++t) {
      bool real = t < n;
      in[r * len + t] = real ? e.input[t] : pad_id;
      mk[r * len + t] = real ? 1.f : 0.f;
      if (per_position) tg[r * len + t] = real ? e.target[t] : kIgnore;
    }
    if (!per_position) tg[r] = e.target[0];
  }
  return out;
}

Loader::Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), o_(options) {
  COIL_CHECK(o_.batch_size > 0, "[loader] batch_size must be positive, got {}", o_.batch_size);
  int64_t n = dataset_->size();
  COIL_CHECK(n == kInfinite || n > 0, "[loader] dataset {} is empty", dataset_->name());
  COIL_CHECK(n == kInfinite || !o_.drop_last || n >= o_.batch_size,
             "[loader] dataset {} has {} examples, fewer than one batch of {}", dataset_->name(),
             n, o_.batch_size);
  start();
}

Loader::~Loader() { stop(); }

std::vector<int64_t> Loader::batch_indices(LoaderCursor c, LoaderCursor* after) const {
  std::vector<int64_t> idx;
  const int64_t n = dataset_->size();
  if (n == kInfinite) {
    for (int64_t k = 0; k < o_.batch_size; ++k) idx.push_back(c.position + k);
    *after = {0, c.position + o_.batch_size};
    return idx;
  }
  const int64_t usable = o_.drop_last ? n / o_.batch_size * o_.batch_size : n;
  if (c.position >= usable) c = {c.epoch + 1, 0};
  int64_t end = std::min(usable, c.position + o_.batch_size);
  std::lock_guard<std::mutex> lock(perm_mu_);
  if (o_.shuffle && perm_epoch_ != c.epoch) {
    // Fisher-Yates driven by Philox keyed by the seed, counters by epoch: any epoch's order
    // can be rebuilt from the cursor alone.
    perm_.resize(n);
    for (int64_t k = 0; k < n; ++k) perm_[k] = k;
    uint64_t counter = uint64_t(c.epoch) << 32;
    for (int64_t k = n - 1; k > 0; --k) {
      uint32_t w = philox::block(o_.seed, counter++).v[0];
      std::swap(perm_[k], perm_[int64_t((uint64_t(w) * uint64_t(k + 1)) >> 32)]);
    }
    perm_epoch_ = c.epoch;
  }
  for (int64_t p = c.position; p < end; ++p) idx.push_back(o_.shuffle ? perm_[p] : p);
  *after = {c.epoch, end};
  return idx;
}

Batch Loader::build(LoaderCursor c, LoaderCursor* after) const {
  std::vector<int64_t> idx = batch_indices(c, after);
  thread_local std::vector<Example> examples;
  examples.resize(idx.size());
  for (size_t k = 0; k < idx.size(); ++k) dataset_->get(idx[k], examples[k]);
  return collate(examples, o_.pad_id);
}

void Loader::start() {
  stopping_ = false;
  produce_at_ = cursor_;
  if (o_.prefetch > 0) worker_ = std::thread([this] { work(); });
}

void Loader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  queue_.clear();
  error_ = nullptr;
}

void Loader::work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || int(queue_.size()) < o_.prefetch; });
    if (stopping_) return;
    LoaderCursor at = produce_at_, after;
    lock.unlock();
    Ready ready;
    std::exception_ptr err;
    try {
      ready.batch = build(at, &after);
      ready.after = after;
    } catch (...) {
      err = std::current_exception();
    }
    lock.lock();
    if (err) {
      error_ = err;
      cv_.notify_all();
      return;
    }
    queue_.push_back(std::move(ready));
    produce_at_ = after;
    cv_.notify_all();
  }
}

static Batch to_device(Batch b, Device d) {
  if (d.is_cpu()) return b;
  b.input = core::to(b.input, d);
  b.target = core::to(b.target, d);
  b.mask = core::to(b.mask, d);
  b.lengths = core::to(b.lengths, d);
  return b;
}

Batch Loader::next() {
  if (o_.prefetch == 0) {
    LoaderCursor after;
    Batch b = build(cursor_, &after);
    cursor_ = after;
    return to_device(std::move(b), o_.device);
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !queue_.empty() || error_; });
  if (queue_.empty()) std::rethrow_exception(error_);
  Ready ready = std::move(queue_.front());
  queue_.pop_front();
  lock.unlock();
  cv_.notify_all();
  cursor_ = ready.after;
  return to_device(std::move(ready.batch), o_.device);
}

void Loader::set_cursor(LoaderCursor c) {
  stop();
  cursor_ = c;
  start();
}

}  // namespace coil::data
