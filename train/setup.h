// From a Config to the objects a run needs: the task datasets, nn::ModelOptions, optimizer
// parameter groups (from the modules' hints), hyperparameters and the schedule.
#pragma once
#include <memory>
#include <vector>

#include "data/synthetic.h"
#include "nn/model.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "train/config.h"

namespace coil::train {

// The task's options; seq_len overrides task.seq_len when positive (length evaluation).
data::TaskOptions task_options(const Config& c, bool heldout, int64_t seq_len = 0);
nn::ModelOptions model_options(const Config& c, int64_t vocab_size);
// One group per distinct (own lr, weight decay) among the parameters' hints, parameters named
// as in the model's state dict, in registration order.
std::vector<optim::ParamGroup> param_groups(const nn::Module& model, double weight_decay);
optim::Algorithm algorithm(const Config& c);
optim::Hyper hyper(const Config& c);
optim::Schedule schedule(const Config& c);

}  // namespace coil::train
