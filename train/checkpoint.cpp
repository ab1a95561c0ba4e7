// Checkpoint files: layout, checksum, atomic pointer updates, rotation and fallback loading.
#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/copy.h"
#include "core/error.h"

namespace fs = std::filesystem;

namespace coil::train {
namespace {

constexpr const char* kFormat = "coil-checkpoint-1";
constexpr const char* kModelPrefix = "model.";
constexpr const char* kOptimPrefix = "optim.";

// 64-bit hash of every tensor's name, dtype, shape and bytes, in name order: catches bit rot
// that the format checks cannot (a flipped byte inside the data area).
class Hasher {
 public:
  void bytes(const void* p, size_t n) {
    auto* b = static_cast<const unsigned char*>(p);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, b + i, 8);
      mix(w);
    }
    uint64_t tail = 0;
    for (size_t k = 0; i < n; ++i, ++k) tail |= uint64_t(b[i]) << (8 * k);
    mix(tail ^ (uint64_t(n) << 56));
  }
  void text(const std::string& s) { bytes(s.data(), s.size()); }
  uint64_t value() const { return h_; }

 private:
  void mix(uint64_t w) {
    h_ = (h_ ^ w) * 0x9E3779B97F4A7C15ull;
    h_ ^= h_ >> 29;
  }
  uint64_t h_ = 0x243F6A8885A308D3ull;
};

std::string checksum(const TensorDict& tensors) {
  Hasher h;
  for (const auto& [name, t] : tensors) {
    h.text(name);
    h.text(std::string(safetensors_dtype_name(t.dtype())));
    for (int64_t d : t.shape()) h.bytes(&d, sizeof d);
    Tensor c = core::contiguous(core::to(t, Device::cpu()));
    h.bytes(c.data_ptr(), c.nbytes());
  }
  return fmt::format("{:016x}", h.value());
}

void write_file_atomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  COIL_CHECK(fd >= 0, "[checkpoint] cannot create {}: {}", tmp, std::strerror(errno));
  bool ok = ::write(fd, content.data(), content.size()) == ssize_t(content.size());
  int err = errno;
  ok = ok && ::fsync(fd) == 0;
  if (!ok) err = errno;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(tmp.c_str());
    COIL_FAIL("[checkpoint] cannot write {}: {}", path, std::strerror(err));
  }
  int dfd = ::open(fs::path(path).parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

int64_t meta_int(const StringDict& m, const std::string& key, const std::string& path) {
  auto it = m.find(key);
  COIL_CHECK(it != m.end(), "[checkpoint] {}: metadata has no \"{}\"", path, key);
  try {
    size_t used = 0;
    int64_t v = std::stoll(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  COIL_FAIL("[checkpoint] {}: metadata \"{}\" is not an integer: \"{}\"", path, key, it->second);
}

const std::string& meta_str(const StringDict& m, const std::string& key, const std::string& path) {
  auto it = m.find(key);
  COIL_CHECK(it != m.end(), "[checkpoint] {}: metadata has no \"{}\"", path, key);
  return it->second;
}

bool is_step_file(const fs::path& p) {
  std::string n = p.filename().string();
  return n.rfind("step-", 0) == 0 && p.extension() == ".safetensors";
}

}  // namespace

std::string checkpoint_name(int64_t step) { return fmt::format("step-{:08d}.safetensors", step); }

void save_checkpoint(const std::string& dir, const std::string& name, const Checkpoint& ckpt,
                     bool make_latest) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  COIL_CHECK(!ec, "[checkpoint] cannot create {}: {}", dir, ec.message());
  TensorDict all;
  for (const auto& [k, t] : ckpt.model) all[kModelPrefix + k] = t;
  for (const auto& [k, t] : ckpt.optimizer) all[kOptimPrefix + k] = t;
  const CheckpointMeta& m = ckpt.meta;
  StringDict meta = {
      {"format", kFormat},
      {"step", std::to_string(m.step)},
      {"rng_seed", std::to_string(m.rng_seed)},
      {"rng_offset", std::to_string(m.rng_offset)},
      {"data_epoch", std::to_string(m.data_epoch)},
      {"data_position", std::to_string(m.data_position)},
      {"tokens", std::to_string(m.tokens)},
      {"wall_time", fmt::format("{}", m.wall_time)},
      {"config_hash", m.config_hash},
      {"config", m.config_yaml},
      {"checksum", checksum(all)},
  };
  std::string path = (fs::path(dir) / name).string();
  write_safetensors(path, all, meta);
  if (make_latest) write_file_atomically((fs::path(dir) / "latest").string(), name + "\n");
}

std::vector<std::string> list_checkpoints(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && is_step_file(e.path())) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());  // zero-padded steps: name order is step order
  return out;
}

