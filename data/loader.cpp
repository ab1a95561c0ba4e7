// Loader: seeded per-epoch order, collation with padding and masks, a background prefetch thread,
// and on CUDA uploads from page-locked buffers on the copy stream.
#include "data/loader.h"

#include <algorithm>

#include "core/copy.h"
#include "core/error.h"
#include "core/factory.h"
#include "core/philox.h"

namespace coil::data {

namespace {

// A batch's shape: B rows padded to the longest input; per-position targets or one per row.
struct Layout {
  int64_t b = 0, len = 0;
  bool per_position = true;
  int64_t target_numel() const { return per_position ? b * len : b; }
};

Layout layout_of(const std::vector<Example>& examples) {
  Layout l;
  l.b = int64_t(examples.size());
  COIL_CHECK(l.b > 0, "[collate] empty batch");
  l.per_position = examples[0].target.size() == examples[0].input.size();
  for (const Example& e : examples) {
    l.len = std::max<int64_t>(l.len, int64_t(e.input.size()));
    bool pp = e.target.size() == e.input.size();
    COIL_CHECK(pp == l.per_position && (pp || e.target.size() == 1),
               "[collate] targets must all be per position or all one label per sequence; got "
               "input length {} with {} targets",
               e.input.size(), e.target.size());
  }
  return l;
}

// Writes the padded rows into (b, len) input and mask, the targets and the lengths; returns the
// number of real tokens.
int64_t fill(const std::vector<Example>& examples, const Layout& l, int32_t pad_id, int64_t* in,
             int64_t* tg, float* mk, int64_t* ln) {
  int64_t tokens = 0;
  const int64_t len = l.len;
  for (int64_t r = 0; r < l.b; ++r) {
    const Example& e = examples[r];
    const int64_t n = int64_t(e.input.size());
    ln[r] = n;
    tokens += n;
    for (int64_t t = 0; t < len; ++t) {
      bool real = t < n;
      in[r * len + t] = real ? e.input[t] : pad_id;
      mk[r * len + t] = real ? 1.f : 0.f;
      if (l.per_position) tg[r * len + t] = real ? e.target[t] : kIgnore;
    }
    if (!l.per_position) tg[r] = e.target[0];
  }
  return tokens;
}

}  // namespace

Batch collate(const std::vector<Example>& examples, int32_t pad_id) {
  const Layout l = layout_of(examples);
  Batch out;
  out.input = empty({l.b, l.len}, {DType::i64});
  out.mask = empty({l.b, l.len}, {DType::f32});
  out.lengths = empty({l.b}, {DType::i64});
  out.target = l.per_position ? empty({l.b, l.len}, {DType::i64}) : empty({l.b}, {DType::i64});
  out.tokens = fill(examples, l, pad_id, out.input.data<int64_t>(), out.target.data<int64_t>(),
                    out.mask.data<float>(), out.lengths.data<int64_t>());
  return out;
}

Loader::Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), o_(options) {
  COIL_CHECK(o_.batch_size > 0, "[loader] batch_size must be positive, got {}", o_.batch_size);
  int64_t n = dataset_->size();
  COIL_CHECK(n == kInfinite || n > 0, "[loader] dataset {} is empty", dataset_->name());
  COIL_CHECK(n == kInfinite || !o_.drop_last || n >= o_.batch_size,
             "[loader] dataset {} has {} examples, fewer than one batch of {}", dataset_->name(), n,
             o_.batch_size);
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

void Loader::gather(LoaderCursor c, LoaderCursor* after, std::vector<Example>& examples) const {
  std::vector<int64_t> idx = batch_indices(c, after);
  examples.resize(idx.size());
  for (size_t k = 0; k < idx.size(); ++k) dataset_->get(idx[k], examples[k]);
}

Batch Loader::build(LoaderCursor c, LoaderCursor* after) const {
  thread_local std::vector<Example> examples;
  gather(c, after, examples);
  return collate(examples, o_.pad_id);
}

Batch Loader::build_on_device(LoaderCursor c, LoaderCursor* after, Slot& slot) const {
  thread_local std::vector<Example> examples;
  gather(c, after, examples);
  const Layout l = layout_of(examples);
  const int device = o_.device.index;
  // Staging layout: input, target, lengths (i64), then mask (f32): every part stays aligned.
  const size_t n_in = size_t(l.b * l.len) * 8, n_tg = size_t(l.target_numel()) * 8,
               n_ln = size_t(l.b) * 8, n_mk = size_t(l.b * l.len) * 4;
  const size_t total = n_in + n_tg + n_ln + n_mk;
  slot.copied->synchronize();  // the slot's previous upload has finished reading the buffer
  if (slot.host.size() < total) slot.host = PinnedBuffer(total + total / 4);
  char* h = static_cast<char*>(slot.host.data());
  Batch out;
  out.tokens =
      fill(examples, l, o_.pad_id, reinterpret_cast<int64_t*>(h),
           reinterpret_cast<int64_t*>(h + n_in), reinterpret_cast<float*>(h + n_in + n_tg + n_ln),
           reinterpret_cast<int64_t*>(h + n_in + n_tg));
  // Device memory comes stream-ordered from the compute stream's pool (it may be a block the
  // compute stream freed moments ago): the copy stream starts after that point.
  out.input = empty({l.b, l.len}, {DType::i64, o_.device});
  out.target = l.per_position ? empty({l.b, l.len}, {DType::i64, o_.device})
                              : empty({l.b}, {DType::i64, o_.device});
  out.lengths = empty({l.b}, {DType::i64, o_.device});
  out.mask = empty({l.b, l.len}, {DType::f32, o_.device});
  slot.allocated->record(StreamKind::compute);
  slot.allocated->block(StreamKind::copy);
  upload_async(out.input.data_ptr(), h, n_in, device, StreamKind::copy);
  upload_async(out.target.data_ptr(), h + n_in, n_tg, device, StreamKind::copy);
  upload_async(out.lengths.data_ptr(), h + n_in + n_tg, n_ln, device, StreamKind::copy);
  upload_async(out.mask.data_ptr(), h + n_in + n_tg + n_ln, n_mk, device, StreamKind::copy);
  slot.copied->record(StreamKind::copy);
  return out;
}

void Loader::start() {
  stopping_ = false;
  produce_at_ = cursor_;
  if (o_.prefetch == 0) return;
  if (o_.device.is_cuda() && slots_.empty()) {
    slots_.resize(size_t(o_.prefetch) + 1);  // the queue's batches + the one being built
    for (Slot& s : slots_) {
      s.allocated = std::make_unique<DeviceEvent>(o_.device.index);
      s.copied = std::make_unique<DeviceEvent>(o_.device.index);
    }
  }
  worker_ = std::thread([this] { work(); });
}

void Loader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  // Dropped batches free their device memory on the compute stream: order that after their
  // uploads, and let no upload outlive its staging buffer.
  for (const Ready& r : queue_)
    if (r.slot >= 0) slots_[size_t(r.slot)].copied->block(StreamKind::compute);
  for (const Slot& s : slots_) s.copied->synchronize();
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
      if (slots_.empty()) {
        ready.batch = build(at, &after);
      } else {
        ready.slot = int(next_slot_);
        ready.batch = build_on_device(at, &after, slots_[next_slot_]);
        next_slot_ = (next_slot_ + 1) % slots_.size();
      }
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
  // Under the lock: the worker cannot re-record this slot's event before the wait is queued.
  if (ready.slot >= 0) slots_[size_t(ready.slot)].copied->block(StreamKind::compute);
  queue_.pop_front();
  lock.unlock();
  cv_.notify_all();
  cursor_ = ready.after;
  return ready.slot >= 0 ? std::move(ready.batch) : to_device(std::move(ready.batch), o_.device);
}

void Loader::set_cursor(LoaderCursor c) {
  stop();
  cursor_ = c;
  start();
}

}  // namespace coil::data
