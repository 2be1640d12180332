#include "query/parser.h"

#include <gtest/gtest.h>

namespace meridian::promql {
namespace {

TEST(ParserTest, Placeholder) { SUCCEED(); }

}  // namespace
}  // namespace meridian::promql
