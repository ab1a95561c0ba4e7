// Tensor files in the safetensors format (weights, optimizer state, checkpoints): named tensors
// plus string metadata, written atomically and validated completely on read.
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value"}}
// (padded with spaces), then the data area; offsets are relative to the data area's start.
#pragma once
#include <map>
#include <string>

#include "core/tensor.h"

namespace coil {

// Sorted by name, as a Python dict of tensors would be after sorted(): deterministic files.
using TensorDict = std::map<std::string, Tensor>;
using StringDict = std::map<std::string, std::string>;

struct SafetensorsContents {
  TensorDict tensors;
  StringDict metadata;
};

// The dtype names of the format: F32, F64, BF16, I32, I64, U8, BOOL (every coil dtype).
std::string_view safetensors_dtype_name(DType t);

// Writes to a temporary file next to `path`, fsyncs it and renames it over `path` (atomic: a
// reader sees the old file or the new one, never a partial one). CUDA tensors are copied to the
// host first (a host sync). Tensors are stored contiguously in their own dtype; names must be
// non-empty and not "__metadata__". Throws coil::Error naming the file on any I/O failure, in
// which case `path` is left as it was.
void write_safetensors(const std::string& path, const TensorDict& tensors,
                       const StringDict& metadata = {});

// Reads and validates the whole file: header length within bounds (<= 100 MB and <= file size -
// 8), a JSON object, known dtypes, shape product * dtype size == end - begin, offsets that tile
// the data area exactly (sorted, no overlap, no hole) and end at the file's end. Any violation
// throws coil::Error naming the file and the problem; nothing past the file's end is read.
// Tensors are placed on `device` (read on the host, then copied).
SafetensorsContents read_safetensors(const std::string& path, Device device = Device::cpu());

}  // namespace coil
