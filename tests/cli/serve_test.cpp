// `strata serve` as a process: the demo model with no -m, a free port, a real request, a clean
// stop on SIGTERM and SIGINT; settings it refuses before listening. (tests/e2e drives the API
// with real clients.)
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "support/fixtures.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using testing::run_command;

std::string strata() { return testing::strata_binary().string(); }

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A logit_bias object that bans the end-of-generation tokens of `model`'s vocabulary, so a
// request runs to max_tokens whatever random weights sample. The built-in demo vocabulary ends
// turns with <|end_of_text|> (EOS) and <|im_end|> (EOT); their ids come from the vocabulary.
std::string ban_end_tokens(const fs::path& model) {
  const auto r = run_command(fmt::format("printf '%s' '<|end_of_text|><|im_end|>' | '{}' tokenize -m '{}' --stdin --ids "
                                         "--no-bos --parse-special",
                                         strata(), model.string()));
  const std::regex pair(R"(\[(\d+), (\d+)\])");
  std::smatch m;
  if (r.exit_code != 0 || !std::regex_search(r.output, m, pair)) {
    ADD_FAILURE() << "tokenizing the end markers failed: " << r.output;
    return "{}";
  }
  return fmt::format(R"({{"{}":-100,"{}":-100}})", m[1].str(), m[2].str());
}

