//! Dialtone's desktop app.
mod daemon;
mod text;

fn main() {
    let _ = relm4::gtk::init();
}
