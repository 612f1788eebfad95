//! The CSV reader of the scan tests (`scan --csv`, `scan results --csv`).

/// Reads CSV as RFC 4180 writes it (quoted fields with doubled quotes, CRLF records).
pub fn read_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF");
                row.push(std::mem::take(&mut field));
                assert_eq!(row.len(), 10, "{row:?}");
                rows.push(std::mem::take(&mut row));
            }
            (false, '\n') => panic!("a record ends in LF alone"),
            (false, c) => field.push(c),
        }
    }
    assert!(row.is_empty() && field.is_empty(), "a cut last record");
    rows
}
