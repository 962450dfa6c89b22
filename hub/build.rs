//! Embeds the built front-end (`hub/web/dist`, made by `npm run build` in `hub/web`) in the
//! binary: writes a table of `include_bytes!` for every file into `OUT_DIR/web_assets.rs`.
//!
//! Without `dist`, a debug build embeds nothing (the pages answer 503 naming the command to
//! run), so `cargo build` and `cargo test` work on a machine without Node; a release build
//! fails with the same message, because a release binary without its pages is a mistake.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dist = manifest.join("web").join("dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-env-changed=SWITCHBOARD_WEB_OPTIONAL");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("web_assets.rs");
    let mut files = Vec::new();
    if dist.is_dir() {
        collect(&dist, &dist, &mut files);
    } else {
        let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
        let optional = std::env::var_os("SWITCHBOARD_WEB_OPTIONAL").is_some();
        let message = format!(
            "the web front-end is not built ({} is missing): run `npm ci && npm run build` in hub/web",
            dist.display()
        );
        if release && !optional {
            eprintln!("error: {message} (or set SWITCHBOARD_WEB_OPTIONAL=1 to build without the pages)");
            std::process::exit(1);
        }
        println!("cargo:warning={message}; the pages will answer 503");
    }
    files.sort();
    let mut code = String::from("/// Every built front-end file.\n");
    code.push_str("pub static ASSETS: &[super::Asset] = &[\n");
    for rel in files.iter().filter(|f| !f.ends_with(".gz")) {
        let full = dist.join(rel);
        let gz = format!("{rel}.gz");
        let gzip = if files.contains(&gz) {
            format!("Some(include_bytes!({:?}))", dist.join(&gz).display().to_string())
        } else {
            "None".to_owned()
        };
        let _ = writeln!(
            code,
            "    super::Asset {{ path: {rel:?}, body: include_bytes!({:?}), gzip: {gzip} }},",
            full.display().to_string()
        );
    }
    code.push_str("];\n");
    if let Err(e) = std::fs::write(&out, code) {
        eprintln!("error: cannot write {}: {e}", out.display());
        std::process::exit(1);
    }
}

/// Every file under `dir`, as `/`-separated paths relative to `root`.
fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            files.push(rel.join("/"));
        }
    }
}
