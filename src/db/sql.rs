//! The one SQL builder for statements written by hand: placeholders for
//! either database, values always bound (never spliced into the text).

use sea_orm::{DbBackend, Statement, Value};

/// Builds a statement piece by piece, each value bound as a placeholder
/// (`$n` on PostgreSQL, `?` on SQLite).
#[derive(Debug)]
pub struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(backend: DbBackend) -> Self {
        Sql { backend, text: String::new(), values: Vec::new() }
    }

    /// Appends SQL text (never a value from a client).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        if self.backend == DbBackend::Postgres {
            self.text.push_str(&format!("${}", self.values.len()));
        } else {
            self.text.push('?');
        }
        self
    }

    /// Appends placeholders bound to `values`, separated by commas (for
    /// `IN (…)`).
    pub fn bind_list<V: Into<Value>>(&mut self, values: impl IntoIterator<Item = V>) -> &mut Self {
        for (n, value) in values.into_iter().enumerate() {
            if n > 0 {
                self.text.push_str(", ");
            }
            self.bind(value);
        }
        self
    }

    pub fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }

    /// A statement written with numbered placeholders (`$1`, `$2`, …, each
    /// usable more than once), for either database: SQLite reads them as
    /// `?1`, `?2`, ….
    pub fn numbered(backend: DbBackend, text: &str, values: impl IntoIterator<Item = Value>) -> Statement {
        let text = if backend == DbBackend::Postgres { text.to_owned() } else { numbered_for_sqlite(text) };
        Statement::from_sql_and_values(backend, text, values)
    }
}

/// `$n` → `?n` outside quoted text.
fn numbered_for_sqlite(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '$' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => out.push('?'),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_database_and_values_stay_bound() {
        let mut sql = Sql::new(DbBackend::Postgres);
        sql.push("SELECT 1 WHERE a = ").bind(5).push(" AND b IN (").bind_list([1, 2]).push(")");
        let statement = sql.build();
        assert_eq!(statement.sql, "SELECT 1 WHERE a = $1 AND b IN ($2, $3)");
        assert_eq!(statement.values.map(|v| v.0.len()), Some(3));
        let mut sql = Sql::new(DbBackend::Sqlite);
        sql.push("SELECT 1 WHERE a = ")
            .bind("x'; DROP TABLE patients; --")
            .push(" AND b IN (")
            .bind_list([1])
            .push(")");
        assert_eq!(sql.build().sql, "SELECT 1 WHERE a = ? AND b IN (?)");
    }

    #[test]
    fn numbered_placeholders_read_the_same_on_both_databases() {
        let text = "SELECT $1, '$2 stays', $2, $1";
        assert_eq!(Sql::numbered(DbBackend::Postgres, text, [Value::from(1)]).sql, text);
        assert_eq!(Sql::numbered(DbBackend::Sqlite, text, [Value::from(1)]).sql, "SELECT ?1, '$2 stays', ?2, ?1");
    }
}
