// Materialises COIL_OP_LIST (ops/op_list.h) as a table.
#include "ops/op_list.h"

namespace coil::ops {

const std::vector<OpEntry>& op_list() {
#define COIL_OP_ENTRY(name) OpEntry{#name, &spec_##name},
  static const std::vector<OpEntry> list = {COIL_OP_LIST(COIL_OP_ENTRY)};
#undef COIL_OP_ENTRY
  return list;
}

}  // namespace coil::ops
