// Command-line flags of the bench tools (meridian-loadgen,
// meridian-longrange-gen): `--name value` or `--name=value`; booleans take
// true/1 (anything else is false).
//
//   Flags f;
//   bench::FlagParser p(Usage);
//   p.Add("--series", &f.series);
//   p.Parse(argc, argv);  // Usage() on an unknown flag, a missing value or a bad number
#ifndef MERIDIAN_BENCH_FLAGS_H_
#define MERIDIAN_BENCH_FLAGS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

namespace bench {

class FlagParser {
 public:
  // `usage` prints the usage and exits.
  explicit FlagParser(void (*usage)()) : usage_(usage) {}

  void Add(const std::string& name, std::string* out) {
    set_[name] = [out](const std::string& v) { *out = v; };
  }
  void Add(const std::string& name, bool* out) {
    set_[name] = [out](const std::string& v) { *out = v == "true" || v == "1"; };
  }
  void Add(const std::string& name, int* out) {
    set_[name] = [out](const std::string& v) {
      const long long x = Whole(v);
      if (x < INT32_MIN || x > INT32_MAX) throw std::out_of_range(v);
      *out = static_cast<int>(x);
    };
  }
  void Add(const std::string& name, int64_t* out) {
    set_[name] = [out](const std::string& v) { *out = Whole(v); };
  }
  void Add(const std::string& name, uint64_t* out) {
    set_[name] = [out](const std::string& v) {
      size_t used = 0;
      *out = std::stoull(v, &used);
      if (used != v.size() || v.starts_with('-')) throw std::invalid_argument(v);
    };
  }
  void Add(const std::string& name, double* out) {
    set_[name] = [out](const std::string& v) {
      size_t used = 0;
      *out = std::stod(v, &used);
      if (used != v.size()) throw std::invalid_argument(v);
    };
  }

  void Parse(int argc, char** argv) const {
    for (int i = 1; i < argc; ++i) {
      std::string name = argv[i];
      std::string value;
      const size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        usage_();
      }
      auto it = set_.find(name);
      if (it == set_.end()) usage_();
      try {
        it->second(value);
      } catch (const std::exception&) {  // std::sto* on a malformed or out-of-range number
        usage_();
      }
    }
  }

 private:
  // A whole number that uses all of `v`.
  static long long Whole(const std::string& v) {
    size_t used = 0;
    const long long x = std::stoll(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
    return x;
  }

  void (*usage_)();
  std::map<std::string, std::function<void(const std::string&)>> set_;
};

}  // namespace bench

#endif  // MERIDIAN_BENCH_FLAGS_H_
