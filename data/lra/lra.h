// Long Range Arena readers: each task's released on-disk layout (../shared/REFERENCE.md section
// 10) as a Dataset for the loader. The root is the directory of one task's files; a missing
// directory or file says which layout is expected where.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "data/dataset.h"
#include "data/lra/bad_input.h"

namespace coil::data::lra {

// task      root holds (released layout)                       tokens            classes
// listops   basic_{train,val,test}.tsv (Source\tTarget)        kListOps* (16)    10
// text      aclImdb: {train,test}/{pos,neg}/*.txt              byte + 1 (257)    2
// retrieval new_aan_pairs.{train,eval,test}.tsv                byte + 1 (257)    2
// image     cifar-10-batches-bin: data_batch_{1..5}.bin,       gray pixel (256)  10
//           test_batch.bin
// pathfinder / pathx: imgs/k/sample_i.png + metadata/k.npy     gray pixel (256)  2
// Token 0 is padding in the text tasks (bytes are shifted by one); images never need padding.
struct LraOptions {
  std::string task = "listops";
  std::string root;
  std::string split = "train";  // train | val | test
  OnBadInput on_bad_input = OnBadInput::stop;
};

// Reads the split (the whole split is validated here, so training never meets a bad record).
// With on_bad_input=skip, prints the skipped-records summary to stderr at the end and stores
// the count in *skipped when given.
std::shared_ptr<Dataset> make_lra_dataset(const LraOptions& options, int64_t* skipped = nullptr);

// ---- ListOps tokens. 0 is padding; digits d -> 1 + d.
enum ListOpsToken : int32_t {
  kListOpsPad = 0,
  kListOpsDigit0 = 1,
  kListOpsMin = 11,
  kListOpsMax = 12,
  kListOpsMed = 13,
  kListOpsSm = 14,
  kListOpsEnd = 15,
  kListOpsVocab = 16
};
// "[MIN" -> kListOpsMin, "7" -> 8, "]" -> kListOpsEnd; -1 for anything else.
int32_t listops_token(std::string_view word);
// The released Source form of a token sequence (every (operator-or-partial, argument) pair in
// "( ... )"), e.g. [MAX 2 9 ] -> "( ( ( [MAX 2 ) 9 ) ] )". Throws on an unbalanced sequence.
std::string listops_source(const std::vector<int32_t>& tokens);

// ---- Pathfinder split of a released directory: example g (metadata files in numeric order,
// lines in order) is val when g % 10 == 8, test when g % 10 == 9, else train (80/10/10).
int pathfinder_split_of(int64_t g);

// Lengths of the byte-level tasks (LRA's truncation).
constexpr int64_t kTextLen = 4096;
constexpr int64_t kRetrievalLen = 4000;  // per document; the input is doc1 (padded) + doc2

}  // namespace coil::data::lra
