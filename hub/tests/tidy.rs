//! Checks of the code's shape that the compiler does not make (see ARCHITECTURE.md,
//! "Invariants"): the pure crates stay free of I/O frameworks, every source file says what it is
//! for, and every route is registered through the documented route table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            if !matches!(name, "target" | "node_modules" | "fuzz" | "fuzz-sip" | "dist") && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_pure_crates_depend_on_neither_sqlx_nor_actix() {
    for krate in ["router", "bot", "knowledge-base"] {
        let manifest = fs::read_to_string(workspace().join(krate).join("Cargo.toml")).expect("manifest");
        let dependencies = manifest.split("[dev-dependencies]").next().unwrap_or_default();
        for forbidden in ["sqlx", "actix"] {
            assert!(
                !dependencies.lines().any(|l| l.trim_start().starts_with(forbidden)),
                "{krate} must not depend on {forbidden} (ARCHITECTURE.md, Invariants)"
            );
        }
    }
}

#[test]
fn every_source_file_starts_with_a_doc_line() {
    let mut files = Vec::new();
    for krate in ["schema", "channels", "router", "knowledge-base", "bot", "hub", "tests"] {
        rust_files(&workspace().join(krate), &mut files);
    }
    assert!(files.len() > 50, "found {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !fs::read_to_string(f).unwrap_or_default().starts_with("//!"))
        .map(|f| f.strip_prefix(workspace()).unwrap_or(f).display().to_string())
        .collect();
    assert!(missing.is_empty(), "these files do not start with a `//!` line: {missing:?}");
}

#[test]
fn routes_are_registered_only_through_the_documented_table() {
    // A route added with actix's `.route(...)`, `web::resource` or a manual scope would be served
    // without being in the OpenAPI document: every route is a `#[utoipa::path]` handler given to
    // `.service(...)` in its module's `routes`.
    let mut files = Vec::new();
    rust_files(&workspace().join("hub").join("src"), &mut files);
    for file in files {
        let text = fs::read_to_string(&file).unwrap_or_default();
        for forbidden in [".route(", "web::resource(", "web::scope(", "web::get()", "web::post()", "web::put()"] {
            assert!(
                !text.contains(forbidden),
                "{} registers a route with `{forbidden}`: use a #[utoipa::path] handler and `.service` \
                 in the module's `routes`",
                file.display()
            );
        }
    }
}

#[test]
fn services_do_not_know_actix() {
    let mut files = Vec::new();
    rust_files(&workspace().join("hub").join("src").join("services"), &mut files);
    for file in files {
        // Code only: the module docs may say what the layer must not do.
        let text: String = fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            !text.contains("actix"),
            "{} mentions actix: services are below the HTTP layer (ARCHITECTURE.md)",
            file.display()
        );
        assert!(
            !text.contains("crate::http") && !text.contains("AppState"),
            "{} reaches up into the HTTP layer",
            file.display()
        );
    }
}

#[test]
fn every_handler_is_in_the_route_table() {
    // A handler with an actix method attribute that no `routes` function registers is dead
    // (and undocumented); a module's `routes` that `http::routes` never configures likewise.
    let http = workspace().join("hub").join("src").join("http");
    let mut files = Vec::new();
    rust_files(&http, &mut files);
    let table: String =
        ["mod.rs", "ws/mod.rs"].iter().map(|f| fs::read_to_string(http.join(f)).unwrap_or_default()).collect();
    for file in files {
        let text = fs::read_to_string(&file).unwrap_or_default();
        let module = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let line = line.trim_start();
            if !["#[get(", "#[post(", "#[put(", "#[delete("].iter().any(|m| line.starts_with(m)) {
                continue;
            }
            let handler = lines[i + 1..]
                .iter()
                .find_map(|l| l.trim_start().strip_prefix("pub async fn "))
                .and_then(|rest| rest.split('(').next())
                .expect("a handler after its method attribute");
            assert!(
                text.contains(&format!(".service({handler})"))
                    || table.contains(&format!(".service({module}::{handler})")),
                "{}: the handler `{handler}` is not registered in its module's routes",
                file.display()
            );
        }
        for registrar in ["routes", "api_routes", "socket_routes"] {
            if text.contains(&format!("pub fn {registrar}(")) && module != "mod" {
                let parent = if file.parent().is_some_and(|p| p.ends_with("ws")) { "ws" } else { "" };
                let used = table.contains(&format!("{module}::{registrar}"))
                    || (parent == "ws" && table.contains(&format!("{module}::socket")));
                assert!(used, "{}: `{registrar}` is never configured in http::routes", file.display());
            }
        }
    }
}
