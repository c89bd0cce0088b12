//! Accessible names and descriptions for widgets.
//!
//! gtk4-rs 0.11 offers the `GtkAccessible` interface only with its `v4_10`
//! feature, which needs GTK 4.10 to build; the C function behind
//! `update_property`, `gtk_accessible_update_property_value`, is in every
//! GTK 4 (GTK 4.8 here). This declares and calls it.

use std::ffi::{c_int, c_void};

use relm4::gtk;
use relm4::gtk::glib;
use relm4::gtk::glib::translate::{IntoGlib, ToGlibPtr};
use relm4::gtk::glib::value::ToValue;
use relm4::gtk::prelude::*;

extern "C" {
    // GTK 4.0+: void gtk_accessible_update_property_value (GtkAccessible *self,
    //     int n_properties, GtkAccessibleProperty properties[], const GValue values[]);
    fn gtk_accessible_update_property_value(
        accessible: *mut c_void,
        n_properties: c_int,
        properties: *mut c_int,
        values: *const glib::gobject_ffi::GValue,
    );
}

fn update(widget: &impl IsA<gtk::Widget>, property: gtk::AccessibleProperty, text: &str) {
    let value = text.to_value();
    let mut properties: [c_int; 1] = [property.into_glib()];
    let instance: *mut gtk::ffi::GtkWidget = widget.as_ref().to_glib_none().0;
    // SAFETY: every GtkWidget implements GtkAccessible; one property and
    // one initialized string GValue (the type LABEL and DESCRIPTION take),
    // both alive for the call; GTK copies the value.
    unsafe {
        gtk_accessible_update_property_value(
            instance.cast(),
            1,
            properties.as_mut_ptr(),
            value.to_glib_none().0,
        );
    }
}

/// Setting a widget's accessible name and description.
pub trait A11yExt: IsA<gtk::Widget> {
    /// The name assistive technologies read (and tests find it by).
    fn set_a11y_label(&self, label: &str) {
        update(self, gtk::AccessibleProperty::Label, label);
    }

    /// A longer description, read after the name.
    fn set_a11y_description(&self, description: &str) {
        update(self, gtk::AccessibleProperty::Description, description);
    }
}

impl<T: IsA<gtk::Widget>> A11yExt for T {}
