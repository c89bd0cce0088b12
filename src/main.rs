fn main() {
    let _ = relm4::gtk::init();
}
