#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace lorafa {

class SqliteStatement;

/// SQL text that can only come from a string literal in our source: no std::string, no
/// run-time concatenation, so data a user or a file supplies can reach SQLite only as a bound
/// parameter of a prepared statement. Literals join at compile time ("SELECT ..." " WHERE ...").
class SqlText {
public:
  template <std::size_t N>
  constexpr SqlText(const char (&literal)[N]) : m_text(literal) {} // NOLINT: implicit on purpose
  template <std::size_t N>
  SqlText(char (&buffer)[N]) = delete; // a writable buffer is run-time text
  SqlText(const std::string&) = delete;
  constexpr const char* c_str() const { return m_text; }

private:
  const char* m_text;
};

/// One SQLite connection (RAII). Errors throw StoreError naming the file and the operation.
class SqliteDatabase {
public:
  SqliteDatabase(const std::string& path, int flags);
  const std::string& path() const { return m_path; }
  sqlite3* handle() const { return m_db.get(); }
  /// Runs statements without results (no parameters).
  void exec(SqlText sql) const;
  SqliteStatement prepare(SqlText sql) const;
  int userVersion() const;
  /// PRAGMA user_version = version (a PRAGMA takes no bound parameters; an integer cannot inject).
  void setUserVersion(int version) const;
  [[noreturn]] void fail(const std::string& doing) const;

private:
  struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::string m_path;
  std::unique_ptr<sqlite3, Closer> m_db;
};

/// A prepared statement (RAII) with 1-based binds; step() returns true while a row is ready.
class SqliteStatement {
public:
  SqliteStatement(const SqliteDatabase& db, sqlite3_stmt* stmt) : m_db(&db), m_stmt(stmt) {}
  SqliteStatement& bind(int index, std::int64_t value);
  SqliteStatement& bind(int index, double value);
  SqliteStatement& bind(int index, const std::string& value);
  SqliteStatement& bind(int index, const std::optional<std::int64_t>& value);
  bool step();
  void run(); ///< step to completion, expecting no rows
  void reset();
  std::int64_t integer(int column) const { return sqlite3_column_int64(m_stmt.get(), column); }
  double real(int column) const { return sqlite3_column_double(m_stmt.get(), column); }
  std::string text(int column) const;
  bool isNull(int column) const { return sqlite3_column_type(m_stmt.get(), column) == SQLITE_NULL; }
  std::optional<std::int64_t> optionalInteger(int column) const {
    return isNull(column) ? std::nullopt : std::optional<std::int64_t>(integer(column));
  }

private:
  struct Finalizer {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
  };
  void check(int rc, const char* doing) const;
  const SqliteDatabase* m_db;
  std::unique_ptr<sqlite3_stmt, Finalizer> m_stmt;
};

/// BEGIN IMMEDIATE on construction, ROLLBACK on destruction unless commit() was called.
class SqliteTransaction {
public:
  explicit SqliteTransaction(const SqliteDatabase& db) : m_db(db) { m_db.exec("BEGIN IMMEDIATE"); }
  ~SqliteTransaction() {
    if (!m_done) sqlite3_exec(m_db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    m_db.exec("COMMIT");
    m_done = true;
  }
  SqliteTransaction(const SqliteTransaction&) = delete;
  SqliteTransaction& operator=(const SqliteTransaction&) = delete;

private:
  const SqliteDatabase& m_db;
  bool m_done = false;
};

} // namespace lorafa
