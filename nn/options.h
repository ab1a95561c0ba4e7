// Plain options structs for every model coil builds (train/ maps YAML keys onto these fields).
// Strings name choices; nn/model.cpp checks them and lists the allowed values on a bad one.
#pragma once
#include <cstdint>
#include <string>

namespace coil::nn {

// The S4 / S4D convolution layer (REFERENCE.md sections 2-6).
struct S4Options {
  int64_t d_state = 64;                 // N (S4D, S4: N/2 complex modes, so N must be even)
  std::string init = "legs";            // S4: legs | legt | fout;  S4D: lin | inv | real | legs
  std::string disc = "zoh";             // S4D: zoh | bilinear (S4 is always bilinear)
  double dt_min = 1e-3, dt_max = 1e-1;  // log dt ~ U[log dt_min, log dt_max] per channel
  bool bidirectional = false;
  double lr = 1e-3;  // own learning rate of dt, A, B, P (no weight decay on them)
  int64_t l_max = 0;  // S4 step mode: the length whose kernel stepping reproduces (0: none)
};

// The selective SSM of Mamba (REFERENCE.md sections 7-8).
struct S6Options {
  int64_t d_state = 16;
  int64_t dt_rank = 0;  // 0: ceil(channels / 16) as mamba_simple's "auto"
  double dt_min = 1e-3, dt_max = 1e-1, dt_init_floor = 1e-4;
};

// The Mamba block (mamba_simple). The inner SSM: s6 (selective, default), s4d or s4 (LTI, with
// the S4Options of the model).
struct MambaOptions {
  int64_t expand = 2;
  int64_t d_conv = 4;
  bool conv_bias = true;
  bool bias = false;       // in_proj / out_proj biases
  std::string ssm = "s6";  // s6 | s4d | s4
};

struct ModelOptions {
  std::string layer = "mamba";  // mamba | s6 | s4 | s4d  (the table in nn/model.cpp)
  int64_t d_model = 64;
  int64_t n_layer = 2;
  // Encoder: "embedding" (token ids (B, L) -> (B, L, H)) or "linear" (reals (B, L, d_input)).
  std::string encoder = "embedding";
  int64_t vocab_size = 16;  // embedding rows and the LM head's outputs
  int64_t d_input = 1;
  // Residual stack: x + dropout(layer(norm(x))) (prenorm, then a final norm) or
  // norm(x + dropout(layer(x))) (postnorm).
  std::string norm = "rms";  // layer | rms | batch
  bool prenorm = true;
  double norm_eps = 1e-5;
  double dropout = 0.0;      // residual-branch dropout; also inside S4/S6 blocks
  bool tie_dropout = false;  // one mask per (batch, channel) along the sequence
  // Head: "lm" (logits at every position, (B, L, V)), "last" (logits at the last last_m
  // positions, (B, M, V)) or "classify" (pool over positions, then Linear(H, n_classes)).
  std::string head = "lm";
  bool tie_embeddings = true;  // lm/last head weight = embedding weight (token encoder)
  int64_t last_m = 1;
  int64_t n_classes = 2;
  std::string pool = "mean";  // classify: mean (over the mask's valid positions) | last
  S4Options s4;
  S6Options s6;
  MambaOptions mamba;
};

}  // namespace coil::nn
