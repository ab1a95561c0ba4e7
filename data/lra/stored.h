// The in-memory dataset every LRA reader fills: bytes per example (token = byte + offset) and a
// label, optionally two documents per example (the retrieval task's two-tower input).
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/dataset.h"

namespace coil::data::lra {

class StoredDataset : public Dataset {
 public:
  // first_len > 0: examples hold two documents, the first padded with token 0 to first_len.
  StoredDataset(std::string name, int64_t vocab, int64_t classes, int32_t token_offset,
                int64_t first_len = 0)
      : name_(std::move(name)),
        vocab_(vocab),
        classes_(classes),
        offset_(token_offset),
        first_len_(first_len) {}

  void add(std::string_view bytes, int32_t label) { add(bytes, {}, label); }
  void add(std::string_view first, std::string_view second, int32_t label) {
    starts_.push_back(int64_t(bytes_.size()));
    bytes_.append(first);
    seconds_.push_back(int64_t(bytes_.size()));
    bytes_.append(second);
    labels_.push_back(label);
    int64_t len = first_len_ > 0 ? first_len_ + int64_t(second.size()) : int64_t(first.size());
    max_len_ = std::max(max_len_, len);
  }

  int64_t size() const override { return int64_t(labels_.size()); }
  void get(int64_t i, Example& out) const override {
    int64_t a = starts_[i], b = seconds_[i];
    int64_t end = i + 1 < size() ? starts_[i + 1] : int64_t(bytes_.size());
    out.input.clear();
    for (int64_t k = a; k < b; ++k) out.input.push_back(int32_t(uint8_t(bytes_[k])) + offset_);
    if (first_len_ > 0) out.input.resize(first_len_, 0);
    for (int64_t k = b; k < end; ++k) out.input.push_back(int32_t(uint8_t(bytes_[k])) + offset_);
    out.target.assign(1, labels_[i]);
  }
  int64_t vocab_size() const override { return vocab_; }
  int64_t num_classes() const override { return classes_; }
  int64_t max_len() const override { return max_len_; }
  std::string name() const override { return name_; }

 private:
  std::string name_;
  int64_t vocab_, classes_;
  int32_t offset_;
  int64_t first_len_;
  std::string bytes_;
  std::vector<int64_t> starts_, seconds_;
  std::vector<int32_t> labels_;
  int64_t max_len_ = 0;
};

}  // namespace coil::data::lra