// A `strata serve` child with its output in a file; killed if the test ends early.
class ServeProcess {
 public:
  ServeProcess(const fs::path& dir, std::vector<std::string> args, const std::string& command = "serve")
      : log_(dir / (command + ".log")) {
    pid_ = fork();
    if (pid_ == 0) {
      const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      setenv("STRATA_CACHE_DIR", dir.c_str(), 1);
      std::vector<std::string> argv_s = {strata(), command};
      argv_s.insert(argv_s.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (std::string& a : argv_s) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~ServeProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // The port from the "listening on [http://]127.0.0.1:PORT" line; 0 if it never comes.
  int wait_for_port(std::chrono::seconds limit = std::chrono::seconds(60)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    const std::regex listening(R"(listening on (?:http://)?127\.0\.0\.1:(\d+))");
    while (std::chrono::steady_clock::now() < end) {
      std::smatch m;
      const std::string text = log();
      if (std::regex_search(text, m, listening)) return std::stoi(m[1]);
      if (waitpid(pid_, &status_, WNOHANG) == pid_) {
        exited_ = true;
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return 0;
  }
  bool wait_for_log(const std::string& needle, std::chrono::seconds limit = std::chrono::seconds(60)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (log().find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  // Sends `signal` and returns the exit code (-1 if it did not exit within the limit).
  int stop(int signal, std::chrono::seconds limit = std::chrono::seconds(20)) {
    kill(pid_, signal);
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (waitpid(pid_, &status_, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  std::string log() const { return read_file(log_); }
  void kill_now() {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    exited_ = true;
  }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  int status_ = 0;
  bool exited_ = false;
};

TEST(ServeCommandTest, ServesTheDemoModelAndStopsOnSignals) {
  for (int signal : {SIGTERM, SIGINT}) {
    testing::TempDir dir;
    ServeProcess serve(dir.path(), {"--port", "0", "-np", "2", "-t", "2"});
    const int port = serve.wait_for_port();
    ASSERT_GT(port, 0) << serve.log();
    ASSERT_TRUE(serve.wait_for_log("ready:")) << serve.log();
    EXPECT_NE(serve.log().find("random weights"), std::string::npos);
    EXPECT_TRUE(fs::exists(dir.path() / "demo-tiny.gguf"));

    const auto health = run_command(fmt::format("curl -s http://127.0.0.1:{}/health", port));
    EXPECT_EQ(health.output, R"({"status":"ok"})");
    const auto reply = run_command(fmt::format(
        "curl -s http://127.0.0.1:{}/v1/completions -H 'content-type: application/json' "
        "-d '{{\"prompt\":\"hello\",\"max_tokens\":5,\"logit_bias\":{}}}'",
        port, ban_end_tokens(dir.path() / "demo-tiny.gguf")));
    EXPECT_NE(reply.output.find(R"("completion_tokens":5)"), std::string::npos) << reply.output;
    EXPECT_NE(reply.output.find(R"("model":"strata-demo-random-weights")"), std::string::npos) << reply.output;
    EXPECT_NE(reply.output.find(R"("cached_tokens":0)"), std::string::npos) << reply.output;
    // The same prompt again: all but its last token come from the slot's cache.
    const auto again = run_command(fmt::format(
        "curl -s http://127.0.0.1:{}/v1/completions -H 'content-type: application/json' "
        "-d '{{\"prompt\":\"hello\",\"max_tokens\":5}}'",
        port));
    const std::regex cached(R"re("prompt_tokens":(\d+),.*"cached_tokens":(\d+))re");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(again.output, m, cached)) << again.output;
    EXPECT_EQ(std::stoi(m[2]), std::stoi(m[1]) - 1) << again.output;

    EXPECT_EQ(serve.stop(signal), 0) << serve.log();
    EXPECT_NE(serve.log().find(signal == SIGINT ? "SIGINT received" : "SIGTERM received"), std::string::npos);
  }
}

TEST(ServeCommandTest, RefusedSettingsExitOneWithOneLine) {
  testing::TempDir dir;
  const fs::path model = dir.path() / "hd80.gguf";
  ASSERT_EQ(run_command(fmt::format("'{}' synth --preset tiny --n-embd 320 --n-head 4 --n-head-kv 2 -o '{}'", strata(),
                                    model.string()))
                .exit_code,
            0);
  struct Case {
    std::string args;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"-m " + (dir.path() / "missing.gguf").string(), "missing.gguf"},
      {"-m " + model.string() + " -ctk q4_0", "head"},
      {"-m " + model.string() + " -ctk q9_9", "q9_9"},
      {"-m " + model.string() + " -np 0", "-np 0"},
      {"-m " + model.string() + " -np 4 -b 4", "-b 4"},
      {"-m " + model.string() + " --port 70000", "--port 70000"},
  };
  for (const Case& c : cases) {
    const std::string port = c.args.find("--port") == std::string::npos ? "--port 0 " : "";
    const auto r = run_command(fmt::format("'{}' serve {}{}", strata(), port, c.args));
    SCOPED_TRACE(c.args + "\n" + r.output);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find("strata serve: error: "), std::string::npos);
    EXPECT_NE(r.output.find(c.expect), std::string::npos);
  }
}

// A coordinator with its layers on two `strata worker` processes: answers, survives the death of
// a worker (503 and /health degraded), and serves again once the worker is back, from its cache.
TEST(ServeCommandTest, WorkerDeathGivesErrorsAndDegradedHealthThenRecovers) {
  testing::TempDir dir;
  const fs::path model = dir.path() / "tiny.gguf";
  ASSERT_EQ(run_command(fmt::format("'{}' synth --preset tiny -o '{}'", strata(), model.string())).exit_code, 0);
  const fs::path d1 = dir.path() / "w1";
  const fs::path d2 = dir.path() / "w2";
  fs::create_directories(d1);
  fs::create_directories(d2);
  ServeProcess w1(d1, {"--port", "0", "--cache-dir", (d1 / "cache").string(), "-t", "1"}, "worker");
  auto w2 = std::make_unique<ServeProcess>(
      d2, std::vector<std::string>{"--port", "0", "--cache-dir", (d2 / "cache").string(), "-t", "1"}, "worker");
  const int p1 = w1.wait_for_port();
  const int p2 = w2->wait_for_port();
  ASSERT_GT(p1, 0) << w1.log();
  ASSERT_GT(p2, 0) << w2->log();
  ServeProcess serve(dir.path(), {"-m", model.string(), "--port", "0", "-t", "1", "-c", "65536", "--worker",
                                  fmt::format("127.0.0.1:{}", p1), "--rpc", fmt::format("127.0.0.1:{}", p2)});
  const int port = serve.wait_for_port();
  ASSERT_GT(port, 0) << serve.log();
  ASSERT_TRUE(serve.wait_for_log("ready:")) << serve.log();
  const std::string completion = fmt::format(
      "curl -s -w ' HTTP%{{http_code}}' http://127.0.0.1:{}/v1/completions -H 'content-type: application/json' "
      "-d '{{\"prompt\":\"hello\",\"max_tokens\":4}}'",
      port);
  const std::string health = fmt::format("curl -s http://127.0.0.1:{}/health", port);
  EXPECT_NE(run_command(completion).output.find("HTTP200"), std::string::npos);

  // A stream running when the worker dies ends with an error event, not [DONE]. The worker is
  // killed once the first tokens arrived; the context is large enough to keep it generating.
  const fs::path stream_file = dir.path() / "stream.txt";
  const std::string end_ban = ban_end_tokens(model);
  std::thread client([&] {
    run_command(fmt::format(
        "curl -sN -o '{}' http://127.0.0.1:{}/v1/completions -H 'content-type: application/json' "
        "-d '{{\"prompt\":\"hello\",\"max_tokens\":-1,\"stream\":true,\"logit_bias\":{}}}'",
        stream_file.string(), port, end_ban));
  });
  for (int i = 0; i < 600 && read_file(stream_file).find("data: {") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  w2->kill_now();
  client.join();
  const std::string streamed = read_file(stream_file);
  const std::string tail = streamed.substr(streamed.size() > 1500 ? streamed.size() - 1500 : 0);
  EXPECT_NE(streamed.find("data: {\"error\""), std::string::npos) << tail;
  EXPECT_EQ(streamed.find("[DONE]"), std::string::npos) << tail;
  EXPECT_NE(streamed.find(fmt::format("127.0.0.1:{}", p2)), std::string::npos) << tail;

  const auto failed = run_command(completion);
  EXPECT_NE(failed.output.find("HTTP503"), std::string::npos) << failed.output;
  EXPECT_NE(failed.output.find(fmt::format("127.0.0.1:{}", p2)), std::string::npos) << failed.output;
  const auto degraded = run_command(health);
  EXPECT_NE(degraded.output.find("\"degraded\""), std::string::npos) << degraded.output;

  // The worker comes back on its port with its cache: the stage is prepared again, no upload.
  w2 = std::make_unique<ServeProcess>(
      d2, std::vector<std::string>{"--port", std::to_string(p2), "--cache-dir", (d2 / "cache").string(), "-t", "1"},
      "worker");
  ASSERT_EQ(w2->wait_for_port(), p2) << w2->log();
  bool ok = false;
  for (int i = 0; i < 200 && !ok; ++i) {
    ok = run_command(health).output == R"({"status":"ok"})";
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(ok) << serve.log();
  EXPECT_NE(run_command(completion).output.find("HTTP200"), std::string::npos);
  EXPECT_NE(serve.log().find(fmt::format("worker 127.0.0.1:{}: layers 2-3 ready (cache)", p2)), std::string::npos)
      << serve.log();
  EXPECT_EQ(serve.stop(SIGTERM), 0) << serve.log();
}

}  // namespace
}  // namespace strata
