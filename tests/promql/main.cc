// promql_conformance: runs Prometheus's PromQL test scripts against meridian.
// See tests/promql/README.md for usage; exit codes: 0 no unexpected failure,
// 1 unexpected failures (or bad usage), 77 test data not found (CTest skip).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "query/engine.h"
#include "tests/promql/baseline.h"
#include "tests/promql/runner.h"
#include "tests/promql/script.h"
#include "tests/promql/strutil.h"

namespace meridian::promqltest {
namespace {

namespace fs = std::filesystem;

constexpr int kExitSkip = 77;
constexpr unsigned kCaseTimeoutS = 120;

struct Flags {
  std::string dir;
  std::vector<std::string> files;
  bool verbose = false;
  std::string baseline;
  std::string write_baseline;
  bool isolate = true;
  bool at_variants = true;
  bool range_check = true;
  bool trace = false;
  int64_t max_samples = 10000;  // promqltest.DefaultMaxSamplesPerQuery
};

// Files skipped whole, with the reason (see tests/promql/skipped.md).
const std::map<std::string, std::string>& SkippedFiles() {
  static const auto* m = new std::map<std::string, std::string>{
      {"native_histograms.test", "native histograms are not supported by meridian"},
      {"duration_expression.test",
       "experimental: duration expressions (feature flag in Prometheus)"},
      {"extended_vectors.test",
       "experimental: anchored/smoothed range selectors (feature flag in Prometheus)"},
      {"fill-modifier.test", "experimental: binop fill modifiers (feature flag in Prometheus)"},
      {"info.test", "experimental: info() function (feature flag in Prometheus)"},
      {"start_timestamps.test", "experimental: start timestamps (feature flag in Prometheus)"},
      {"type_and_unit.test", "experimental: type-and-unit labels (feature flag in Prometheus)"},
  };
  return *m;
}

std::string ReadFile(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = write(fd, s.data(), s.size());
    if (n <= 0) return;
    s.remove_prefix(static_cast<size_t>(n));
  }
}

// The child's end: runs the script, streaming "S <line>\n" before each case
// and "R <line> <P|F|S> <len>\n<detail>" after it.
[[noreturn]] void RunChild(int fd, const Script& script, const std::string& storage_dir,
                           int skip_through, const Flags& flags) {
  promql::EngineOptions eopts;
  eopts.lookback_delta_ms = 5 * 60 * 1000;
  eopts.max_samples = flags.max_samples;
  eopts.timeout = std::chrono::seconds(100);
  eopts.default_eval_interval_ms = 60'000;
  eopts.enable_experimental_functions = true;
  promql::Engine engine(eopts);
  RunnerOptions ropts;
  ropts.storage_dir = storage_dir;
  ropts.skip_through_line = skip_through;
  ropts.at_modifier_variants = flags.at_variants;
  ropts.range_mode_check = flags.range_check;
  ropts.trace = flags.trace;
  // Self-test of crash isolation: abort when starting this line.
  const char* abort_env = std::getenv("PROMQL_CONFORMANCE_SELFTEST_ABORT_LINE");
  const int abort_line = abort_env != nullptr ? std::atoi(abort_env) : -1;
  ropts.on_case_start = [fd, abort_line](int line) {
    alarm(kCaseTimeoutS);
    WriteAll(fd, Cat("S ", line, "\n"));
    if (line == abort_line) abort();
  };
  ScriptRunner runner(&engine, ropts);
  absl::Status st = runner.Run(script, [fd](const CaseResult& r) {
    char o = r.outcome == Outcome::kPass ? 'P' : r.outcome == Outcome::kFail ? 'F' : 'S';
    WriteAll(fd, Cat("R ", r.line, " ", std::string(1, o), " ", r.detail.size(), "\n", r.detail));
  });
  if (!st.ok()) {
    std::string msg = st.ToString();
    WriteAll(fd, Cat("E ", msg.size(), "\n", msg));
  }
  close(fd);
  _exit(st.ok() ? 0 : 3);
}

// Parses the child's stream into *results; returns the line of a case that
// started without finishing (0 if none) and sets *fatal on an E record.
int ParseStream(const std::string& data, std::map<int, CaseResult>* results, std::string* fatal) {
  size_t i = 0;
  int open_case = 0;
  while (i < data.size()) {
    size_t nl = data.find('\n', i);
    if (nl == std::string::npos) break;
    std::string head = data.substr(i, nl - i);
    i = nl + 1;
    std::istringstream hs(head);
    char kind;
    hs >> kind;
    if (kind == 'S') {
      hs >> open_case;
    } else if (kind == 'R') {
      int line = 0;
      char o = 0;
      size_t len = 0;
      hs >> line >> o >> len;
      CaseResult r;
      r.line = line;
      r.outcome = o == 'P' ? Outcome::kPass : o == 'F' ? Outcome::kFail : Outcome::kSkip;
      r.detail = data.substr(i, len);
      i += len;
      (*results)[line] = std::move(r);
      if (line == open_case) open_case = 0;
    } else if (kind == 'E') {
      size_t len = 0;
      hs >> len;
      *fatal = data.substr(i, len);
      i += len;
    }
  }
  return open_case;
}

std::map<int, CaseResult> RunIsolated(const Script& script, const std::string& storage_dir,
                                      const Flags& flags) {
  std::map<int, CaseResult> results;
  int skip_through = 0;
  for (int attempt = 0; attempt < 10000; ++attempt) {
    int fds[2];
    if (pipe(fds) != 0) {
      perror("pipe");
      break;
    }
    std::cout.flush();
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      RunChild(fds[1], script, Cat(storage_dir, "/run-", attempt), skip_through, flags);
    }
    close(fds[1]);
    std::string data;
    char buf[65536];
    for (;;) {
      ssize_t n = read(fds[0], buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      data.append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    std::string fatal;
    int open_case = ParseStream(data, &results, &fatal);
    if (!fatal.empty()) {
      std::cerr << "runner error: " << fatal << "\n";
      break;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) break;
    if (open_case == 0) {
      std::cerr << "runner process died outside an eval (status " << status << ")\n";
      break;
    }
    std::string why = WIFSIGNALED(status) ? (WTERMSIG(status) == SIGALRM
                                                 ? Cat("timed out after ", kCaseTimeoutS, "s")
                                                 : Cat("crashed with signal ", WTERMSIG(status),
                                                       " (", strsignal(WTERMSIG(status)), ")"))
                                          : Cat("runner exited with status ", WEXITSTATUS(status));
    results[open_case] = {open_case, Outcome::kFail, Cat("evaluation ", why)};
    skip_through = open_case;  // resume after the crashing case
  }
  return results;
}

std::map<int, CaseResult> RunInProcess(const Script& script, const std::string& storage_dir,
                                       const Flags& flags) {
  promql::EngineOptions eopts;
  eopts.max_samples = flags.max_samples;
  eopts.timeout = std::chrono::seconds(100);
  promql::Engine engine(eopts);
  RunnerOptions ropts;
  ropts.storage_dir = storage_dir;
  ropts.at_modifier_variants = flags.at_variants;
  ropts.range_mode_check = flags.range_check;
  ropts.trace = flags.trace;
  ScriptRunner runner(&engine, ropts);
  std::map<int, CaseResult> results;
  absl::Status st = runner.Run(script, [&](const CaseResult& r) { results[r.line] = r; });
  if (!st.ok()) std::cerr << "runner error: " << st << "\n";
  return results;
}

// Lines of the cases a script defines (evals and unparseable commands), with
// the eval text for reports.
std::map<int, std::string> CaseLines(const Script& script) {
  std::map<int, std::string> out;
  for (const Command& c : script.commands) {
    if (const auto* e = std::get_if<EvalCmd>(&c)) {
      out[e->line] = Cat(e->is_range ? "eval range " : "eval instant ", e->expr);
    } else if (const auto* p = std::get_if<ParseErrorCmd>(&c)) {
      out[p->line] = "(unparseable command)";
    }
  }
  return out;
}

std::string FirstLine(const std::string& s, size_t max) {
  std::string l = s.substr(0, s.find('\n'));
  if (l.size() > max) l = l.substr(0, max - 3) + "...";
  return l;
}

bool ParseFlags(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--dir") {
      if (!value(&f->dir)) return false;
    } else if (a == "--file") {
      // `--file a b c` and `--file a --file b` both work.
      if (i + 1 >= argc) return false;
      while (i + 1 < argc && std::string_view(argv[i + 1]).substr(0, 1) != "-") {
        v = argv[++i];
        if (!v.ends_with(".test")) v += ".test";
        f->files.push_back(v);
      }
    } else if (a == "--verbose" || a == "-v") {
      f->verbose = true;
    } else if (a == "--baseline") {
      if (!value(&f->baseline)) return false;
    } else if (a == "--write-baseline") {
      if (!value(&f->write_baseline)) return false;
    } else if (a == "--no-isolate") {
      f->isolate = false;
    } else if (a == "--no-at-variants") {
      f->at_variants = false;
    } else if (a == "--trace") {
      f->trace = true;
    } else if (a == "--no-range-check") {
      f->range_check = false;
    } else if (a == "--max-samples") {
      if (!value(&v) || !ParseInt(v, &f->max_samples)) return false;
    } else {
      return false;
    }
  }
  return true;
}

