// Readers of the released ListOps, IMDB, AAN and CIFAR-10 layouts (lra.h has the table).
#include "data/lra/readers.h"

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "core/error.h"
#include "data/lra/lra.h"
#include "data/lra/read_util.h"
#include "data/lra/stored.h"

namespace fs = std::filesystem;

namespace coil::data::lra {
namespace {

bool parse_int(std::string_view s, int64_t& v) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size();
}

// "1", "0", "1.0", "0.0" (the AAN release writes floats); false for anything else.
bool parse_label(std::string_view s, int64_t& v) {
  if (s.size() > 2 && s.substr(s.size() - 2) == ".0") s.remove_suffix(2);
  return parse_int(s, v);
}

std::string dataset_name(const LraOptions& o) { return fmt::format("lra {} {}", o.task, o.split); }

}  // namespace

int32_t listops_token(std::string_view w) {
  if (w.size() == 1 && w[0] >= '0' && w[0] <= '9') return kListOpsDigit0 + (w[0] - '0');
  if (w == "[MIN") return kListOpsMin;
  if (w == "[MAX") return kListOpsMax;
  if (w == "[MED") return kListOpsMed;
  if (w == "[SM") return kListOpsSm;
  if (w == "]") return kListOpsEnd;
  return -1;
}

std::string listops_source(const std::vector<int32_t>& tokens) {
  // Pass 1: the argument count of every operator (the stack holds open operators' positions).
  std::vector<int> args(tokens.size(), 0);
  std::vector<size_t> open;
  for (size_t k = 0; k < tokens.size(); ++k) {
    int32_t t = tokens[k];
    COIL_CHECK(t >= kListOpsDigit0 && t < kListOpsVocab, "[lra listops] token {} is not ListOps",
               t);
    if (t == kListOpsEnd) {
      COIL_CHECK(!open.empty(), "[lra listops] \"]\" at {} closes nothing", k);
      open.pop_back();
    }
    if (!open.empty() && t != kListOpsEnd) ++args[open.back()];
    if (t >= kListOpsMin && t <= kListOpsSm) open.push_back(k);
  }
  COIL_CHECK(open.empty(), "[lra listops] {} operators are not closed", open.size());
  static const char* kNames[] = {"[MIN", "[MAX", "[MED", "[SM"};
  // Pass 2: an operator with n arguments opens n + 1 pairs; each argument and "]" closes one.
  std::string s;
  open.clear();
  for (size_t k = 0; k < tokens.size(); ++k) {
    int32_t t = tokens[k];
    if (!s.empty()) s += ' ';
    if (t >= kListOpsMin && t <= kListOpsSm) {
      for (int p = 0; p <= args[k]; ++p) s += "( ";
      s += kNames[t - kListOpsMin];
      open.push_back(k);
      continue;
    }
    s += t == kListOpsEnd ? "] )" : std::string(1, char('0' + t - kListOpsDigit0));
    if (t == kListOpsEnd) open.pop_back();
    // An argument that just ended (a digit, or a whole nested operator) closes its pair.
    if (!open.empty()) s += " )";
  }
  return s;
}

std::shared_ptr<Dataset> read_listops(const LraOptions& o, BadInputLog& log) {
  const std::string layout = "basic_{train,val,test}.tsv with the header Source<TAB>Target";
  require_path(o.root, true, o.task, layout);
  fs::path file = fs::path(o.root) / fmt::format("basic_{}.tsv", o.split);
  require_path(file, false, o.task, layout);
  std::string text;
  COIL_CHECK(read_file(file, text), "[lra listops] cannot read {}", file.string());
  auto data = std::make_shared<StoredDataset>(dataset_name(o), kListOpsVocab, 10, 0);
  auto lines = split_lines(text);
  std::string tokens;
  for (size_t n = 0; n < lines.size(); ++n) {
    std::string_view line = lines[n];
    if (n == 0 && line == "Source\tTarget") continue;
    if (n == 0) {
      log.bad(file.string(), 1, "expected the header Source<TAB>Target");
      continue;
    }
    if (line.empty()) continue;
    auto fields = split(line, '\t');
    if (fields.size() != 2) {
      log.bad(file.string(), int64_t(n + 1),
              fmt::format("malformed line: expected Source<TAB>Target, found {} field{}",
                          fields.size(), fields.size() == 1 ? "" : "s"));
      continue;
    }
    tokens.clear();
    std::string bad;
    std::string_view source = fields[0];
    for (size_t at = 0; at < source.size();) {  // words separated by spaces, read in place
      size_t end = std::min(source.find(' ', at), source.size());
      std::string_view w = source.substr(at, end - at);
      at = end + 1;
      if (w.empty() || w == "(" || w == ")") continue;  // the S4 tokeniser drops parentheses
      int32_t t = listops_token(w);
      if (t < 0) {
        bad = fmt::format("malformed line: unknown token \"{}\"", w);
        break;
      }
      tokens.push_back(char(t));
    }
    if (bad.empty() && tokens.empty()) bad = "malformed line: empty Source";
    int64_t label = 0;
    if (bad.empty() && !parse_int(fields[1], label))
      bad = fmt::format("malformed line: Target \"{}\" is not an integer", fields[1]);
    if (bad.empty() && (label < 0 || label > 9))
      bad = fmt::format("label {} outside the classes 0..9", label);
    if (!bad.empty()) {
      log.bad(file.string(), int64_t(n + 1), bad);
      continue;
    }
    data->add(tokens, int32_t(label));
  }
  return data;
}

