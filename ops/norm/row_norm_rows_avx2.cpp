// The row loops of layer_norm and rms_norm (ops/norm/row_norm_rows_impl.h) compiled for
// AVX2 and FMA; row_norm_cpu.cpp calls them only on CPUs that have it.
#pragma GCC target("avx2,fma")
#define COIL_NORM_ROWS_ISA avx2
#include "ops/norm/row_norm_rows_impl.h"
