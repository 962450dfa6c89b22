//! The `switchboard` command line, run as a user would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn switchboard(db: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("SWITCHBOARD_DATABASE__URL", db)
        .env("SWITCHBOARD_LOG__FILTER", "error")
        .output()
        .expect("switchboard runs");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn kb_import_reads_a_folder_once_and_refuses_garbage() {
    let dir = std::env::temp_dir().join(format!("sb-kb-import-{}", std::process::id()));
    let docs = dir.join("articles");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("esim.md"),
        "---\nid: esim-activate\ntitle: Activating an eSIM\nlanguage: en\ntags: [esim]\n---\n\nScan the QR code \
         from your welcome e-mail in Settings > Mobile data > Add eSIM.\n",
    )
    .unwrap();
    let db = format!("sqlite://{}", dir.join("sb.db").display());
    let (ok, out) = switchboard(&db, &["kb", "import", docs.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("imported 1 documents") && out.contains("0 were there already"), "{out}");
    // A second import keeps what is there (trainers' edits survive).
    let (ok, out) = switchboard(&db, &["kb", "import", docs.to_str().unwrap()]);
    assert!(ok && out.contains("imported 0 documents") && out.contains("1 were there already"), "{out}");
    // A document without a title is refused with its file named, and nothing half-imported.
    std::fs::write(docs.join("bad.md"), "---\nid: bad\nlanguage: en\n---\nno title\n").unwrap();
    let (ok, out) = switchboard(&db, &["kb", "import", docs.to_str().unwrap()]);
    assert!(!ok && out.contains("bad.md"), "{out}");
    let (ok, out) = switchboard(&db, &["kb", "import", dir.join("missing").to_str().unwrap()]);
    assert!(!ok && out.contains("missing"), "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}
