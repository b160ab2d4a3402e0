//! The `allot` command line as a user meets it: `--help` texts are golden files (a change to
//! them is a visible diff; refresh with `UPDATE_GOLDEN=1 cargo test -p allot-pipeline --test
//! cli`), and `allot demo` runs end to end with nothing but the binary.

use std::path::PathBuf;
use std::process::Command;

fn allot() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_allot"));
    // The tests must not pick up a developer's config or overrides.
    cmd.env_remove("ALLOT_CONFIG");
    for (k, _) in std::env::vars() {
        if k.starts_with("ALLOT__") {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1").env("COLUMNS", "100");
    cmd
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("the allot binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "{} differs; if the change is intended, rerun with UPDATE_GOLDEN=1",
        path.display()
    );
}

#[test]
fn help_texts_are_golden() {
    for sub in ["", "demo", "run", "replay", "generate", "topics", "config"] {
        let mut cmd = allot();
        if !sub.is_empty() {
            cmd.arg(sub);
        }
        let (ok, stdout, _) = run(cmd.arg("--help"));
        assert!(ok, "allot {sub} --help fails");
        let name = if sub.is_empty() {
            "help.txt".to_string()
        } else {
            format!("help-{sub}.txt")
        };
        golden(&name, &stdout);
    }
}

#[test]
fn topics_table_is_golden() {
    let (ok, stdout, _) = run(allot().arg("topics"));
    assert!(ok);
    golden("topics.txt", &stdout);
}

/// Reads `<label>: N` style numbers out of the summary.
fn number_after(text: &str, label: &str) -> u64 {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in:\n{text}"));
    text[at + label.len()..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in:\n{text}"))
}

#[test]
fn demo_runs_and_every_input_is_accounted_for() {
    let (ok, stdout, stderr) = run(allot()
        .args([
            "demo", "--quiet", "--days", "1", "--stores", "6", "--skus", "200",
        ])
        .env("ALLOT__WORKLOAD__BAD_RECORD_RATE", "0.01"));
    assert!(ok, "demo failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("allot demo finished"), "{stdout}");
    let input = number_after(&stdout, "input:");
    let accepted = number_after(&stdout, "outcome:");
    let duplicates = number_after(&stdout, "accepted,");
    let dead = number_after(&stdout, "duplicates,");
    assert!(
        input > 1_000,
        "a day of trading is more than {input} records"
    );
    assert!(
        dead > 0,
        "bad records were injected, none dead-lettered:\n{stdout}"
    );
    assert_eq!(
        accepted + duplicates + dead,
        input,
        "every input is accounted for:\n{stdout}"
    );
    let published = number_after(&stdout, "availability:");
    assert!(published > 0, "{stdout}");
}

#[test]
fn bad_config_is_refused_with_what_to_change() {
    let (ok, _, stderr) = run(allot()
        .args(["demo", "--quiet"])
        .env("ALLOT__RUNTIME__PARTITIONS", "0"));
    assert!(!ok);
    assert!(stderr.contains("ALLOT__RUNTIME__PARTITIONS"), "{stderr}");
    let (ok, _, stderr) = run(allot()
        .args(["config"])
        .env("ALLOT__RUNTIME__NO_SUCH_KEY", "1"));
    assert!(!ok);
    assert!(stderr.contains("no_such_key"), "{stderr}");
}
