use super::postgres_sql;

#[test]
fn numbered_parameters_become_dollars() {
    assert_eq!(
        postgres_sql("SELECT a FROM t WHERE b = ?1 AND c >= ?2 LIMIT ?10"),
        "SELECT a FROM t WHERE b = $1 AND c >= $2 LIMIT $10"
    );
}

#[test]
fn other_question_marks_stay() {
    // A bare `?` (or one before a non-digit) is not a numbered parameter.
    assert_eq!(postgres_sql("SELECT '?' , ?x, ?"), "SELECT '?' , ?x, ?");
}
