// Checkpoints of a run: safetensors files (model weights by module name, optimizer state, and
// metadata: step, RNG offsets, data cursor, config hash, a content checksum) in
// RUN_DIR/checkpoints, written atomically, a `latest` pointer, the last few kept, and loading
// that falls back to the previous valid checkpoint when the newest is damaged.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace coil::train {

struct CheckpointMeta {
  int64_t step = 0;
  uint64_t rng_seed = 0, rng_offset = 0;      // the default generator (dropout, init)
  int64_t data_epoch = 0, data_position = 0;  // the training loader's cursor
  int64_t tokens = 0;                         // training tokens consumed so far
  double wall_time = 0;                       // seconds of training so far
  std::string config_hash;
  std::string config_yaml;  // the resolved config, so eval needs nothing else
};

struct Checkpoint {
  TensorDict model;      // state_dict keys
  TensorDict optimizer;  // optimizer state_dict keys
  CheckpointMeta meta;
  std::string path;  // the file it came from
};

// "step-00000100.safetensors": sorts by step.
std::string checkpoint_name(int64_t step);

// Writes `ckpt` as dir/name (temp file, fsync, rename: a failure leaves dir as it was), then,
// when `make_latest`, points dir/latest at it (same atomic dance). Throws coil::Error naming the
// file on any I/O failure.
void save_checkpoint(const std::string& dir, const std::string& name, const Checkpoint& ckpt,
                     bool make_latest);
// Deletes the oldest step-*.safetensors files beyond the newest `keep`.
void prune_checkpoints(const std::string& dir, int64_t keep);

// Reads and fully validates one file (format, checksum, metadata). Throws coil::Error naming
// the file and what is wrong.
Checkpoint read_checkpoint(const std::string& path);

// The newest valid checkpoint of dir: the one `latest` names, else (or when it is damaged) the
// newest older step-* file that reads cleanly. Each damaged file is reported through `warn`
// ("checkpoint X is unusable: why; falling back to Y"). Throws coil::Error when dir holds no
// valid checkpoint (naming every file tried and why).
Checkpoint load_latest_checkpoint(const std::string& dir,
                                  const std::function<void(const std::string&)>& warn);

// Step-* checkpoint files of dir, oldest first.
std::vector<std::string> list_checkpoints(const std::string& dir);

}  // namespace coil::train
