// strata tokenize: show how a model's vocabulary splits a text (like llama.cpp's llama-tokenize).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "cli/command.h"
#include "gguf/file.h"
#include "tokenizer/tokenizer.h"
#include "core/utf8.h"

namespace strata::cli {
namespace {

struct TokenizeArgs {
  std::string model;
  std::string prompt;
  bool from_stdin = false;
  bool ids_only = false;
  bool no_bos = false;
  bool parse_special = false;
};

// A piece as readable text: valid UTF-8 as is, any other byte (half of a character carried by
// a byte token) as \xNN.
std::string printable_piece(std::string_view piece) {
  std::string out;
  size_t pos = 0;
  while (pos < piece.size()) {
    const size_t length = utf8_sequence_length(piece, pos);
    if (length == 0) {
      out += fmt::format("\\x{:02X}", static_cast<uint8_t>(piece[pos]));
      ++pos;
    } else {
      out.append(piece.substr(pos, length));
      pos += length;
    }
  }
  return out;
}

Status run_tokenize(const TokenizeArgs& args, bool prompt_given) {
  if (prompt_given == args.from_stdin) {
    return invalid_argument("give the text with exactly one of -p TEXT or --stdin");
  }
  std::string text = args.prompt;
  if (args.from_stdin) {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (std::cin.bad()) return io_error("reading the text from standard input failed");
  }

  auto file = gguf::File::open(args.model);
  if (!file.ok()) return file.status();
  auto tok = tokenizer::Tokenizer::from_gguf(*file);
  if (!tok.ok()) return tok.status().with_context(fmt::format("'{}'", args.model));

  auto ids = tok->tokenize(text, {.add_special = !args.no_bos, .parse_special = args.parse_special});
  if (!ids.ok()) return ids.status();

  std::string out;
  if (args.ids_only) {
    out = fmt::format("[{}]\n", fmt::join(*ids, ", "));
  } else {
    for (tokenizer::TokenId id : *ids) {
      auto piece = tok->piece(id, /*render_special=*/true);
      if (!piece.ok()) return piece.status();
      out += fmt::format("{:6} -> '{}'\n", id, printable_piece(*piece));
    }
  }
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    return io_error("writing to standard output failed");
  }
  return {};
}

const bool registered = register_command({
    .name = "tokenize",
    .description = "print the tokens a model's vocabulary makes of a text (like llama-tokenize)",
    .order = 70,
    .setup =
        [](CLI::App& app) {
          auto args = std::make_shared<TokenizeArgs>();
          app.add_option("-m,--model", args->model, "GGUF file with a tokenizer (a model or a vocabulary)")
              ->required();
          CLI::Option* prompt = app.add_option("-p,--prompt", args->prompt, "the text to tokenize");
          app.add_flag("--stdin", args->from_stdin, "read the text from standard input instead of -p");
          app.add_flag("--ids", args->ids_only, "print only the ids, as one JSON array on one line");
          app.add_flag("--no-bos", args->no_bos,
                       "do not add the BOS (or EOS) tokens the vocabulary asks for");
          app.add_flag("--parse-special", args->parse_special,
                       "turn control-token text such as <|im_start|> into those tokens");
          return [args, prompt]() { return run_tokenize(*args, prompt->count() > 0); };
        },
});

}  // namespace
}  // namespace strata::cli
