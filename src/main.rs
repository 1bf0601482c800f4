fn main() {
    match pstn_bridge::config::load(std::env::args().nth(1).as_deref().map(std::path::Path::new)) {
        Ok(c) => println!("{c:#?}"),
        Err(e) => println!("ERR {e}"),
    }
}
