//! Statements whose text depends on their input (a list of rows, optional filters), built together with their
//! arguments so that every value is bound and none is spliced into the text.

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, Row};

/// A statement and its arguments, one per `?`.
#[derive(Debug, Default)]
pub(super) struct Sql {
    text: String,
    args: Vec<Value>,
}

/// A text argument.
pub(super) fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

impl Sql {
    pub(super) fn new(text: &str) -> Self {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    /// Appends statement text (never a value: values go through `bind`).
    pub(super) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a `?` bound to `value`.
    pub(super) fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.text.push('?');
        self.args.push(value.into());
        self
    }

    /// Appends `other`, its text and its arguments.
    #[cfg(test)]
    pub(super) fn append(&mut self, other: Sql) -> &mut Self {
        self.text.push_str(&other.text);
        self.args.extend(other.args);
        self
    }

    /// Appends `(?, ?, …)`, one placeholder per value.
    pub(super) fn tuple(&mut self, values: impl IntoIterator<Item = Value>) -> &mut Self {
        self.text.push('(');
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(v);
        }
        self.text.push(')');
        self
    }

    /// Appends `VALUES (…), (…)`, one tuple per row.
    pub(super) fn values<R: IntoIterator<Item = Value>>(
        &mut self,
        rows: impl IntoIterator<Item = R>,
    ) -> &mut Self {
        self.text.push_str("VALUES ");
        for (i, row) in rows.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.tuple(row);
        }
        self
    }

    /// Runs the statement; the number of rows it changed.
    pub(super) fn execute(&self, conn: &Connection) -> rusqlite::Result<usize> {
        conn.prepare_cached(&self.text)?
            .execute(params_from_iter(&self.args))
    }

    /// Every row the statement returns, each through `map`.
    pub(super) fn rows<T>(
        &self,
        conn: &Connection,
        mut map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        let mut stmt = conn.prepare_cached(&self.text)?;
        let mut rows = stmt.query(params_from_iter(&self.args))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(map(row)?);
        }
        Ok(out)
    }

    /// The first row the statement returns, if any, through `map`.
    pub(super) fn row<T>(
        &self,
        conn: &Connection,
        map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Option<T>> {
        let mut stmt = conn.prepare_cached(&self.text)?;
        let mut rows = stmt.query(params_from_iter(&self.args))?;
        rows.next()?.map(map).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_tuples_bind_one_argument_per_placeholder() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a INTEGER, b TEXT)")
            .unwrap();
        let mut insert = Sql::new("INSERT INTO t (a, b) ");
        insert.values([
            [Value::from(1), text("x")],
            [Value::from(2), text("y'); --")],
        ]);
        assert_eq!(insert.execute(&conn).unwrap(), 2);
        let mut select = Sql::new("SELECT b FROM t WHERE a IN ");
        select.tuple([Value::from(2), Value::from(3)]);
        let found = select.rows(&conn, |r| r.get::<_, String>(0)).unwrap();
        assert_eq!(found, ["y'); --"]);
        let mut none = Sql::new("SELECT b FROM t WHERE a = ");
        none.bind(9);
        assert_eq!(none.row(&conn, |r| r.get::<_, String>(0)).unwrap(), None);
    }
}
