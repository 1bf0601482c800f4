//! `pstn-bridge-loadgen`: see `pstn_bridge::loadgen` and README "Load testing".

fn main() -> std::process::ExitCode {
    pstn_bridge::loadgen::main()
}