void prune_checkpoints(const std::string& dir, int64_t keep) {
  std::vector<std::string> files = list_checkpoints(dir);
  for (size_t i = 0; i + size_t(keep) < files.size(); ++i) {
    std::error_code ec;
    fs::remove(files[i], ec);  // best effort: a file we cannot delete costs only disk space
  }
}

Checkpoint read_checkpoint(const std::string& path) {
  SafetensorsContents c = read_safetensors(path);
  const StringDict& md = c.metadata;
  COIL_CHECK(md.count("format") && md.at("format") == kFormat,
             "[checkpoint] {}: not a coil checkpoint (metadata \"format\" is not \"{}\")", path,
             kFormat);
  std::string expect = meta_str(md, "checksum", path), got = checksum(c.tensors);
  COIL_CHECK(expect == got,
             "[checkpoint] {}: checksum mismatch (stored {}, computed {}): the data is damaged",
             path, expect, got);
  Checkpoint ck;
  ck.path = path;
  for (auto& [k, t] : c.tensors) {
    if (k.rfind(kModelPrefix, 0) == 0) ck.model[k.substr(std::strlen(kModelPrefix))] = t;
    else if (k.rfind(kOptimPrefix, 0) == 0) ck.optimizer[k.substr(std::strlen(kOptimPrefix))] = t;
    else COIL_FAIL("[checkpoint] {}: unexpected tensor \"{}\"", path, k);
  }
  CheckpointMeta& m = ck.meta;
  m.step = meta_int(md, "step", path);
  m.rng_seed = uint64_t(meta_int(md, "rng_seed", path));
  m.rng_offset = uint64_t(meta_int(md, "rng_offset", path));
  m.data_epoch = meta_int(md, "data_epoch", path);
  m.data_position = meta_int(md, "data_position", path);
  m.tokens = meta_int(md, "tokens", path);
  m.wall_time = std::atof(meta_str(md, "wall_time", path).c_str());
  m.config_hash = meta_str(md, "config_hash", path);
  m.config_yaml = meta_str(md, "config", path);
  return ck;
}

Checkpoint load_latest_checkpoint(const std::string& dir,
                                  const std::function<void(const std::string&)>& warn) {
  // Candidates: the file `latest` names first, then every step file, newest first.
  std::vector<std::string> candidates;
  std::ifstream pointer(fs::path(dir) / "latest");
  std::string latest;
  if (pointer && std::getline(pointer, latest) && !latest.empty())
    candidates.push_back((fs::path(dir) / latest).string());
  std::vector<std::string> files = list_checkpoints(dir);
  for (auto it = files.rbegin(); it != files.rend(); ++it)
    if (std::find(candidates.begin(), candidates.end(), *it) == candidates.end())
      candidates.push_back(*it);
  COIL_CHECK(!candidates.empty(), "[checkpoint] no checkpoint in {}", dir);
  std::string failures;
  for (size_t i = 0; i < candidates.size(); ++i) {
    try {
      return read_checkpoint(candidates[i]);
    } catch (const Error& e) {
      std::string why = e.what();
      failures += "\n  " + why;
      if (i + 1 < candidates.size())
        warn(fmt::format("checkpoint {} is unusable: {}; falling back to {}", candidates[i], why,
                         candidates[i + 1]));
    }
  }
  COIL_FAIL("[checkpoint] no valid checkpoint in {}:{}", dir, failures);
}

}  // namespace coil::train
