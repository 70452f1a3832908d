//! Records the git commit the binary was built from, when the source is a git checkout, so that
//! run files can name it.

use std::path::Path;
use std::process::Command;

fn main() {
    let watched = [".git/HEAD", ".git/refs/heads", ".git/packed-refs"];
    let mut watching = false;
    for path in watched {
        if Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
            watching = true;
        }
    }
    if !watching {
        println!("cargo:rerun-if-changed=build.rs");
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    println!("cargo:rustc-env=RECLAB_GIT_COMMIT={commit}");
}
