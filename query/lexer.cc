#include "query/lexer.h"
