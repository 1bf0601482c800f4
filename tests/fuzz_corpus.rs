//! Replays every file of the cargo-fuzz corpora (`fuzz/corpus/<target>/`) through the same
//! entry points the fuzz targets use, on stable, so CI catches a regression on any input a
//! fuzzer once found (DESIGN rule 5). A panic fails the test and names the file.

use std::path::Path;

use pstn_bridge::fuzzing;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 6] = [
    ("sip_message", fuzzing::sip_message),
    ("sip_framing", fuzzing::sip_framing),
    ("sdp_offer", fuzzing::sdp_offer),
    ("digest", fuzzing::digest),
    ("e164", fuzzing::e164),
    ("switchboard", fuzzing::switchboard),
];

fn replay(name: &str, target: Target) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for path in &files {
        let data = std::fs::read(path).expect("read corpus file");
        let outcome = std::panic::catch_unwind(|| target(&data));
        assert!(outcome.is_ok(), "{name}: {} panicked", path.display());
    }
    files.len()
}

macro_rules! corpus_test {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            let (name, target) = TARGETS
                .iter()
                .find(|(n, _)| *n == stringify!($name))
                .expect("target listed");
            let n = replay(name, *target);
            assert!(n >= 5, "corpus {name} has only {n} files");
        }
    )*};
}

corpus_test!(
    sip_message,
    sip_framing,
    sdp_offer,
    digest,
    e164,
    switchboard
);

#[test]
fn every_corpus_directory_has_a_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for entry in std::fs::read_dir(&root).expect("fuzz/corpus") {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            TARGETS.iter().any(|(n, _)| *n == name),
            "fuzz/corpus/{name} is replayed by no test"
        );
    }
}
