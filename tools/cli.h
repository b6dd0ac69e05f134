/** \file
 * The command-line convention of the four tools (weft-dump, weft-opt, weft-compile, weft-run), as
 * Unix tools keep one:
 *
 * - success: exit status 0; results on stdout (or in the file `-o` names);
 * - a bad command line (an unknown option, a missing or malformed value, no input): one line
 *   `tool: message` on stderr, exit status 2;
 * - bad input (a file that cannot be read or parsed, a wrong shape, weights that disagree):
 *   `tool: message` on stderr, exit status 1;
 * - a bug of Weft's: `tool: internal error: message`, exit status 1;
 * - `--help` and `--version` print to stdout and exit 0.
 *
 * Each tool's --help ends with `exit_status_help()`. Messages are one line: newlines in a
 * message become "; ".
 */
#pragma once

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "ir/error.h"

#ifndef WEFT_VERSION
#define WEFT_VERSION "unknown"
#endif

namespace weft::tools {

/// A bad command line found after parsing (exit status 2).
struct UsageError {
  std::string message;
};

/// "weft-opt 0.1.0", for --version.
inline std::string version_line(const std::string& tool) { return fmt::format("{} {}", tool, WEFT_VERSION); }

/// The paragraph every --help ends with.
inline std::string exit_status_help(const std::string& tool, const std::string& bad_input) {
  return fmt::format(
      "Exit status: 0 on success; 1 for bad input ({}); 2 for a bad command line. A failure prints one line "
      "on stderr, '{}: message'.",
      bad_input, tool);
}

/// Prints `tool: message` on one line. The tool's name is said once: a message that already starts
/// with `tool: `, or names it again after a prefix ("internal error: tool: ..."), loses the repeat.
inline void print_error(const std::string& tool, std::string message) {
  if (message.starts_with(tool + ": ")) message.erase(0, tool.size() + 2);
  const std::string repeated = ": " + tool + ": ";
  for (size_t at = message.find(repeated); at != std::string::npos; at = message.find(repeated, at))
    message.erase(at + 2, tool.size() + 2);
  std::string one_line;
  for (char c : message) {
    if (c == '\n')
      one_line += "; ";
    else
      one_line += c;
  }
  std::cerr << tool << ": " << one_line << '\n';
}

/// Sets up --version and the help footer of a CLI11 app.
inline void describe(CLI::App& app, const std::string& tool, const std::string& bad_input) {
  app.name(tool);
  app.set_version_flag("--version", version_line(tool));
  app.footer(exit_status_help(tool, bad_input));
}

/// Runs CLI11's parse; returns -1 to go on, else the exit status (0 after --help or --version, 2
/// for a bad command line).
template <typename Parse>
int parse_with(CLI::App& app, const std::string& tool, const Parse& parse_args) {
  try {
    parse_args();
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    print_error(tool, fmt::format("{} (see {} --help)", e.what(), tool));
    return 2;
  }
  return -1;
}

inline int parse(CLI::App& app, const std::string& tool, int argc, char** argv) {
  return parse_with(app, tool, [&] { app.parse(argc, argv); });
}

/// The same for arguments already split, last first (CLI11's order for a vector).
inline int parse(CLI::App& app, const std::string& tool, std::vector<std::string> reversed_args) {
  return parse_with(app, tool, [&] { app.parse(reversed_args); });
}

/// Runs a tool's work and turns what it throws into the convention's line and exit status.
inline int run_main(const std::string& tool, const std::function<int()>& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    print_error(tool, e.message);
    return 2;
  } catch (const Error& e) {
    print_error(tool, e.what());
    return 1;
  } catch (const InternalError& e) {
    std::string message = e.what();
    print_error(tool, message.starts_with("internal error") ? message : "internal error: " + message);
    return 1;
  } catch (const std::exception& e) {
    print_error(tool, fmt::format("internal error: {}", e.what()));
    return 1;
  }
}

}  // namespace weft::tools
