// The HTTP server: cpp-httplib setup, the route table, and the checks every request passes
// before its handler (see http_server.h).
#include "server/http_server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <random>
#include <string_view>
#include <thread>
#include <utility>

#include "server/completion_routes.h"
#include "server/http_reply.h"
#include "server/http_task_queue.h"
#include "server/status_routes.h"
#include "server/tokenizer_routes.h"
#include "server/web_assets.h"

namespace strata::server {

namespace {

using HandlerResponse = httplib::Server::HandlerResponse;

struct Route {
  std::string_view path;
  std::string_view method;  // GET routes also answer HEAD
  bool needs_key;           // when --api-key is set
};

// Every route the server answers; anything else is 404 (path) or 405 (method) before a
// request body is read.
constexpr Route kRoutes[] = {
    {"/", "GET", false},
    {"/chat.js", "GET", false},
    {"/chat.css", "GET", false},
    {"/health", "GET", false},
    {"/metrics", "GET", true},
    {"/v1/models", "GET", true},
    {"/models", "GET", true},
    {"/v1/chat/completions", "POST", true},
    {"/chat/completions", "POST", true},
    {"/v1/completions", "POST", true},
    {"/completions", "POST", true},
    {"/tokenize", "POST", true},
    {"/detokenize", "POST", true},
};

const Route* find_route(std::string_view path) {
  for (const Route& route : kRoutes) {
    if (route.path == path) return &route;
  }
  return nullptr;
}

// Per request, on the thread that serves it (cpp-httplib serves one request start to end on
// one thread): for the access log and the metrics label.
struct RequestScope {
  bool active = false;  // false: cpp-httplib refused the request before our handlers saw it
  engine::Clock::time_point start;
  std::string_view endpoint = "other";
};
thread_local RequestScope t_request;

std::string new_request_id() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("req-{:016x}{:08x}", rng(), static_cast<uint32_t>(rng()));
}

bool acceptable_request_id(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (const char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// Compares without an early exit, so response time does not tell how much of a key matched.
bool same_key(std::string_view a, std::string_view b) {
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

ApiError error_with_status(int status, std::string message, std::string type, std::optional<std::string> code) {
  ApiError e;
  e.http_status = status;
  e.message = std::move(message);
  e.type = std::move(type);
  e.code = std::move(code);
  return e;
}

// Replies given before the body was read close the connection when there is a body.
void refuse(httplib::Response& res, const ApiError& error, bool has_body) {
  if (has_body) {
    send_error_and_close(res, error);
  } else {
    send_error(res, error);
  }
}

}  // namespace

struct HttpServer::Impl {
  Impl(ModelInfo m, engine::GenerationService& g, ServerOptions o)
      : model(std::move(m)), generator(g), options(std::move(o)), ctx{model, generator, options, metrics, stopping} {}

  HandlerResponse before_routing(const httplib::Request& req, httplib::Response& res);
  void after_response(const httplib::Request& req, const httplib::Response& res);
  HandlerResponse fill_error_body(const httplib::Request& req, httplib::Response& res);
  void add_routes();

  ModelInfo model;
  engine::GenerationService& generator;
  ServerOptions options;
  Metrics metrics;
  std::atomic<bool> stopping{false};
  ServerContext ctx;
  httplib::Server http;
  int bound_port = -1;
  int listen_socket = -1;  // the socket cpp-httplib binds (seen through its socket options hook)
  std::thread thread;
};

HandlerResponse HttpServer::Impl::before_routing(const httplib::Request& req, httplib::Response& res) {
  t_request = RequestScope{true, engine::Clock::now(), "other"};
  const std::string client_id = req.get_header_value("X-Request-ID");
  res.set_header("X-Request-ID", acceptable_request_id(client_id) ? client_id : new_request_id());
  res.set_header("Access-Control-Allow-Origin", "*");
  res.set_header("Access-Control-Expose-Headers", "X-Request-ID, Retry-After");

  const Route* route = find_route(req.path);
  const bool has_body = req.has_header("Content-Length") || req.has_header("Transfer-Encoding");
  if (route == nullptr) {
    refuse(res,
           error_with_status(404, fmt::format("no route for {} {}; see /v1/models, /v1/chat/completions, "
                                              "/v1/completions, /tokenize, /detokenize, /health, /metrics",
                                              req.method, req.path),
                             "invalid_request_error", "not_found"),
           has_body);
    return HandlerResponse::Handled;
  }
  t_request.endpoint = route->path;
  const std::string allow = route->method == "GET" ? "GET, HEAD, OPTIONS" : "POST, OPTIONS";
  if (req.method == "OPTIONS") {
    // CORS preflight: browsers send it without credentials, so it is answered before auth.
    res.status = 204;
    res.set_header("Allow", allow);
    res.set_header("Access-Control-Allow-Methods", allow);
    const std::string asked = req.get_header_value("Access-Control-Request-Headers");
    res.set_header("Access-Control-Allow-Headers", asked.empty() ? "Authorization, Content-Type, X-Request-ID" : asked);
    res.set_header("Access-Control-Max-Age", "86400");
    return HandlerResponse::Handled;
  }
  const bool method_ok = req.method == route->method || (route->method == "GET" && req.method == "HEAD");
  if (!method_ok) {
    res.set_header("Allow", allow);
    refuse(res,
           error_with_status(405, fmt::format("{} does not accept {}; use {}", req.path, req.method, route->method),
                             "invalid_request_error", "method_not_allowed"),
           has_body);
    return HandlerResponse::Handled;
  }
  if (route->needs_key && !options.api_key.empty()) {
    const std::string auth = req.get_header_value("Authorization");
    constexpr std::string_view kBearer = "bearer ";  // the scheme name is case-insensitive
    bool has_bearer = auth.size() > kBearer.size();
    for (size_t i = 0; has_bearer && i < kBearer.size(); ++i) {
      has_bearer = std::tolower(static_cast<unsigned char>(auth[i])) == kBearer[i];
    }
    if (!has_bearer || !same_key(std::string_view(auth).substr(kBearer.size()), options.api_key)) {
      res.set_header("WWW-Authenticate", "Bearer");
      refuse(res,
             error_with_status(401, has_bearer ? "incorrect API key provided"
                                               : "missing API key; send it as 'Authorization: Bearer KEY'",
                               "invalid_request_error", "invalid_api_key"),
             has_body);
      return HandlerResponse::Handled;
    }
  }
  if (route->method != "POST") return HandlerResponse::Unhandled;
  if (req.has_header("Content-Length")) {
    const std::string length = req.get_header_value("Content-Length");
    const uint64_t bytes = std::strtoull(length.c_str(), nullptr, 10);
    if (bytes > options.max_body_bytes) {
      // Refused from the header alone: none of the body is read.
      send_error_and_close(res, error_with_status(413, fmt::format("the request body is {} bytes; this server "
                                                                   "accepts at most {} bytes",
                                                                   bytes, options.max_body_bytes),
                                                  "invalid_request_error", "request_too_large"));
      return HandlerResponse::Handled;
    }
  } else if (req.get_header_value("Transfer-Encoding").find("chunked") == std::string::npos) {
    send_error_and_close(res, error_with_status(411, "the request has no Content-Length; send the JSON body with a "
                                                     "Content-Length header",
                                                "invalid_request_error", "length_required"));
    return HandlerResponse::Handled;
  }
  if (req.get_header_value("Content-Type").find("multipart/") != std::string::npos) {
    send_error_and_close(res, error_with_status(415, "multipart bodies are not accepted; send JSON (Content-Type: "
                                                     "application/json)",
                                                "invalid_request_error", "unsupported_media_type"));
    return HandlerResponse::Handled;
  }
  return HandlerResponse::Unhandled;
}

void HttpServer::Impl::after_response(const httplib::Request& req, const httplib::Response& res) {
  const RequestScope scope = std::exchange(t_request, RequestScope{});
  const double ms = scope.active ? std::chrono::duration<double, std::milli>(engine::Clock::now() - scope.start).count() : 0.0;
  const auto level = (scope.endpoint == "/health" || scope.endpoint == "/metrics") && res.status < 400
                         ? spdlog::level::debug
                         : spdlog::level::info;
  spdlog::log(level, "http: {} {} {} -> {} in {:.1f} ms (request {})", req.remote_addr, req.method, req.path,
              res.status, ms, res.get_header_value("X-Request-ID"));
}

// cpp-httplib's own errors (unparsable requests, bodies it refused) get a JSON body too.
HandlerResponse HttpServer::Impl::fill_error_body(const httplib::Request& req, httplib::Response& res) {
  if (res.has_header("Content-Type")) return HandlerResponse::Unhandled;  // our own error reply
  if (!res.has_header("X-Request-ID")) res.set_header("X-Request-ID", new_request_id());
  if (!res.has_header("Access-Control-Allow-Origin")) res.set_header("Access-Control-Allow-Origin", "*");
  std::string message;
  std::string code;
  switch (res.status) {
    case 400: message = "the HTTP request could not be parsed"; code = "bad_request"; break;
    case 404: message = fmt::format("no route for {} {}", req.method, req.path); code = "not_found"; break;
    case 413: message = fmt::format("the request body is larger than {} bytes", options.max_body_bytes);
              code = "request_too_large"; break;
    case 414: message = "the request URI is too long"; code = "uri_too_long"; break;
    default: message = fmt::format("HTTP error {}", res.status); code = "http_error"; break;
  }
  send_error(res, error_with_status(res.status, message, res.status >= 500 ? "server_error" : "invalid_request_error",
                                    code));
  return HandlerResponse::Handled;
}

void HttpServer::Impl::add_routes() {
  for (const WebAsset& asset : web_assets()) {
    http.Get(std::string(asset.path), [&asset](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-cache");
      res.set_content(asset.body.data(), asset.body.size(), std::string(asset.content_type).c_str());
    });
  }
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) { handle_health(ctx, res); });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) { handle_metrics(ctx, res); });
  for (const char* path : {"/v1/models", "/models"}) {
    http.Get(path, [this](const httplib::Request&, httplib::Response& res) { handle_models(ctx, res); });
  }

  using BodyHandler = void (*)(const ServerContext&, const std::string&, const ClientProbe&, httplib::Response&);
  const std::pair<const char*, BodyHandler> posts[] = {
      {"/v1/chat/completions", &handle_chat_completions},
      {"/chat/completions", &handle_chat_completions},
      {"/v1/completions", &handle_completions},
      {"/completions", &handle_completions},
      {"/tokenize", [](const ServerContext& c, const std::string& b, const ClientProbe&, httplib::Response& r) {
         handle_tokenize(c, b, r);
       }},
      {"/detokenize", [](const ServerContext& c, const std::string& b, const ClientProbe&, httplib::Response& r) {
         handle_detokenize(c, b, r);
       }},
  };
  for (const auto& [path, handler] : posts) {
    http.Post(path, [this, handler = handler](const httplib::Request& req, httplib::Response& res,
                                              const httplib::ContentReader& read) {
      // Chunked bodies have no Content-Length to check up front: count while reading.
      std::string body;
      bool too_large = false;
      const bool complete = read([&](const char* data, size_t size) {
        if (body.size() + size > options.max_body_bytes) {
          too_large = true;
          return false;
        }
        body.append(data, size);
        return true;
      });
      if (too_large) {
        const std::string message = fmt::format("the request body is larger than {} bytes", options.max_body_bytes);
        return send_error_and_close(res,
                                    error_with_status(413, message, "invalid_request_error", "request_too_large"));
      }
      if (!complete) {
        return send_error_and_close(res, error_with_status(400, "the request body could not be read completely",
                                                           "invalid_request_error", "bad_request"));
      }
      const ClientProbe client(req.remote_addr, req.remote_port, req.local_addr, req.local_port);
      handler(ctx, body, client, res);
    });
  }
}

