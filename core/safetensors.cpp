// safetensors writer (temporary file + fsync + rename) and a reader that validates the header
// against the file before touching any data, so a corrupted file is refused, never half-read.
#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "core/copy.h"

namespace coil {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; coil copies bytes as they are in memory");

constexpr uint64_t kMaxHeader = 100'000'000;  // the limit the reference implementation uses
constexpr const char* kMetadataKey = "__metadata__";

struct DTypeName {
  DType dtype;
  const char* name;
};
constexpr DTypeName kDTypeNames[] = {
    {DType::f32, "F32"}, {DType::f64, "F64"}, {DType::bf16, "BF16"},   {DType::i32, "I32"},
    {DType::i64, "I64"}, {DType::u8, "U8"},   {DType::boolean, "BOOL"}};
static_assert(std::size(kDTypeNames) == size_t(kNumDTypes), "every coil dtype has a name");

std::string errno_text() { return std::strerror(errno); }

// Owns a file descriptor; closing never throws (errors that matter are checked by the writer).
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// ---- writing -------------------------------------------------------------------------------

void write_all(int fd, const void* data, size_t n, const std::string& tmp) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, std::min<size_t>(n, size_t(1) << 30));
    if (w < 0 && errno == EINTR) continue;
    COIL_CHECK(w > 0, "[write_safetensors] writing '{}' failed: {}", tmp, errno_text());
    p += w;
    n -= size_t(w);
  }
}

std::string directory_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// ---- reading -------------------------------------------------------------------------------

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

void read_exact(int fd, void* dst, uint64_t n, uint64_t at, const std::string& path) {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, std::min<uint64_t>(n, uint64_t(1) << 30), off_t(at));
    if (r < 0 && errno == EINTR) continue;
    COIL_CHECK(r >= 0, "[read_safetensors] '{}': read failed: {}", path, errno_text());
    COIL_CHECK(r > 0, "[read_safetensors] '{}': file ended early (truncated while reading?)", path);
    p += r;
    n -= uint64_t(r);
    at += uint64_t(r);
  }
}

Entry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& j) {
  auto bad = [&](const std::string& what) {
    COIL_FAIL("[read_safetensors] '{}': tensor '{}': {}", path, name, what);
  };
  if (!j.is_object()) bad("header entry is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!j.contains(key)) bad(fmt::format("missing \"{}\"", key));
  const auto& jd = j["dtype"];
  if (!jd.is_string()) bad("\"dtype\" is not a string");
  std::string dname = jd.get<std::string>();
  const DTypeName* known = std::find_if(std::begin(kDTypeNames), std::end(kDTypeNames),
                                        [&](const DTypeName& d) { return dname == d.name; });
  if (known == std::end(kDTypeNames))
    bad(fmt::format("unknown dtype \"{}\" (coil reads F32, F64, BF16, I32, I64, U8, BOOL)", dname));

  const auto& js = j["shape"];
  if (!js.is_array()) bad("\"shape\" is not an array");
  Shape shape;
  uint64_t numel = 1;
  bool overflow = false;
  for (const auto& d : js) {
    if (!d.is_number_unsigned())
      bad(fmt::format("shape {} has a non-integer or negative size", js.dump()));
    uint64_t v = d.get<uint64_t>();
    overflow |= v > uint64_t(INT64_MAX) || __builtin_mul_overflow(numel, v, &numel);
    shape.push_back(int64_t(v));
  }
  uint64_t nbytes = 0;
  overflow |= __builtin_mul_overflow(numel, uint64_t(dtype_size(known->dtype)), &nbytes);
  if (overflow) bad(fmt::format("shape {} is too large", js.dump()));

  const auto& jo = j["data_offsets"];
  if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() ||
      !jo[1].is_number_unsigned())
    bad(fmt::format("\"data_offsets\" must be [begin, end] with non-negative integers, got {}",
                    jo.dump()));
  uint64_t begin = jo[0].get<uint64_t>(), end = jo[1].get<uint64_t>();
  if (end < begin) bad(fmt::format("data_offsets [{}, {}] end before they begin", begin, end));
  if (end - begin != nbytes)
    bad(fmt::format("data_offsets [{}, {}] hold {} bytes but {} {} needs {}", begin, end,
                    end - begin, dname, shape_str(shape), nbytes));
  return {name, known->dtype, std::move(shape), begin, end};
}

}  // namespace

std::string_view safetensors_dtype_name(DType t) {
  for (const auto& d : kDTypeNames)
    if (d.dtype == t) return d.name;
  COIL_FAIL("[safetensors] dtype {} has no safetensors name", dtype_name(t));
}

