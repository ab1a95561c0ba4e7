// safetensors: round trips of every dtype, a file built byte by byte from the format's spec, every
// kind of corruption refused with a message naming the file, atomic replacement, and (where
// python3 has torch and safetensors) files exchanged with the reference implementation.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/safetensors.h"
#include "tests/support/checks.h"

using namespace coil;
using namespace coil::testing;
namespace fs = std::filesystem;

namespace {

// A fresh directory per test, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() / fmt::format("coil_safetensors_{}_{}", ::getpid(), counter++);
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// The values the interop script also uses: element i of the tensor of each dtype.
double pattern(DType dt, int64_t i) {
  switch (dt) {
    case DType::f32:
      return double(i) * 0.25 - 1.0;
    case DType::f64:
      return double(i) / 3.0;
    case DType::bf16:
      return double(i) * 0.5 - 1.0;
    case DType::i32:
      return double(i) * 1000.0 - 2500.0;
    case DType::i64:
      return double(i) * 1099511627776.0 - 3.0;  // i * 2^40 - 3
    case DType::u8:
      return double(i * 50);
    case DType::boolean:
      return double(i % 2);
  }
  return NAN;
}

const DType kAllDTypes[] = {DType::f32, DType::f64, DType::bf16,   DType::i32,
                            DType::i64, DType::u8,  DType::boolean};

template <class T>
void fill_pattern(const Tensor& t, bool reversed) {
  T* p = t.data<T>();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    double v = pattern(t.dtype(), reversed ? n - 1 - i : i);
    if constexpr (std::is_same_v<T, bf16>) p[i] = bf16(float(v));
    else p[i] = T(v);
  }
}

Tensor patterned(DType dt, const Shape& shape, bool reversed = false) {
  Tensor t = empty(shape, {dt, Device::cpu()});
  switch (dt) {
    case DType::f32:
      fill_pattern<float>(t, reversed);
      break;
    case DType::f64:
      fill_pattern<double>(t, reversed);
      break;
    case DType::bf16:
      fill_pattern<bf16>(t, reversed);
      break;
    case DType::i32:
      fill_pattern<int32_t>(t, reversed);
      break;
    case DType::i64:
      fill_pattern<int64_t>(t, reversed);
      break;
    case DType::u8:
      fill_pattern<uint8_t>(t, reversed);
      break;
    case DType::boolean:
      fill_pattern<bool>(t, reversed);
      break;
  }
  return t;
}

std::vector<double> expected_pattern(DType dt, int64_t n, bool reversed = false) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(pattern(dt, reversed ? n - 1 - i : i));
  return v;
}

std::string lower_name(DType dt) {
  std::string s(safetensors_dtype_name(dt));
  for (auto& c : s) c = char(std::tolower(c));
  return s;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return s;
}

// A file from its parts: header length (the true one unless overridden), header text, data.
std::string raw_file(const std::string& header, const std::string& data,
                     int64_t length_override = -1) {
  uint64_t n = length_override >= 0 ? uint64_t(length_override) : header.size();
  return le64(n) + header + data;
}

std::string read_error(const std::string& path) {
  return error_of([&] { read_safetensors(path); });
}

}  // namespace

TEST_CASE("safetensors round trip keeps every dtype, shape and value, and the metadata") {
  TempDir dir;
  TensorDict in;
  for (DType dt : kAllDTypes) in["t_" + lower_name(dt)] = patterned(dt, {2, 3});
  in["scalar"] = patterned(DType::f64, {});
  in["empty"] = empty({0, 3});
  in["layers.0.mixer.A_log"] = patterned(DType::f32, {5, 1, 7});
  // A non-contiguous view is stored as its logical (row-major) values.
  in["transposed"] = core::transpose(patterned(DType::f32, {3, 4}), 0, 1);
  StringDict meta{{"step", "1200"}, {"note", "with \"quotes\" and \xc3\xa9"}};
  const std::string path = dir.file("round.safetensors");
  write_safetensors(path, in, meta);

  SafetensorsContents out = read_safetensors(path);
  CHECK(out.metadata == meta);
  REQUIRE(out.tensors.size() == in.size());
  for (const auto& [name, t] : in) {
    INFO(name);
    REQUIRE(out.tensors.count(name) == 1);
    const Tensor& r = out.tensors.at(name);
    CHECK(r.dtype() == t.dtype());
    CHECK(r.shape() == t.shape());
    CHECK(r.device().is_cpu());
    check_equal(r, read_all(t), name);
  }
  check_equal(out.tensors.at("t_i64"), expected_pattern(DType::i64, 6), "i64 beyond 32 bits");
  check_equal(out.tensors.at("t_bool"), expected_pattern(DType::boolean, 6), "bool");
}

