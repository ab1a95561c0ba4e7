// Config -> task, model and optimizer settings. Every key of the schema is read here or by the
// trainer; nothing else interprets config values.
#include "train/setup.h"

#include <map>

namespace coil::train {

data::TaskOptions task_options(const Config& c, bool heldout, int64_t seq_len) {
  data::TaskOptions o;
  o.name = c.string("task.name");
  o.seq_len = seq_len > 0 ? seq_len : c.integer("task.seq_len");
  o.vocab = c.integer("task.vocab");
  // The data stream's key is derived from the run seed; the held-out split has its own key.
  uint64_t seed = uint64_t(c.integer("train.seed")) * 0x100000001B3ull + 0xDA7A;
  o.seed = heldout ? data::heldout_seed(seed) : seed;
  o.num_tokens = c.integer("task.num_tokens");
  // Held-out induction heads are scored on the final token, whatever the training loss.
  o.loss = heldout ? "final" : c.string("task.loss");
  o.num_pairs = c.integer("task.num_pairs");
  o.power_a = c.number("task.power_a");
  o.random_non_queries = c.boolean("task.random_non_queries");
  return o;
}

nn::ModelOptions model_options(const Config& c, int64_t vocab_size) {
  nn::ModelOptions o;
  o.layer = c.string("model.layer");
  o.d_model = c.integer("model.d_model");
  o.n_layer = c.integer("model.n_layer");
  o.vocab_size = vocab_size;
  o.norm = c.string("model.norm");
  o.prenorm = c.boolean("model.prenorm");
  o.dropout = c.number("model.dropout");
  o.head = "lm";  // per-position logits; the targets say which positions count
  o.tie_embeddings = c.boolean("model.tie_embeddings");
  o.s4.d_state = c.integer("model.d_state");
  o.s4.init = c.string("model.init");
  o.s4.disc = c.string("model.disc");
  o.s4.dt_min = c.number("model.dt_min");
  o.s4.dt_max = c.number("model.dt_max");
  o.s4.lr = c.number("model.ssm_lr");
  o.s6.d_state = c.integer("model.d_state");
  o.s6.dt_rank = c.integer("model.dt_rank");
  o.s6.dt_min = c.number("model.dt_min");
  o.s6.dt_max = c.number("model.dt_max");
  o.mamba.expand = c.integer("model.expand");
  o.mamba.d_conv = c.integer("model.d_conv");
  o.mamba.ssm = c.string("model.ssm");
  return o;
}

std::vector<optim::ParamGroup> param_groups(const nn::Module& model, double weight_decay) {
  std::vector<optim::ParamGroup> groups;
  std::map<std::pair<double, bool>, size_t> index;  // (own lr or -1, decays) -> group
  for (const nn::NamedParameter& p : model.named_parameters()) {
    auto key = std::make_pair(p.hints.lr.value_or(-1.0), p.hints.weight_decay);
    auto [it, fresh] = index.emplace(key, groups.size());
    if (fresh) {
      optim::ParamGroup g;
      g.lr = p.hints.lr;
      g.weight_decay = p.hints.weight_decay ? weight_decay : 0.0;
      groups.push_back(std::move(g));
    }
    groups[it->second].params.push_back(p.tensor);
    groups[it->second].names.push_back(p.name);
  }
  return groups;
}

optim::Algorithm algorithm(const Config& c) { return optim::parse_algorithm(c.string("optim.name")); }

optim::Hyper hyper(const Config& c) {
  optim::Hyper h;
  h.lr = c.number("optim.lr");
  h.weight_decay = c.number("optim.weight_decay");
  h.beta1 = c.number("optim.beta1");
  h.beta2 = c.number("optim.beta2");
  h.eps = c.number("optim.eps");
  h.momentum = c.number("optim.momentum");
  return h;
}

optim::Schedule schedule(const Config& c) {
  optim::Schedule s;
  s.kind = optim::parse_schedule_kind(c.string("optim.schedule"));
  s.warmup_steps = c.integer("optim.warmup_steps");
  s.total_steps = c.integer("train.steps");
  s.min_factor = c.number("optim.min_lr") / c.number("optim.lr");
  return s;
}

}  // namespace coil::train
