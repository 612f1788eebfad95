use proptest::prelude::*;

use super::*;
use crate::{policy_lint, report_lint, sts_record};

fn policy_text(bytes: &[u8]) -> String {
    let lint = policy_lint::lint(bytes);
    let source = Source {
        name: "p.txt",
        bytes,
        single_line: false,
        stopped_after: None,
    };
    render(&source, &lint, "verdict", false)
}

/// The lines of output that echo the source (`12 | text`), without the gutter.
fn echoed(out: &str) -> Vec<&str> {
    out.lines()
        .filter_map(|line| line.split_once(" | "))
        .filter(|(gutter, _)| gutter.trim().chars().all(|c| c.is_ascii_digit()))
        .map(|(_, text)| text)
        .filter(|text| !text.trim_start().starts_with('^'))
        .collect()
}

#[test]
fn caret_sits_under_the_column() {
    let out = policy_text(b"version: STSv1\nmode: report\nmx: a.b.test\nmax_age: 86400\n");
    assert!(out.contains("error[mode-invalid]"), "{out}");
    assert!(out.contains(" --> p.txt:2:7\n"), "{out}");
    assert!(
        out.contains("2 | mode: report\n  |       ^^^^^^\n"),
        "{out}"
    );
}

#[test]
fn record_diagnostics_show_the_record() {
    let text = "v=STSv1; id=a-b";
    let lint = sts_record::lint(text);
    let source = Source {
        name: "record",
        bytes: text.as_bytes(),
        single_line: true,
        stopped_after: None,
    };
    let out = render(&source, &lint, "x", false);
    let expected = format!("  | v=STSv1; id=a-b\n  | {}^\n", " ".repeat(13));
    assert!(out.contains(&expected), "{out}");
    assert!(out.contains(" --> record, column 14\n"), "{out}");
}

#[test]
fn short_lines_are_shown_whole() {
    let s = snippet(b"mode: report", Some(7), 6);
    assert_eq!(s.text, "mode: report");
    assert_eq!((s.caret_at, s.caret_width), (6, 6));
}

#[test]
fn a_column_past_the_end_points_after_the_line() {
    let s = snippet(b"mode:", Some(6), 1);
    assert_eq!(
        (s.text.as_str(), s.caret_at, s.caret_width),
        ("mode:", 5, 1)
    );
}

#[test]
fn a_long_line_is_cut_around_the_column() {
    let mut line = "a".repeat(5_000);
    line.replace_range(3_000..3_001, "X");
    let s = snippet(line.as_bytes(), Some(3_001), 1);
    assert!(
        s.text.starts_with('…') && s.text.ends_with('…'),
        "{}",
        s.text
    );
    assert!(s.text.chars().count() <= SNIPPET_WIDTH + 2);
    assert_eq!(s.text.chars().nth(s.caret_at), Some('X'), "{}", s.text);
    assert_eq!(s.caret_at, 1 + CONTEXT_BEFORE);
    assert_eq!(s.caret_width, 1);
}

#[test]
fn the_start_of_a_long_line_is_not_cut_on_the_left() {
    let line = format!("mx: {}", "b".repeat(1_000));
    let s = snippet(line.as_bytes(), Some(5), 1_000);
    assert!(
        s.text.starts_with("mx: bbb") && s.text.ends_with('…'),
        "{}",
        s.text
    );
    assert_eq!(s.text.chars().count(), SNIPPET_WIDTH + 1);
    // The finding runs past the cut: the caret covers the rest, `…` included.
    assert_eq!((s.caret_at, s.caret_width), (4, SNIPPET_WIDTH - 4 + 1));
}

#[test]
fn columns_of_long_unicode_lines_are_found_through_checkpoints() {
    // Two bytes per column, so byte and column offsets differ.
    let mut line = "é".repeat(3_000);
    line.push('X');
    line.push_str(&"é".repeat(3_000));
    let s = snippet(line.as_bytes(), Some(3_001), 1);
    assert_eq!(s.text.chars().nth(s.caret_at), Some('X'), "{}", s.text);
    assert!(s.text.chars().count() <= SNIPPET_WIDTH + 2);
}

#[test]
fn control_bytes_and_escapes_are_shown_escaped() {
    let s = snippet(b"mode: \x1b[2Jenforce\x00\t\x7f", Some(7), 1);
    assert_eq!(s.text, "mode: \\x1b[2Jenforce\\x00\\t\\x7f");
    // The caret covers the whole escape of the column it points at.
    assert_eq!((s.caret_at, s.caret_width), (6, 4));
}