TEST_CASE("safetensors writer follows the spec: 8-aligned header, offsets that tile the data") {
  TempDir dir;
  const std::string path = dir.file("layout.safetensors");
  write_safetensors(path,
                    {{"b_u8", patterned(DType::u8, {3})},
                     {"a_f64", patterned(DType::f64, {2})},
                     {"c_f32", patterned(DType::f32, {1})}},
                    {{"k", "v"}});
  // Parsed here with nlohmann directly, independently of the reader.
  std::string bytes = read_bytes(path);
  REQUIRE(bytes.size() >= 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[size_t(i)]);
  CHECK(n % 8 == 0);
  REQUIRE(8 + n <= bytes.size());
  auto header = nlohmann::json::parse(bytes.substr(8, n));
  CHECK(header["__metadata__"]["k"] == "v");
  CHECK(header["a_f64"]["dtype"] == "F64");
  CHECK(header["a_f64"]["shape"] == nlohmann::json::array({2}));
  // Largest item size first, so every tensor is aligned to its own item size.
  CHECK(header["a_f64"]["data_offsets"] == nlohmann::json::array({0, 16}));
  CHECK(header["c_f32"]["data_offsets"] == nlohmann::json::array({16, 20}));
  CHECK(header["b_u8"]["data_offsets"] == nlohmann::json::array({20, 23}));
  CHECK(bytes.size() == 8 + n + 23);
  double first;
  std::memcpy(&first, bytes.data() + 8 + n + 8, 8);
  CHECK(first == pattern(DType::f64, 1));
}

TEST_CASE("safetensors reader reads a file built byte by byte from the spec") {
  TempDir dir;
  // Unpadded header, keys out of offset order, metadata first.
  std::string header = R"({"__metadata__":{"format":"pt"},)"
                       R"("b":{"dtype":"I64","shape":[1,1],"data_offsets":[8,16]},)"
                       R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("c":{"dtype":"BF16","shape":[],"data_offsets":[16,18]},)"
                       R"("d":{"dtype":"BOOL","shape":[3],"data_offsets":[18,21]},)"
                       R"("e":{"dtype":"I32","shape":[0,4],"data_offsets":[21,21]}})";
  std::string data;
  data += std::string("\x00\x00\xc0\x3f", 4);                  // 1.5f
  data += std::string("\x00\x00\x00\xc0", 4);                  // -2.0f
  data += std::string("\xfb\xff\xff\xff\xff\xff\xff\xff", 8);  // int64 -5
  data += std::string("\x80\x3f", 2);                          // bf16 1.0
  data += std::string("\x01\x00\x01", 3);                      // true, false, true
  const std::string path = dir.file("spec.safetensors");
  write_bytes(path, raw_file(header, data));

  SafetensorsContents c = read_safetensors(path);
  CHECK(c.metadata == StringDict{{"format", "pt"}});
  REQUIRE(c.tensors.size() == 5);
  CHECK(c.tensors.at("a").dtype() == DType::f32);
  check_equal(c.tensors.at("a"), {1.5, -2.0}, "a");
  CHECK(c.tensors.at("b").shape() == Shape{1, 1});
  check_equal(c.tensors.at("b"), {-5.0}, "b");
  CHECK(c.tensors.at("c").dim() == 0);
  check_equal(c.tensors.at("c"), {1.0}, "c");
  check_equal(c.tensors.at("d"), {1.0, 0.0, 1.0}, "d");
  CHECK(c.tensors.at("e").shape() == Shape{0, 4});
}

