//! Dialtone's desktop app.
mod assistant;
mod daemon;
mod editor;
mod text;

fn main() {
    let _ = relm4::gtk::init();
}
