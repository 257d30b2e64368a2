// check_op_coverage.cmake's failing fixture: comment_only_op is named in comments only.
void comparisons() {
  compare("covered_op", f, 1e-5, x);  // compare("comment_only_op")
  /* check("comment_only_op") */
}