TEST_CASE("safetensors reader refuses each kind of corruption, naming the file and the problem") {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  auto expect = [&](const std::string& bytes, const std::string& part) {
    write_bytes(path, bytes);
    std::string msg = read_error(path);
    INFO("expected '" << part << "', got: " << msg);
    CHECK(contains(msg, part));
    CHECK(contains(msg, path));
  };
  const std::string f32x2 = R"("dtype":"F32","shape":[2])";
  const std::string eight(8, '\x01');

  SUBCASE("truncated files") {
    const std::string good = dir.file("good.safetensors");
    write_safetensors(good, {{"w", patterned(DType::f32, {4, 4})}});
    std::string bytes = read_bytes(good);
    expect(bytes.substr(0, bytes.size() - 1), "run past the end of the data area");
    expect(bytes.substr(0, 5), "less than the 8-byte header length");
    expect(bytes.substr(0, 20), "exceeds the file size");
  }
  SUBCASE("bad header length") {
    expect(raw_file("{}", "", int64_t(1) << 40), "exceeds the limit");
    expect(raw_file("{}", "", 3), "exceeds the file size");
    expect(raw_file("{}  ", "", 2), "file size 12 does not match");  // 2 stray bytes
  }
  SUBCASE("bad JSON") {
    expect(raw_file(R"({"a": {"dtype": )", ""), "not valid JSON");
    expect(raw_file("[1, 2]", ""), "not an object");
    expect(raw_file(R"({"a": 3})", ""), "not a JSON object");
    expect(raw_file(R"({"a":{"dtype":"F32","shape":[2]}})", eight), "missing \"data_offsets\"");
    expect(raw_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight),
           "negative");
    expect(raw_file(R"({"a":{)" + f32x2 + R"(,"data_offsets":[0]}})", eight), "[begin, end]");
    expect(raw_file(R"({"__metadata__":{"k":1}})", ""), "is not a string");
  }
  SUBCASE("offsets past the end") {
    expect(raw_file(R"({"a":{)" + f32x2 + R"(,"data_offsets":[0,8]}})", "\x01\x02\x03\x04"),
           "run past the end");
    expect(raw_file(R"({"a":{)" + f32x2 + R"(,"data_offsets":[4,12]}})", eight), "hole");
  }
  SUBCASE("overlapping and gapped ranges") {
    expect(raw_file(R"({"a":{)" + f32x2 + R"(,"data_offsets":[0,8]},"b":{)" + f32x2 +
                        R"(,"data_offsets":[4,12]}})",
                    eight + "\x01\x01\x01\x01"),
           "overlaps");
    expect(raw_file(R"({"a":{)" + f32x2 + R"(,"data_offsets":[0,8]},"b":{)" + f32x2 +
                        R"(,"data_offsets":[0,8]}})",
                    eight),
           "overlaps");
    expect(raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                    R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                    eight + "\x01\x01\x01\x01"),
           "hole in the data area: bytes [4, 8)");
    expect(raw_file(R"({"a":{)" + f32x2 + R"(,"data_offsets":[0,8]}})", eight + "xx"),
           "2 unexplained bytes");
  }
  SUBCASE("unknown dtype, size mismatch, duplicate names, invalid bools") {
    expect(raw_file(R"({"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})", eight),
           "unknown dtype \"F16\"");
    expect(raw_file(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", eight),
           "hold 8 bytes but F64 (2,) needs 16");
    expect(raw_file(R"({"a":{)" + f32x2 + R"(,"data_offsets":[0,8]},"a":{)" + f32x2 +
                        R"(,"data_offsets":[8,16]}})",
                    eight + eight),
           "name 'a' appears twice");
    expect(raw_file(R"({"a":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", "\x01\x02"),
           "bytes other than 0 and 1");
    expect(raw_file(R"({"a":{"dtype":"U8","shape":[4611686018427387904,8],)"
                    R"("data_offsets":[0,8]}})",
                    eight),
           "too large");
  }
  SUBCASE("missing file") {
    std::string missing = dir.file("nope.safetensors");
    CHECK(contains(read_error(missing), "cannot open '" + missing + "'"));
  }
}

TEST_CASE("safetensors write replaces a file atomically and leaves it intact on failure") {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  write_safetensors(path, {{"w", patterned(DType::f32, {3})}});
  write_safetensors(path, {{"w", patterned(DType::f32, {3}, /*reversed=*/true)}});
  check_equal(read_safetensors(path).tensors.at("w"), expected_pattern(DType::f32, 3, true),
              "second write replaced the first");

  std::string msg = error_of([&] { write_safetensors(path, {{"w", Tensor()}}); });
  CHECK(contains(msg, "tensor 'w' is undefined"));
  msg = error_of([&] { write_safetensors(path, {{"__metadata__", patterned(DType::f32, {1})}}); });
  CHECK(contains(msg, "invalid tensor name"));
  check_equal(read_safetensors(path).tensors.at("w"), expected_pattern(DType::f32, 3, true),
              "failed writes left the file as it was");
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
  CHECK(files == 1);  // no temporary file left behind

  std::string no_dir = dir.file("missing_dir/x.safetensors");
  msg = error_of([&] { write_safetensors(no_dir, {{"w", patterned(DType::f32, {1})}}); });
  CHECK(contains(msg, "cannot create '" + no_dir));
}

// The reference implementation (Python safetensors + torch) reads coil's file and writes one for
// coil; skipped where python3 lacks them (the GPU machine has both).
TEST_CASE("safetensors files interoperate with the Python safetensors package") {
  if (std::system("python3 -c 'import safetensors, torch' > /dev/null 2>&1") != 0) {
    MESSAGE("skipped: python3 with safetensors and torch is not available");
    return;
  }
  TempDir dir;
  TensorDict in;
  for (DType dt : kAllDTypes) in[lower_name(dt)] = patterned(dt, {2, 3});
  in["scalar"] = patterned(DType::f32, {});
  write_safetensors(dir.file("coil_written.safetensors"), in, {{"writer", "coil"}});

  fs::path script = fs::path(__FILE__).parent_path().parent_path() / "tools/safetensors_interop.py";
  std::string cmd = fmt::format("python3 '{}' '{}'", script.string(), dir.path.string());
  REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, cmd);

  SafetensorsContents c = read_safetensors(dir.file("torch_written.safetensors"));
  CHECK(c.metadata.at("writer") == "torch");
  for (DType dt : kAllDTypes) {
    INFO(lower_name(dt));
    const Tensor& t = c.tensors.at(lower_name(dt));
    CHECK(t.dtype() == dt);
    CHECK(t.shape() == Shape{3, 2});
    check_equal(t, expected_pattern(dt, 6, /*reversed=*/true), lower_name(dt));
  }
}
