use super::*;

fn section(text: &str, name: &str) -> BTreeMap<String, String> {
    Ini::parse(text)
        .expect("it parses")
        .section(name)
        .expect("the section exists")
        .expect("it interpolates")
}

#[test]
fn keys_are_lowercased_and_values_trimmed_with_either_delimiter() {
    let values = section("[s]\nSocketName = /run/x.sock \nlog_level: debug\n", "s");
    assert_eq!(values["socketname"], "/run/x.sock");
    assert_eq!(values["log_level"], "debug");
}

#[test]
fn the_first_delimiter_splits_and_later_ones_are_value() {
    let values = section(
        "[s]\nstorage = sqlite:///tmp/x.sqlite\nhttp_script = curl --header 'A: b'\n",
        "s",
    );
    assert_eq!(values["storage"], "sqlite:///tmp/x.sqlite");
    assert_eq!(values["http_script"], "curl --header 'A: b'");
}

#[test]
fn whole_line_comments_only() {
    // configparser's default has no inline comments: "# x" after a value is part of it.
    let values = section(
        "# top\n[s]\n  ; indented comment\nkey = a # not a comment\n",
        "s",
    );
    assert_eq!(values["key"], "a # not a comment");
    assert_eq!(values.len(), 1);
}

#[test]
fn continuation_lines_and_blank_lines_inside_values() {
    let values = section("[s]\nkey = one\n  two\n\n  three\nnext = x\n\n", "s");
    assert_eq!(values["key"], "one\ntwo\n\nthree");
    assert_eq!(values["next"], "x");
}

#[test]
fn default_section_keys_are_seen_by_every_section() {
    let text = "[DEFAULT]\nlog_level = info\ndir = /var/lib/tlsrpt\n[a]\nstorage = sqlite://%(dir)s/a.sqlite\n[b]\nlog_level = debug\n";
    let a = section(text, "a");
    assert_eq!(a["log_level"], "info");
    assert_eq!(a["storage"], "sqlite:///var/lib/tlsrpt/a.sqlite");
    assert_eq!(section(text, "b")["log_level"], "debug");
    let ini = Ini::parse(text).expect("it parses");
    assert_eq!(ini.section_names().collect::<Vec<_>>(), ["a", "b"]);
    assert!(ini.section("DEFAULT").is_none());
}

#[test]
fn percent_signs_interpolate() {
    let values = section(
        "[s]\nwho = x\nscript = curl -w %%{http_code} --user %(WHO)s\n",
        "s",
    );
    assert_eq!(values["script"], "curl -w %{http_code} --user x");
}

#[test]
fn bad_files_are_refused_with_the_line() {
    for (text, line) in [
        ("key = value\n", Some(1)),
        ("[s]\nkey = 1\nKEY = 2\n", Some(3)),
        ("[s]\n[s]\n", Some(2)),
        ("[s]\njust words\n", Some(2)),
        ("[s]\n= value\n", Some(2)),
        ("[]\n", Some(1)),
    ] {
        let error = Ini::parse(text).expect_err(text);
        assert_eq!(error.line, line, "{text}: {}", error.message);
    }
    for text in [
        "[s]\nkey = 50%\n",
        "[s]\nkey = %(missing)s\n",
        "[s]\na = %(b)s\nb = %(a)s\n",
    ] {
        let ini = Ini::parse(text).expect(text);
        let error = ini.section("s").expect("section").expect_err(text);
        assert_eq!(error.line, None);
        assert!(!error.message.is_empty());
    }
}