HttpServer::HttpServer(ModelInfo model, engine::GenerationService& generator, ServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(model), generator, std::move(options))) {
  // A client that disconnects mid-reply must cost an error on write, not the process.
  std::signal(SIGPIPE, SIG_IGN);
  Impl& s = *impl_;
  const ServerOptions& o = s.options;
  s.http.new_task_queue = [&o] { return new HttpTaskQueue(4, o.max_http_threads); };
  s.http.set_read_timeout(o.read_timeout_s, 0);
  s.http.set_write_timeout(o.write_timeout_s, 0);
  s.http.set_keep_alive_timeout(o.keep_alive_timeout_s);
  s.http.set_keep_alive_max_count(100);
  s.http.set_payload_max_length(o.max_body_bytes);
  // cpp-httplib's default sets SO_REUSEPORT, which lets a second server share a port in use
  // without an error; SO_REUSEADDR only allows restarting over TIME_WAIT connections.
  // TCP_NODELAY (inherited by accepted sockets): replies go out as several small writes
  // (headers, body, one SSE event per token); with Nagle's algorithm each write after the first
  // waits for the client's delayed ACK, about 40 ms on a keep-alive connection.
  s.http.set_socket_options([&s](int socket) {
    int yes = 1;
    ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    ::setsockopt(socket, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
    s.listen_socket = socket;
  });
  s.http.set_pre_routing_handler(
      [&s](const httplib::Request& req, httplib::Response& res) { return s.before_routing(req, res); });
  s.http.set_error_handler(httplib::Server::HandlerWithResponse(
      [&s](const httplib::Request& req, httplib::Response& res) { return s.fill_error_body(req, res); }));
  s.http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("http: handler failed: {}", what);
    send_error(res, error_with_status(500, "internal server error: " + what, "server_error", std::nullopt));
  });
  // Counted before the reply is written (the logger runs after), so a client that reads
  // /metrics right after a reply sees it counted.
  s.http.set_post_routing_handler(
      [&s](const httplib::Request&, httplib::Response& res) { s.metrics.count_request(t_request.endpoint, res.status); });
  s.http.set_logger([&s](const httplib::Request& req, const httplib::Response& res) { s.after_response(req, res); });
  s.add_routes();
}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::bind() {
  Impl& s = *impl_;
  if (s.bound_port >= 0) return {};
  const ServerOptions& o = s.options;
  if (o.port < 0 || o.port > 65535) return invalid_argument("--port {} is out of range; use 0 to 65535", o.port);
  if (o.port == 0) {
    s.bound_port = s.http.bind_to_any_port(o.host);
  } else if (s.http.bind_to_port(o.host, o.port)) {
    s.bound_port = o.port;
  }
  // cpp-httplib listens with a backlog of 5: a burst of connections (or a busy machine that
  // runs its accept thread late) then sees SYNs dropped and 1 s retries. Raise it.
  if (s.bound_port >= 0 && s.listen_socket >= 0) ::listen(s.listen_socket, SOMAXCONN);
  if (s.bound_port < 0) {
    return io_error("cannot listen on {}:{}: the port is in use or the host is not an address of this machine; "
                    "try another --port or --host",
                    o.host, o.port);
  }
  const bool ipv6 = o.host.find(':') != std::string::npos;
  spdlog::info("listening on http://{}{}{}:{}", ipv6 ? "[" : "", o.host, ipv6 ? "]" : "", s.bound_port);
  return {};
}

int HttpServer::port() const { return impl_->bound_port; }

Status HttpServer::run() {
  if (impl_->bound_port < 0) return internal_error("HttpServer::run() called before bind()");
  if (!impl_->http.listen_after_bind() && !impl_->stopping.load()) {
    return io_error("the HTTP server stopped accepting connections on port {}", impl_->bound_port);
  }
  return {};
}

Status HttpServer::start() {
  STRATA_TRY(bind());
  Impl& s = *impl_;
  s.thread = std::thread([this] {
    if (Status status = run(); !status.ok()) spdlog::error("{}", status.message());
  });
  // stop() only takes effect on a server that is listening, so wait until it is.
  for (int i = 0; i < 5000 && !s.http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!s.http.is_running()) return internal_error("the HTTP server did not start within 5 s");
  return {};
}

void HttpServer::stop() {
  Impl& s = *impl_;
  s.stopping.store(true);
  s.http.stop();
  if (s.thread.joinable()) s.thread.join();
}

}  // namespace strata::server
