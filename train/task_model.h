// The network a config trains, fed straight from loader batches: an nn::Model with the head its
// task needs (per-position LM logits for the synthetic tasks; S4's pooled classifier for LRA,
// pixels entering through Linear(1, H)) or LRA retrieval's two-tower model. Also the chunked,
// state-carrying forward that length evaluation uses.
#pragma once
#include <memory>
#include <string>

#include "data/loader.h"
#include "nn/model.h"
#include "train/config.h"

namespace coil::train {

// LRA retrieval (AAN): both documents through one backbone (stacked along the batch, as S4
// does), each mean-pooled over its non-padding tokens, then [x1, x2, x1 * x2, x1 - x2] ->
// Linear(4H, H) -> GELU -> Linear(H, classes) (the Nystromformer/S4 retrieval head).
// Parameters: backbone.*, decoder.0.{weight,bias}, decoder.2.{weight,bias}.
class RetrievalModel : public nn::Module {
 public:
  RetrievalModel(const nn::ModelOptions& options, int64_t doc_len);
  // input (B, doc_len + L2) token ids: document 1 padded with 0 to doc_len, then document 2.
  Tensor forward(const Tensor& input);
  std::shared_ptr<nn::Backbone> backbone;
  std::shared_ptr<nn::Linear> fc1, fc2;
  int64_t doc_len;
};

class TaskModel {
 public:
  // Built on the CPU from the default generator (seed it first), for the config's task.
  TaskModel(const Config& config, const data::Dataset& task);
  // Parameters, state dict, train / eval and device moves of whichever network it is.
  nn::Module& module() { return *module_; }
  const nn::Module& module() const { return *module_; }
  // Logits scored against batch.target: (B, L, V) for the synthetic tasks, (B, classes) for LRA.
  Tensor forward(const data::Batch& batch);
  // True for causal per-position models (every synthetic-task model that is not bidirectional):
  // those can run a sequence in pieces through forward_chunk.
  bool chunkable() const { return chunkable_; }
  // input (B, l) token ids continuing the sequence whose recurrent state is `state` (empty: the
  // start); returns (B, l, V) logits and advances `state`. Inference only.
  Tensor forward_chunk(const Tensor& input, nn::State& state);
  // "mamba x 2, d_model 64, 28k parameters" for logs and errors.
  std::string describe() const;
  // Rows of the token embedding (0 for pixel input) and outputs of the head, for the check that
  // a checkpoint's model fits a task.
  int64_t vocab_size() const { return vocab_; }
  int64_t num_outputs() const { return outputs_; }

 private:
  Tensor reals(const Tensor& ids) const;  // pixels (B, L) -> (B, L, 1) in [-1, 1]
  std::shared_ptr<nn::Model> model_;
  std::shared_ptr<RetrievalModel> retrieval_;
  std::shared_ptr<nn::Module> module_;
  bool pixels_ = false, chunkable_ = false;
  int64_t vocab_ = 0, outputs_ = 0;
  std::string layer_;
  int64_t n_layer_ = 0, d_model_ = 0;
};

}  // namespace coil::train