#[test]
fn invalid_utf8_and_invisible_characters_are_shown_escaped() {
    let s = snippet("a\u{200b}b\u{202e}c\u{feff}\u{85}".as_bytes(), None, 1);
    assert_eq!(s.text, "a\\u{200b}b\\u{202e}c\\u{feff}\\u{85}");
    let s = snippet(b"mode: \xff\xfeok", Some(7), 1);
    // A lossy decoding shows one replacement character per invalid run: one column each.
    assert_eq!(s.text, "mode: \\xff\\xfeok");
    assert_eq!((s.caret_at, s.caret_width), (6, 4));
    let s = snippet(b"mode: \xff\xfeok", Some(9), 1);
    assert_eq!(s.caret_at, 14);
}

#[test]
fn escapes_before_the_column_keep_the_caret_in_view() {
    let mut line = vec![0u8; 3_000];
    line.push(b'X');
    let s = snippet(&line, Some(3_001), 1);
    assert!(s.text.chars().count() <= SNIPPET_WIDTH + 2, "{}", s.text);
    let from_caret: String = s.text.chars().skip(s.caret_at).collect();
    assert_eq!(from_caret, "X", "{}", s.text);
}

#[test]
fn long_words_in_messages_are_elided_in_the_middle() {
    let domain = format!("{}.example.com", "a".repeat(100_000));
    let text = message_text(&format!("`{domain}` is not a valid pattern"));
    assert!(
        text.ends_with("example.com` is not a valid pattern"),
        "{text}"
    );
    assert!(text.chars().count() < 100, "{text}");
    let many = "word ".repeat(10_000);
    assert!(message_text(&many).chars().count() <= MESSAGE_WIDTH);
    assert_eq!(
        message_text("mode `\x1b[2J` is bad"),
        "mode `\\x1b[2J` is bad"
    );
}

#[test]
fn only_so_many_diagnostics_of_a_code_are_drawn() {
    let body = format!("version: STSv1\n{}", "\n".repeat(500));
    let out = policy_text(body.as_bytes());
    assert_eq!(out.matches("warning[blank-line]:").count(), SHOWN_PER_CODE);
    assert!(
        out.contains("480 more warning[blank-line] not shown here"),
        "{out}"
    );
    // The count still counts them all.
    assert!(out.contains(" 500 warnings"), "{out}");
}

#[test]
fn a_binary_file_echoes_no_raw_bytes() {
    let mut binary: Vec<u8> = (0u8..=255).cycle().take(70_000).collect();
    binary.splice(0..0, b"\x7fELF".iter().copied());
    let out = policy_text(&binary);
    assert!(out.contains("policy-not-utf8"), "{out}");
    assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out}");
}

#[test]
fn report_snippets_are_cut_on_one_long_line() {
    let detail = r#"{"result-type":"certificate-expired","failed-session-count":1,"x-extra":1}"#;
    let details = vec![detail; 2_000].join(",");
    let report = format!(
        r#"{{"organization-name":"o","date-range":{{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-01T23:59:59Z"}},"contact-info":"c","report-id":"r","policies":[{{"policy":{{"policy-type":"no-policy-found","policy-domain":"example.com"}},"summary":{{"total-successful-session-count":0,"total-failure-session-count":2000}},"failure-details":[{details}]}}]}}"#
    );
    let lint = report_lint::lint(report.as_bytes());
    assert!(
        lint.diagnostics.len() > SHOWN_PER_CODE,
        "{:?}",
        lint.diagnostics
    );
    let source = Source {
        name: "r.json",
        bytes: report.as_bytes(),
        single_line: false,
        stopped_after: None,
    };
    let out = render(&source, &lint, "v", false);
    for line in echoed(&out) {
        assert!(line.chars().count() <= SNIPPET_WIDTH + 2, "{line}");
    }
    assert!(out.len() < 100_000, "{} bytes", out.len());
}

proptest! {
    #[test]
    fn rendering_never_echoes_a_control_character_and_bounds_snippets(
        body in proptest::collection::vec(any::<u8>(), 0..3_000),
        long in 0usize..3,
    ) {
        // Sometimes one very long line, so that cutting is exercised.
        let mut body = body;
        if long > 0 {
            body.extend(std::iter::repeat_n(b'x', 2_000 * long));
            body.extend_from_slice(b"\x1b: \xff\x00\n");
        }
        let out = policy_text(&body);
        prop_assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{}", out);
        prop_assert!(!out.chars().any(is_invisible), "{}", out);
        for line in echoed(&out) {
            prop_assert!(line.chars().count() <= SNIPPET_WIDTH + 2, "{}", line);
        }
    }

    #[test]
    fn snippets_keep_the_caret_inside_the_bounded_line(
        line in proptest::collection::vec(any::<u8>(), 0..2_000),
        column in 1usize..2_500,
        width in 0usize..300,
    ) {
        let s = snippet(&line, Some(column), width);
        let cells = s.text.chars().count();
        prop_assert!(cells <= SNIPPET_WIDTH + 2);
        prop_assert!(!s.text.chars().any(char::is_control));
        prop_assert!(s.caret_at <= cells);
        prop_assert!(s.caret_at + s.caret_width <= cells.max(s.caret_at + 1));
    }
}
