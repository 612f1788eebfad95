//! Result rows read as tuples, column `i` into element `i`, on both backends: the queries of
//! this module read most of their rows that way, and one reader per backend keeps them from
//! spelling out every column again.
//!
//! rusqlite converts a row to a tuple itself (`TryFrom<&Row>`); tokio-postgres has no such
//! conversion, so [`FromPostgresRow`] gives it one, for the tuple sizes these queries use.

use tokio_postgres::types::FromSqlOwned;

/// Every row of `sql` with `params` on SQLite, each as the tuple `T`.
pub(super) fn sqlite_rows<T>(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<T>>
where
    T: for<'a> TryFrom<&'a rusqlite::Row<'a>, Error = rusqlite::Error>,
{
    let mut statement = tx.prepare_cached(sql)?;
    statement.query_map(params, |row| row.try_into())?.collect()
}

/// A value read from one PostgreSQL row: for a tuple, column `i` into element `i`.
pub(super) trait FromPostgresRow: Sized {
    /// The value of `row`; an error when a column is missing or of another type.
    fn from_postgres_row(row: &tokio_postgres::Row) -> Result<Self, tokio_postgres::Error>;
}

/// Implements [`FromPostgresRow`] for a tuple of the given (column index, element type) pairs.
macro_rules! tuple_from_postgres_row {
    ($($index:tt $field:ident),+) => {
        impl<$($field: FromSqlOwned),+> FromPostgresRow for ($($field,)+) {
            fn from_postgres_row(
                row: &tokio_postgres::Row,
            ) -> Result<Self, tokio_postgres::Error> {
                Ok(($(row.try_get::<_, $field>($index)?,)+))
            }
        }
    };
}

tuple_from_postgres_row!(0 A, 1 B, 2 C);
tuple_from_postgres_row!(0 A, 1 B, 2 C, 3 D, 4 E);
tuple_from_postgres_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F);
tuple_from_postgres_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G);
tuple_from_postgres_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H);
tuple_from_postgres_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I);

/// Every row of a PostgreSQL result, each as `T`.
pub(super) fn postgres_rows<T: FromPostgresRow>(
    rows: &[tokio_postgres::Row],
) -> Result<Vec<T>, tokio_postgres::Error> {
    rows.iter().map(T::from_postgres_row).collect()
}