std::shared_ptr<Dataset> read_imdb(const LraOptions& o, BadInputLog& log) {
  const std::string layout = "aclImdb: {train,test}/{pos,neg}/*.txt";
  require_path(o.root, true, o.task, layout);
  // LRA evaluates IMDB on its test half; val and test both read test/.
  fs::path dir = fs::path(o.root) / (o.split == "train" ? "train" : "test");
  auto data = std::make_shared<StoredDataset>(dataset_name(o), 257, 2, 1);
  std::string text;
  for (int label : {0, 1}) {
    fs::path sub = dir / (label == 1 ? "pos" : "neg");
    require_path(sub, true, o.task, layout);
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(sub))
      if (entry.path().extension() == ".txt") files.push_back(entry.path());
    std::sort(files.begin(), files.end());  // directory order differs between file systems
    for (const auto& f : files) {
      if (!read_file(f, text)) {
        log.bad(f.string(), 0, "cannot read the file");
        continue;
      }
      // Bytes, whatever their encoding: invalid UTF-8 is data, not an error.
      data->add(std::string_view(text).substr(0, kTextLen), label);
    }
  }
  return data;
}

std::shared_ptr<Dataset> read_aan(const LraOptions& o, BadInputLog& log) {
  const std::string layout =
      "new_aan_pairs.{train,eval,test}.tsv, lines label<TAB>id1<TAB>id2<TAB>text1<TAB>text2";
  require_path(o.root, true, o.task, layout);
  const char* part = o.split == "val" ? "eval" : o.split.c_str();
  fs::path file = fs::path(o.root) / fmt::format("new_aan_pairs.{}.tsv", part);
  require_path(file, false, o.task, layout);
  std::string text;
  COIL_CHECK(read_file(file, text), "[lra retrieval] cannot read {}", file.string());
  auto data = std::make_shared<StoredDataset>(dataset_name(o), 257, 2, 1, kRetrievalLen);
  auto lines = split_lines(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    if (lines[n].empty()) continue;
    auto f = split(lines[n], '\t');
    int64_t label = 0;
    std::string bad;
    if (f.size() != 5)
      bad = fmt::format("malformed line: expected label, id1, id2, text1, text2, found {} field{}",
                        f.size(), f.size() == 1 ? "" : "s");
    else if (!parse_label(f[0], label))
      bad = fmt::format("malformed line: label \"{}\" is not a number", f[0]);
    else if (label < 0 || label > 1) bad = fmt::format("label {} outside the classes 0..1", f[0]);
    if (!bad.empty()) {
      log.bad(file.string(), int64_t(n + 1), bad);
      continue;
    }
    data->add(f[3].substr(0, kRetrievalLen), f[4].substr(0, kRetrievalLen), int32_t(label));
  }
  return data;
}

std::shared_ptr<Dataset> read_cifar(const LraOptions& o, BadInputLog& log) {
  const std::string layout =
      "cifar-10-batches-bin: data_batch_{1..5}.bin and test_batch.bin (3073-byte records)";
  require_path(o.root, true, o.task, layout);
  constexpr int64_t kRecord = 3073, kTrain = 45000;  // 45k/5k split of the 50k training images
  std::vector<std::string> names;
  if (o.split == "test") names = {"test_batch.bin"};
  else
    for (int b = 1; b <= 5; ++b) names.push_back(fmt::format("data_batch_{}.bin", b));
  auto data = std::make_shared<StoredDataset>(dataset_name(o), 256, 10, 0);
  std::string bytes, gray(1024, '\0');
  int64_t index = 0;  // record number over all the split's files: it decides train vs val
  for (const auto& name : names) {
    fs::path file = fs::path(o.root) / name;
    require_path(file, false, o.task, layout);
    COIL_CHECK(read_file(file, bytes), "[lra image] cannot read {}", file.string());
    int64_t records = (int64_t(bytes.size()) + kRecord - 1) / kRecord;
    for (int64_t r = 0; r < records; ++r, ++index) {
      bool keep = o.split == "test" || (o.split == "train") == (index < kTrain);
      if (!keep) continue;
      if ((r + 1) * kRecord > int64_t(bytes.size())) {
        log.bad(file.string(), 0,
                fmt::format("record {} is truncated ({} of {} bytes)", r + 1,
                            int64_t(bytes.size()) - r * kRecord, kRecord));
        continue;
      }
      const auto* rec = reinterpret_cast<const uint8_t*>(bytes.data() + r * kRecord);
      if (rec[0] > 9) {
        log.bad(file.string(), 0,
                fmt::format("record {}: label {} outside the classes 0..9", r + 1, rec[0]));
        continue;
      }
      // PIL's convert("L") (torchvision's Grayscale on images): ITU-R 601-2 luma, fixed point.
      for (int p = 0; p < 1024; ++p)
        gray[p] = char(
            (rec[1 + p] * 19595 + rec[1025 + p] * 38470 + rec[2049 + p] * 7471 + 0x8000) >> 16);
      data->add(gray, rec[0]);
    }
  }
  return data;
}

}  // namespace coil::data::lra
