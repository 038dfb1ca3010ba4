#include "SqliteDatabase.h"

#include "lorafa/StoreError.h"

namespace lorafa {

SqliteDatabase::SqliteDatabase(const std::string& path, int flags) : m_path(path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  m_db.reset(raw); // closed even when opening failed
  if (rc != SQLITE_OK) {
    throw StoreError(path + ": cannot open the run history database: " +
                     (raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 10000); // the writer thread and other processes share the file
}

void SqliteDatabase::fail(const std::string& doing) const {
  throw StoreError(m_path + ": " + doing + ": " + sqlite3_errmsg(m_db.get()));
}

void SqliteDatabase::exec(SqlText sql) const {
  if (sqlite3_exec(m_db.get(), sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    fail("running \"" + std::string(sql.c_str()).substr(0, 60) + "\"");
  }
}

SqliteStatement SqliteDatabase::prepare(SqlText sql) const {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(m_db.get(), sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    fail("preparing \"" + std::string(sql.c_str()).substr(0, 60) + "\"");
  }
  return SqliteStatement(*this, stmt);
}

void SqliteDatabase::setUserVersion(int version) const {
  const std::string sql = "PRAGMA user_version = " + std::to_string(version);
  if (sqlite3_exec(m_db.get(), sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    fail("setting the schema version");
  }
}

int SqliteDatabase::userVersion() const {
  SqliteStatement s = prepare("PRAGMA user_version");
  s.step();
  return static_cast<int>(s.integer(0));
}

void SqliteStatement::check(int rc, const char* doing) const {
  if (rc != SQLITE_OK) m_db->fail(doing);
}

SqliteStatement& SqliteStatement::bind(int index, std::int64_t value) {
  check(sqlite3_bind_int64(m_stmt.get(), index, value), "binding a value");
  return *this;
}

SqliteStatement& SqliteStatement::bind(int index, double value) {
  check(sqlite3_bind_double(m_stmt.get(), index, value), "binding a value");
  return *this;
}

SqliteStatement& SqliteStatement::bind(int index, const std::string& value) {
  check(sqlite3_bind_text(m_stmt.get(), index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT),
        "binding a value");
  return *this;
}

SqliteStatement& SqliteStatement::bind(int index, const std::optional<std::int64_t>& value) {
  check(value ? sqlite3_bind_int64(m_stmt.get(), index, *value) : sqlite3_bind_null(m_stmt.get(), index),
        "binding a value");
  return *this;
}

bool SqliteStatement::step() {
  const int rc = sqlite3_step(m_stmt.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  m_db->fail("executing a statement");
}

void SqliteStatement::run() {
  while (step()) {
  }
}

void SqliteStatement::reset() {
  sqlite3_reset(m_stmt.get());
  sqlite3_clear_bindings(m_stmt.get());
}

std::string SqliteStatement::text(int column) const {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(m_stmt.get(), column));
  return data != nullptr ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(m_stmt.get(), column)))
                         : std::string();
}

} // namespace lorafa