void write_safetensors(const std::string& path, const TensorDict& tensors,
                       const StringDict& metadata) {
  // Host copies, ordered by item size (largest first) and then name, as the reference writer
  // does: with the 8-aligned data start every tensor lands aligned to its own item size.
  std::vector<std::pair<const std::string*, Tensor>> order;
  for (const auto& [name, t] : tensors) {
    COIL_CHECK(!name.empty() && name != kMetadataKey,
               "[write_safetensors] '{}': invalid tensor name \"{}\"", path, name);
    COIL_CHECK(t.defined(), "[write_safetensors] '{}': tensor '{}' is undefined", path, name);
    order.emplace_back(&name, core::contiguous(core::to(t, Device::cpu())));
  }
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second.itemsize() > b.second.itemsize();
  });

  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& [name, t] : order) {
    header[*name] = {{"dtype", safetensors_dtype_name(t.dtype())},
                     {"shape", std::vector<int64_t>(t.shape().begin(), t.shape().end())},
                     {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t n = text.size();

  static std::atomic<uint64_t> counter{0};
  const std::string tmp = fmt::format("{}.tmp.{}.{}", path, ::getpid(), counter++);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
  COIL_CHECK(fd.get() >= 0, "[write_safetensors] cannot create '{}': {}", tmp, errno_text());
  try {
    write_all(fd.get(), &n, 8, tmp);  // little-endian (static_assert above)
    write_all(fd.get(), text.data(), text.size(), tmp);
    for (const auto& entry : order)
      write_all(fd.get(), entry.second.data_ptr(), entry.second.nbytes(), tmp);
    COIL_CHECK(::fsync(fd.get()) == 0, "[write_safetensors] fsync of '{}' failed: {}", tmp,
               errno_text());
    COIL_CHECK(::close(fd.release()) == 0, "[write_safetensors] closing '{}' failed: {}", tmp,
               errno_text());
    COIL_CHECK(::rename(tmp.c_str(), path.c_str()) == 0,
               "[write_safetensors] renaming '{}' to '{}' failed: {}", tmp, path, errno_text());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  // Make the rename itself durable; the file is complete either way, so failure is not fatal.
  Fd dir(::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() >= 0) ::fsync(dir.get());
}

SafetensorsContents read_safetensors(const std::string& path, Device device) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  COIL_CHECK(fd.get() >= 0, "[read_safetensors] cannot open '{}': {}", path, errno_text());
  struct stat st {};
  COIL_CHECK(::fstat(fd.get(), &st) == 0, "[read_safetensors] cannot stat '{}': {}", path,
             errno_text());
  COIL_CHECK(S_ISREG(st.st_mode), "[read_safetensors] '{}' is not a regular file", path);
  const uint64_t file_size = uint64_t(st.st_size);
  COIL_CHECK(file_size >= 8,
             "[read_safetensors] '{}': file has {} bytes, less than the 8-byte "
             "header length (truncated?)",
             path, file_size);

  uint64_t n = 0;
  read_exact(fd.get(), &n, 8, 0, path);
  COIL_CHECK(n <= kMaxHeader,
             "[read_safetensors] '{}': header length {} exceeds the limit of {} "
             "bytes (not a safetensors file?)",
             path, n, kMaxHeader);
  COIL_CHECK(n <= file_size - 8,
             "[read_safetensors] '{}': header length {} exceeds the file size "
             "{} - 8 (truncated?)",
             path, n, file_size);
  std::string text(n, '\0');
  read_exact(fd.get(), text.data(), n, 8, path);

  // Top-level keys are collected while parsing: a repeated name would otherwise silently win.
  std::set<std::string> seen;
  std::string duplicate;
  auto on_event = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    if (depth == 1 && ev == nlohmann::json::parse_event_t::key &&
        !seen.insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  nlohmann::json header = nlohmann::json::parse(text, on_event, /*allow_exceptions=*/false);
  COIL_CHECK(!header.is_discarded(), "[read_safetensors] '{}': header is not valid JSON", path);
  COIL_CHECK(header.is_object(), "[read_safetensors] '{}': header is JSON but not an object", path);
  COIL_CHECK(duplicate.empty(), "[read_safetensors] '{}': name '{}' appears twice in the header",
             path, duplicate);

  SafetensorsContents out;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      COIL_CHECK(value.is_object(), "[read_safetensors] '{}': __metadata__ is not an object", path);
      for (const auto& [k, v] : value.items()) {
        COIL_CHECK(v.is_string(),
                   "[read_safetensors] '{}': __metadata__ value of '{}' is not a "
                   "string",
                   path, k);
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(path, name, value));
  }

  // The ranges must tile [0, data size) exactly, in offset order.
  const uint64_t data_size = file_size - 8 - n;
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  const Entry* previous = nullptr;
  for (const auto& e : entries) {
    COIL_CHECK(e.begin >= expected,
               "[read_safetensors] '{}': tensor '{}' [{}, {}) overlaps tensor "
               "'{}' [{}, {})",
               path, e.name, e.begin, e.end, previous->name, previous->begin, previous->end);
    COIL_CHECK(e.begin == expected,
               "[read_safetensors] '{}': hole in the data area: bytes [{}, {}) "
               "before tensor '{}' belong to no tensor",
               path, expected, e.begin, e.name);
    COIL_CHECK(e.end <= data_size,
               "[read_safetensors] '{}': tensor '{}' data_offsets [{}, {}) run "
               "past the end of the data area ({} bytes; truncated?)",
               path, e.name, e.begin, e.end, data_size);
    expected = e.end;
    previous = &e;
  }
  COIL_CHECK(expected == data_size,
             "[read_safetensors] '{}': file size {} does not match the "
             "header: its tensors end at byte {}, leaving {} unexplained bytes",
             path, file_size, 8 + n + expected, data_size - expected);

  for (const auto& e : entries) {
    Tensor t = empty(e.shape, {e.dtype, Device::cpu()});
    read_exact(fd.get(), t.data_ptr(), e.end - e.begin, 8 + n + e.begin, path);
    if (e.dtype == DType::boolean) {  // any byte other than 0 or 1 is not a valid bool
      const uint8_t* b = static_cast<const uint8_t*>(t.data_ptr());
      COIL_CHECK(std::all_of(b, b + t.numel(), [](uint8_t x) { return x <= 1; }),
                 "[read_safetensors] '{}': BOOL tensor '{}' holds bytes other than 0 and 1", path,
                 e.name);
    }
    out.tensors.emplace(e.name, core::to(t, device));
  }
  return out;
}

}  // namespace coil
