// The row loops of layer_norm and rms_norm (ops/norm/row_norm_rows_impl.h) compiled for
// AVX-512 (F, VL, DQ, BW); row_norm_cpu.cpp calls them only on CPUs that have it.
#pragma GCC target("avx2,fma,avx512f,avx512vl,avx512dq,avx512bw")
#define COIL_NORM_ROWS_ISA avx512
#include "ops/norm/row_norm_rows_impl.h"
