// Linked with one translation unit per public header: that it built is the test.
#include <cstdio>

int main(int argc, char** argv) {
  std::printf("%s public headers compile on their own\n", argc > 1 ? argv[1] : "all");
  return 0;
}
