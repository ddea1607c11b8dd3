//! Property tests for both parsers: whatever the bytes, no panic, and either a batch of entries or
//! located errors (every error names its file; all but whole-file problems give a line).

use livebatch::diagnostic::code;
use livebatch::manifest::Input;
use livebatch::model::ApiTime;
use livebatch::validate::load_batch;
use proptest::prelude::*;

fn now() -> ApiTime {
    ApiTime::parse("2027-03-01T00:00:00Z").unwrap()
}

fn check(name: &str, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    let batch = load_batch(&[Input::path(&p)], now());
    let file_level = [code::EMPTY, code::IO, code::SHAPE, code::SYNTAX];
    for d in &batch.diagnostics {
        assert_eq!(&*d.location.file, p.display().to_string());
        if d.is_error() && d.location.line == 0 {
            assert!(file_level.contains(&d.code), "unlocated {d:?}");
        }
    }
    if batch.has_errors() {
        assert!(batch.diagnostics.iter().any(|d| d.is_error()));
    } else {
        // A clean batch: every entry has a real origin.
        for e in &batch.entries {
            assert!(e.origin.line > 0);
        }
    }
}

/// Every field the table knows, an annotation and a name no field has.
fn fields() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = livebatch::model::Field::ALL
        .iter()
        .map(|f| f.name())
        .collect();
    v.extend(["x-note", "Bogus"]);
    v
}

fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("cn-beijing".to_string()),
        Just("2027-03-02T00:00:00Z".to_string()),
        Just("1e3".to_string()),
        Just(" 5".to_string()),
        Just("-1".to_string()),
        Just("99999999999".to_string()),
        Just("\"[\"\"rtmp://a/b\"\"]\"".to_string()),
        Just("https://h.example/x".to_string()),
        "[a-z0-9,\"|:\\[\\] -]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn csv_never_panics(
        header in proptest::collection::vec(proptest::sample::select(fields()), 0..6),
        rows in proptest::collection::vec(proptest::collection::vec(cell(), 0..7), 0..5),
        crlf in any::<bool>(),
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut s = header.join(",");
        for r in rows {
            s.push_str(nl);
            s.push_str(&r.join(","));
        }
        check("m.csv", s.as_bytes());
    }

    #[test]
    fn yaml_never_panics(
        entries in proptest::collection::vec(
            proptest::collection::vec((proptest::sample::select(fields()), cell()), 0..5), 0..4),
        defaults in proptest::collection::vec((proptest::sample::select(fields()), cell()), 0..3),
    ) {
        let mut s = String::from("defaults:\n");
        for (k, v) in &defaults {
            s.push_str(&format!("  {k}: {v}\n"));
        }
        s.push_str("updates:\n");
        for e in entries {
            s.push_str("  -");
            if e.is_empty() {
                s.push_str(" {}\n");
            }
            for (i, (k, v)) in e.iter().enumerate() {
                let lead = if i == 0 { " " } else { "    " };
                s.push_str(&format!("{lead}{k}: {v}\n"));
            }
        }
        check("m.yaml", s.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        check("x.yaml", &bytes);
        check("x.csv", &bytes);
    }
}
