//! Rows a write appends to the append-only tables (the statistics ledger,
//! the audit log, the outbox), collected while the write runs and sent
//! together just before its commit. On PostgreSQL they go in one statement
//! (each insert but the last a data-modifying `WITH` part, which runs
//! whether or not the main part reads it); on SQLite one statement each.
//! A positive result's ledger deltas, audit entry and outbox event are
//! thereby one round trip instead of four.
//!
//! The caller writes them in the same transaction as the rows they
//! describe: what is collected and not written is simply lost with the
//! transaction it belonged to (an error on the way there rolls both back).

use std::borrow::Cow;

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, EntityName, EntityTrait, Iterable, TryIntoModel, Value};

use crate::db::Sql;
use crate::error::{AppError, AppResult};

/// The rows one write appends.
#[derive(Debug, Default)]
pub struct Appends {
    inserts: Vec<Insert>,
    /// How many of the first inserts are whole records
    /// ([`Appends::push_record`]), which the other rows may refer to.
    records: usize,
}

#[derive(Debug)]
struct Insert {
    table: &'static str,
    columns: Cow<'static, [&'static str]>,
    rows: Vec<Vec<Value>>,
}

impl Appends {
    /// Adds `rows` (values in the order of `columns`) for `table`: to the
    /// rows already added for the same table and columns, if any, so that
    /// each table is one insert.
    pub fn push(&mut self, table: &'static str, columns: &'static [&'static str], rows: Vec<Vec<Value>>) {
        debug_assert!(rows.iter().all(|row| row.len() == columns.len()), "a row of {table} does not fit its columns");
        if rows.is_empty() {
            return;
        }
        match self.inserts.iter_mut().find(|insert| insert.table == table && *insert.columns == *columns) {
            Some(insert) => insert.rows.extend(rows),
            None => self.inserts.push(Insert { table, columns: Cow::Borrowed(columns), rows }),
        }
    }

    /// Adds `record`, every column set (its ID drawn beforehand), as a row
    /// of its table, ahead of the rows that are not records (which may
    /// refer to it), and answers it as stored. On PostgreSQL the foreign
    /// keys of one statement are checked at its end, so the order matters
    /// on SQLite only, where each table is a statement of its own.
    pub fn push_record<A, M>(&mut self, record: A) -> AppResult<M>
    where
        A: ActiveModelTrait + TryIntoModel<M>,
        M: sea_orm::ModelTrait,
    {
        let table = A::Entity::default().table_name();
        let mut columns = Vec::new();
        let mut row = Vec::new();
        for column in <A::Entity as EntityTrait>::Column::iter() {
            let value = record.get(column).into_value().ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("an appended record of {table} leaves a column unset"))
            })?;
            columns.push(sea_orm::IdenStatic::as_str(&column));
            row.push(value);
        }
        let stored = record.try_into_model()?;
        let columns: Cow<'static, [&'static str]> = Cow::Owned(columns);
        match self.inserts[..self.records].iter_mut().find(|insert| insert.table == table) {
            Some(insert) => insert.rows.push(row),
            None => {
                self.inserts.insert(self.records, Insert { table, columns, rows: vec![row] });
                self.records += 1;
            }
        }
        Ok(stored)
    }

    /// Sends the rows collected.
    pub async fn write(self, db: &impl ConnectionTrait) -> AppResult<()> {
        self.write_ending(db, None::<fn(&mut Sql)>).await.map(|_| ())
    }

    /// Sends the rows collected, then the statement `last` writes into the
    /// builder it is given: on PostgreSQL the main part of the same
    /// statement, on SQLite a statement of its own after the others.
    /// Answers how many rows `last` affected (0 without it).
    pub(crate) async fn write_ending(
        self,
        db: &impl ConnectionTrait,
        last: Option<impl FnOnce(&mut Sql)>,
    ) -> AppResult<u64> {
        let backend = db.get_database_backend();
        let Appends { mut inserts, .. } = self;
        if backend == DbBackend::Postgres {
            let main = match last {
                Some(last) => Main::Given(last),
                None => match inserts.pop() {
                    Some(insert) => Main::Insert(insert),
                    None => return Ok(0),
                },
            };
            let mut sql = Sql::new(backend);
            for (n, insert) in inserts.into_iter().enumerate() {
                sql.push(if n == 0 { "WITH " } else { ", " });
                sql.push(&format!("appended_{n} AS ("));
                insert.write(&mut sql);
                sql.push(") ");
            }
            let given = matches!(main, Main::Given(_));
            match main {
                Main::Given(last) => last(&mut sql),
                Main::Insert(insert) => insert.write(&mut sql),
            }
            let affected = db.execute_raw(sql.build()).await?.rows_affected();
            return Ok(if given { affected } else { 0 });
        }
        for insert in inserts {
            let mut sql = Sql::new(backend);
            insert.write(&mut sql);
            db.execute_raw(sql.build()).await?;
        }
        match last {
            Some(last) => {
                let mut sql = Sql::new(backend);
                last(&mut sql);
                Ok(db.execute_raw(sql.build()).await?.rows_affected())
            }
            None => Ok(0),
        }
    }
}

enum Main<F> {
    Given(F),
    Insert(Insert),
}

impl Insert {
    fn write(self, sql: &mut Sql) {
        let columns: Vec<String> = self.columns.iter().map(|column| format!("\"{column}\"")).collect();
        sql.push(&format!("INSERT INTO {} ({}) VALUES ", self.table, columns.join(", ")));
        for (r, row) in self.rows.into_iter().enumerate() {
            sql.push(if r == 0 { "(" } else { ", (" });
            for (c, value) in row.into_iter().enumerate() {
                if c > 0 {
                    sql.push(", ");
                }
                sql.bind(value);
            }
            sql.push(")");
        }
    }
}
