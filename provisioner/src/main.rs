//! `skiff`: the provisioning CLI. Not built yet; see the provisioner issue.
fn main() {
    eprintln!("skiff: the provisioner is not built yet");
    std::process::exit(2);
}
