// The op list of check_op_coverage.cmake's failing fixture.
X(covered_op, primitive) X(comment_only_op, primitive)
