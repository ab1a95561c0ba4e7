// TaskModel and the two-tower retrieval model. Masks are built here from the batch (padding is
// token 0 in the text tasks), so the datasets stay plain token sequences.
#include "train/task_model.h"

#include "autograd/autograd.h"
#include "core/factory.h"
#include "data/lra/lra.h"
#include "ops/elementwise/elementwise.h"
#include "ops/reduce/reduce.h"
#include "ops/shape/shape.h"
#include "train/setup.h"

namespace coil::train {
namespace {

// Mean of h (B, L, H) over the positions where mask (B, L) (floating, 1 = valid) is set.
Tensor masked_mean(const Tensor& h, const Tensor& mask) {
  Tensor m = to(mask, h.dtype());
  Tensor total = sum(mul(h, unsqueeze(m, 2)), {1});
  return div(total, clamp(sum(m, {1}, true), 1, 1e30));
}

nn::LayerFactory layer_factory(const std::string& layer) {
  for (const auto& e : nn::layer_table())
    if (layer == e.name) return e.make;
  return {};  // nn::validate has named the bad layer before this is reached
}

}  // namespace

RetrievalModel::RetrievalModel(const nn::ModelOptions& o, int64_t doc_len_)
    : Module("RetrievalModel"), doc_len(doc_len_) {
  nn::validate(o);
  backbone = register_module("backbone", std::make_shared<nn::Backbone>(o, layer_factory(o.layer)));
  struct Decoder : Module {
    Decoder() : Module("Decoder") {}
    void add(const std::string& name, std::shared_ptr<Module> m) { register_module(name, m); }
  };
  auto decoder = register_module("decoder", std::make_shared<Decoder>());
  fc1 = nn::make<nn::Linear>(4 * o.d_model, o.d_model);
  fc2 = nn::make<nn::Linear>(o.d_model, o.n_classes);
  decoder->add("0", fc1);  // torch.nn.Sequential(Linear, GELU, Linear) numbering
  decoder->add("2", fc2);
}

Tensor RetrievalModel::forward(const Tensor& input) {
  const int64_t B = input.size(0), L = input.size(1);
  COIL_CHECK(L > doc_len, "[retrieval] input must hold two documents (length > {}), got {}",
             doc_len, shape_str(input.shape()));
  Tensor doc1 = narrow(input, 1, 0, doc_len);
  Tensor doc2 = narrow(input, 1, doc_len, std::min(L - doc_len, doc_len));
  if (doc2.size(1) < doc_len) doc2 = pad(doc2, {0, doc_len - doc2.size(1)});
  Tensor docs = contiguous(cat({doc1, doc2}, 0));  // (2B, doc_len)
  Tensor zero = scalar_tensor(0, {docs.dtype(), docs.device()});
  Tensor pooled = masked_mean(backbone->forward(docs), ne(docs, zero));  // (2B, H)
  Tensor x1 = narrow(pooled, 0, 0, B), x2 = narrow(pooled, 0, B, B);
  Tensor features = cat({x1, x2, mul(x1, x2), sub(x1, x2)}, 1);
  return fc2->forward(gelu(fc1->forward(features)));
}

TaskModel::TaskModel(const Config& c, const data::Dataset& task) {
  nn::ModelOptions o = model_options(c, task);
  layer_ = o.layer;
  n_layer_ = o.n_layer;
  d_model_ = o.d_model;
  pixels_ = pixel_input(c);
  vocab_ = pixels_ ? 0 : o.vocab_size;
  outputs_ = o.head == "classify" ? o.n_classes : o.vocab_size;
  if (c.string("task.name") == "lra_retrieval") {
    retrieval_ = std::make_shared<RetrievalModel>(o, data::lra::kRetrievalLen);
    module_ = retrieval_;
  } else {
    model_ = nn::make_model(o);
    module_ = model_;
  }
  chunkable_ = o.head == "lm" && !o.s4.bidirectional;
}

Tensor TaskModel::reals(const Tensor& ids) const {
  // S4 normalises pixels to [-1, 1] before its Linear(1, H) encoder.
  Tensor x = to(ids, DType::f32);
  return unsqueeze(add(mul(x, 2.0 / 255.0), -1.0), 2);
}

Tensor TaskModel::forward(const data::Batch& batch) {
  if (retrieval_) return retrieval_->forward(batch.input);
  if (model_->options.head == "lm") return model_->forward(batch.input);
  return model_->forward(pixels_ ? reals(batch.input) : batch.input, batch.mask);
}

Tensor TaskModel::forward_chunk(const Tensor& input, nn::State& state) {
  COIL_CHECK(chunkable_, "[eval] {} has no causal recurrent form to evaluate in chunks",
             describe());
  NoGradGuard no_grad;
  return model_->forward(input, Tensor(), &state);
}

std::string TaskModel::describe() const {
  return fmt::format("{}{} x {}, d_model {}, {} parameters", retrieval_ ? "two-tower " : "", layer_,
                     n_layer_, d_model_, module_->num_parameters());
}

}  // namespace coil::train
