// The loader: batches of a Dataset in a seeded per-epoch order, padded with masks, prepared on a
// background thread and copied to the device; its cursor goes into checkpoints for exact resume.
// On CUDA the prefetch thread collates into page-locked buffers and uploads them on the copy
// stream; the compute stream waits for a batch's copy only when next() hands it out.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "core/pinned.h"
#include "core/tensor.h"
#include "data/dataset.h"

namespace coil::data {

struct Batch {
  Tensor input;        // (B, L) i64 token ids, L the longest input of the batch, padded with pad_id
  Tensor target;       // (B, L) i64 per-position targets (kIgnore on padding), or (B,) labels
  Tensor mask;         // (B, L) f32: 1 on real tokens, 0 on padding
  Tensor lengths;      // (B,) i64 real lengths
  int64_t tokens = 0;  // real input tokens in the batch (host value, for tokens/s)
};

// Where the loader is: the next batch starts at example `position` of epoch `epoch`'s order.
// For infinite datasets epoch stays 0 and position counts examples from the start.
struct LoaderCursor {
  int64_t epoch = 0;
  int64_t position = 0;
  bool operator==(const LoaderCursor&) const = default;
};

struct LoaderOptions {
  int64_t batch_size = 8;
  uint64_t seed = 0;      // the per-epoch permutation's key (finite datasets)
  bool shuffle = true;    // finite datasets only: generators are consumed in index order
  bool drop_last = true;  // finite datasets: skip an epoch's short last batch
  int prefetch = 2;       // batches prepared ahead; 0 = build and copy on the caller's thread
  Device device = Device::cpu();
  int32_t pad_id = 0;
};

// Pads and stacks examples into host tensors.
Batch collate(const std::vector<Example>& examples, int32_t pad_id);

class Loader {
 public:
  Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The batch at the cursor, on the device; advances the cursor. Rethrows a worker's error.
  Batch next();
  // The cursor of the batch the next call to next() returns.
  LoaderCursor cursor() const { return cursor_; }
  // Moves to `c` (drops prefetched batches).
  void set_cursor(LoaderCursor c);
  // Example indices (dataset order) of the batch at `c`, and the cursor after it.
  std::vector<int64_t> batch_indices(LoaderCursor c, LoaderCursor* after) const;
  const Dataset& dataset() const { return *dataset_; }

 private:
  // One prefetched batch's staging on CUDA: the page-locked buffer it is collated into, and the
  // events that order its upload after the device allocation (compute stream) and the compute
  // stream's use after the upload (copy stream). Reused once its upload has completed.
  struct Slot {
    PinnedBuffer host;
    std::unique_ptr<DeviceEvent> allocated, copied;
  };

  void gather(LoaderCursor c, LoaderCursor* after, std::vector<Example>& examples) const;
  Batch build(LoaderCursor c, LoaderCursor* after) const;
  Batch build_on_device(LoaderCursor c, LoaderCursor* after, Slot& slot) const;
  void start();
  void stop();
  void work();

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions o_;
  // The shuffled order of the last epoch asked for (finite datasets), guarded by perm_mu_.
  mutable std::mutex perm_mu_;
  mutable int64_t perm_epoch_ = -1;
  mutable std::vector<int64_t> perm_;
  LoaderCursor cursor_;
  // Prefetch state, guarded by mu_: batches for cursor_ onwards, in order.
  struct Ready {
    Batch batch;
    LoaderCursor after;
    int slot = -1;  // CUDA: the slot whose upload the batch waits for
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Ready> queue_;
  std::exception_ptr error_;
  LoaderCursor produce_at_;
  bool stopping_ = false;
  std::vector<Slot> slots_;  // CUDA with prefetch: prefetch + 1 of them, used in turn
  size_t next_slot_ = 0;     // worker thread only
  std::thread worker_;
};

}  // namespace coil::data
