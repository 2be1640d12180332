#include "query/functions.h"

namespace meridian::promql {

const FunctionInfo* LookupFunction(std::string_view name) { return nullptr; }
std::span<const FunctionInfo> AllFunctions() { return {}; }

}  // namespace meridian::promql
