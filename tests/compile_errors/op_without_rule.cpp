// A primitive added to the op list without a derivative rule must not compile.
#define TRUSTML_EXTRA_OPS(X) X(my_op, primitive)
#include <trustml/trustml.hpp>
