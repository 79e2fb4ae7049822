// `strata serve` flags: llama-server spellings into ServeOptions, defaults, and range checks.
#include <gtest/gtest.h>

#include <cstdlib>

#include "server/serve_options.h"

namespace strata::server {
namespace {

// Parses like the CLI does for `strata serve ARGS` (main.cpp has already turned -np, -ctk,
// -ctv and -fa into their long forms).
ServeOptions parse(std::vector<std::string> args) {
  CLI::App app;
  ServeOptions options;
  add_serve_flags(app, options);
  std::reverse(args.begin(), args.end());
  app.parse(args);
  return options;
}

TEST(ServeOptions, Defaults) {
  ServeOptions o = parse({});
  ::unsetenv("STRATA_API_KEY");
  ASSERT_TRUE(finish_serve_options(o).ok());
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 8080);
  EXPECT_FALSE(o.ctx_size.has_value());
  EXPECT_EQ(o.parallel, 1);
  EXPECT_EQ(o.api_key, "");
  const ServerOptions s = to_server_options(o);
  EXPECT_EQ(s.port, 8080);
  EXPECT_EQ(s.max_body_bytes, size_t{16} << 20);
  EXPECT_EQ(s.request_timeout_s, 600);
}

TEST(ServeOptions, LlamaServerFlags) {
  ServeOptions o = parse({"-m", "model.gguf", "--host", "0.0.0.0", "--port", "0", "-c", "8192", "--parallel", "4",
                          "--cache-type-k", "q8_0", "--cache-type-v", "q4_0", "--flash-attn", "on", "-t", "2",
                          "--chat-template-file", "t.jinja", "--api-key", "secret", "--alias", "my-model",
                          "--timeout", "30", "--queue-size", "8", "--reasoning-format", "none"});
  ASSERT_TRUE(finish_serve_options(o).ok());
  EXPECT_EQ(o.model, "model.gguf");
  EXPECT_EQ(o.host, "0.0.0.0");
  EXPECT_EQ(o.port, 0);
  EXPECT_EQ(o.ctx_size, 8192);
  EXPECT_EQ(o.parallel, 4);
  EXPECT_EQ(o.cache_type_k, "q8_0");
  EXPECT_EQ(o.cache_type_v, "q4_0");
  EXPECT_EQ(o.flash_attn, "on");
  EXPECT_EQ(o.threads, 2);
  EXPECT_EQ(o.chat_template_file, "t.jinja");
  EXPECT_EQ(o.alias, "my-model");
  EXPECT_EQ(o.queue_size, 8);
  const ServerOptions s = to_server_options(o);
  EXPECT_EQ(s.host, "0.0.0.0");
  EXPECT_EQ(s.port, 0);
  EXPECT_EQ(s.api_key, "secret");
  EXPECT_EQ(s.request_timeout_s, 30);
}

TEST(ServeOptions, ApiKeyFromTheEnvironment) {
  ::setenv("STRATA_API_KEY", "from-env", 1);
  ServeOptions o = parse({});
  ASSERT_TRUE(finish_serve_options(o).ok());
  EXPECT_EQ(o.api_key, "from-env");
  ServeOptions flag = parse({"--api-key", "from-flag"});
  ASSERT_TRUE(finish_serve_options(flag).ok());
  EXPECT_EQ(flag.api_key, "from-flag");
  ::unsetenv("STRATA_API_KEY");
}

TEST(ServeOptions, RangesAreChecked) {
  const std::vector<std::vector<std::string>> bad = {
      {"--port", "70000"}, {"--port", "-1"},        {"--parallel", "0"},   {"-c", "-5"},
      {"--timeout", "0"},  {"--queue-size", "-1"},  {"--flash-attn", "maybe"}, {"-t", "-2"},
      {"--host", ""},      {"--reasoning-format", "r1"}, {"--threads-http", "1"}, {"--max-body-mb", "0"},
  };
  for (const auto& args : bad) {
    ServeOptions o = parse(args);
    const Status status = finish_serve_options(o);
    EXPECT_FALSE(status.ok()) << args[0] << " " << args[1];
    EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace strata::server