int Main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    std::cerr
        << "usage: promql_conformance [--dir DIR] [--file NAME ...] [--verbose] [--baseline FILE]\n"
           "                          [--write-baseline FILE] [--no-isolate] [--no-at-variants]\n"
           "                          [--no-range-check] [--max-samples N] [--trace]\n";
    return 1;
  }
  if (flags.dir.empty()) {
    const char* env = std::getenv("MERIDIAN_PROMQL_TESTDATA");
    flags.dir = env != nullptr && *env != '\0' ? env : MERIDIAN_PROMQL_TESTDATA_DEFAULT;
  }
  std::error_code ec;
  if (!fs::is_directory(flags.dir, ec)) {
    std::cout << "SKIP: promql testdata not found at " << flags.dir
              << "; set MERIDIAN_PROMQL_TESTDATA\n";
    return kExitSkip;
  }
  Baseline baseline;
  if (!flags.baseline.empty()) {
    bool ok = false;
    std::string text = ReadFile(flags.baseline, &ok);
    if (!ok) {
      std::cerr << "cannot read baseline " << flags.baseline << "\n";
      return 1;
    }
    auto b = ParseBaseline(text);
    if (!b.ok()) {
      std::cerr << b.status() << "\n";
      return 1;
    }
    baseline = *std::move(b);
  }
  std::vector<std::string> files = flags.files;
  if (files.empty()) {
    for (const auto& entry : fs::directory_iterator(flags.dir, ec)) {
      if (entry.path().extension() == ".test") files.push_back(entry.path().filename().string());
    }
    std::sort(files.begin(), files.end());
  }

  std::string tmp_root = (fs::temp_directory_path(ec) / "promql-conformance-XXXXXX").string();
  if (mkdtemp(tmp_root.data()) == nullptr) {
    perror("mkdtemp");
    return 1;
  }

  int total_pass = 0, total_fail = 0, total_skip = 0;
  std::vector<std::string> unexpected, now_passing;
  std::map<std::string, std::string> failures;
  for (const std::string& file : files) {
    bool ok = false;
    std::string text = ReadFile((fs::path(flags.dir) / file).string(), &ok);
    if (!ok) {
      std::cout << file << ": cannot read\n";
      unexpected.push_back(file);
      continue;
    }
    Script script = ParseScript(text);
    std::map<int, std::string> cases = CaseLines(script);
    std::map<int, CaseResult> results;
    auto skipped = SkippedFiles().find(file);
    if (skipped != SkippedFiles().end()) {
      for (const Command& c : script.commands) {
        if (const auto* e = std::get_if<EvalCmd>(&c))
          results[e->line] = {e->line, Outcome::kSkip, skipped->second};
      }
      // Lines the parser could not read are not cases in a skipped file.
      std::erase_if(cases, [&](const auto& kv) { return !results.contains(kv.first); });
    } else {
      std::string dir = Cat(tmp_root, "/", file);
      results = flags.isolate ? RunIsolated(script, dir, flags) : RunInProcess(script, dir, flags);
      fs::remove_all(dir, ec);
    }
    int pass = 0, fail = 0, skip = 0;
    for (const auto& [line, expr] : cases) {
      auto it = results.find(line);
      CaseResult r = it != results.end()
                         ? it->second
                         : CaseResult{line, Outcome::kFail, "not run (runner died)"};
      std::string key = CaseKey(file, line);
      switch (r.outcome) {
        case Outcome::kPass:
          ++pass;
          if (baseline.Contains(key)) now_passing.push_back(key);
          if (flags.verbose) std::cout << "PASS " << key << " " << expr << "\n";
          break;
        case Outcome::kSkip:
          ++skip;
          if (flags.verbose && skipped == SkippedFiles().end()) {
            std::cout << "SKIP " << key << " " << expr << " (" << r.detail << ")\n";
          }
          break;
        case Outcome::kFail: {
          ++fail;
          failures[key] = FirstLine(r.detail, 160);
          bool expected = baseline.Contains(key);
          if (!expected) unexpected.push_back(key);
          if (!expected || flags.verbose) {
            std::cout << "FAIL " << key << (expected ? " (expected)" : "") << " " << expr << "\n  "
                      << r.detail << "\n";
          }
          break;
        }
      }
    }
    if (skipped != SkippedFiles().end()) {
      std::cout << file << ": skipped whole file (" << skipped->second << ")\n";
    }
    std::cout << file << ": " << pass << " passed, " << fail << " failed, " << skip << " skipped"
              << std::endl;
    total_pass += pass;
    total_fail += fail;
    total_skip += skip;
  }
  fs::remove_all(tmp_root, ec);

  for (const auto& key : now_passing) {
    std::cout << "note: " << key << " now passing, remove from expected_failures.txt\n";
  }
  int rc = 0;
  if (!flags.write_baseline.empty()) {
    std::ofstream out(flags.write_baseline, std::ios::trunc);
    out << FormatBaseline(failures);
    std::cout << "wrote " << failures.size() << " failing cases to " << flags.write_baseline
              << "\n";
  } else if (!unexpected.empty()) {
    std::cout << unexpected.size() << " unexpected failure(s)"
              << (flags.baseline.empty() ? " (no --baseline given)" : " not listed in the baseline")
              << ":";
    for (const auto& k : unexpected) std::cout << " " << k;
    std::cout << "\n";
    rc = 1;
  }
  std::cout << "promql conformance: " << total_pass << " passed, " << total_fail << " failed, "
            << total_skip << " skipped" << std::endl;
  return rc;
}

}  // namespace
}  // namespace meridian::promqltest

int main(int argc, char** argv) { return meridian::promqltest::Main(argc, argv); }
