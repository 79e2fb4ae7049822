// Starts a real HttpServer on 127.0.0.1 (ephemeral port) over the FakeGenerator test double,
// plus small helpers for raw-socket clients and SSE bodies.
#pragma once

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fake_generator.h"
#include "server/http_server.h"
#include "test_model.h"

namespace strata::server::testing {

using Json = nlohmann::ordered_json;

inline ServerOptions test_options() {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.keep_alive_timeout_s = 2;
  o.read_timeout_s = 2;
  o.write_timeout_s = 2;
  return o;
}

class TestServer {
 public:
  explicit TestServer(ServerOptions options = test_options(), ModelInfo model = make_test_model()) {
    spdlog::set_level(spdlog::level::warn);
    generator.set_script({byte_tokens("Hello, world!"), engine::FinishReason::kEndOfGeneration, TestVocab::kEndOfText, {}});
    server = std::make_unique<HttpServer>(std::move(model), generator, std::move(options));
    const Status started = server->start();
    if (!started.ok()) throw std::runtime_error(started.to_string());
  }
  ~TestServer() { server->stop(); }

  int port() const { return server->port(); }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port());
    c.set_read_timeout(10, 0);
    c.set_connection_timeout(5, 0);
    return c;
  }
  httplib::Result post(const std::string& path, const std::string& body, httplib::Headers headers = {}) const {
    return client().Post(path.c_str(), headers, body, "application/json");
  }
  httplib::Result post(const std::string& path, const Json& body, httplib::Headers headers = {}) const {
    return post(path, body.dump(), std::move(headers));
  }

  FakeGenerator generator;  // declared first: destroyed after the server
  std::unique_ptr<HttpServer> server;
};

// A blocking TCP connection to the server, for requests httplib::Client cannot make.
class RawConnection {
 public:
  explicit RawConnection(int port, int timeout_ms = 5000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket() failed");
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect() failed");
    }
  }
  ~RawConnection() { close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool send_all(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // Reads until the peer closes, the timeout hits, or `enough(text)` says to stop.
  template <typename Enough>
  std::string read_until(Enough enough) {
    std::string out;
    char buffer[4096];
    while (!enough(out)) {
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      out.append(buffer, static_cast<size_t>(n));
    }
    return out;
  }
  std::string read_all() {
    return read_until([](const std::string&) { return false; });
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// "data: X\n\n" events of an SSE body; throws if the body is not made of exactly such events.
inline std::vector<std::string> sse_payloads(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    if (body.compare(pos, 6, "data: ") != 0) throw std::runtime_error("event without 'data: ' at " + std::to_string(pos));
    const size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) throw std::runtime_error("event without a blank line after it");
    const std::string payload = body.substr(pos + 6, end - pos - 6);
    if (payload.find('\n') != std::string::npos) throw std::runtime_error("multi-line event payload");
    out.push_back(payload);
    pos = end + 2;
  }
  return out;
}

}  // namespace strata::server::testing
