#!/usr/bin/python3
"""Drive the AT-SPI probe app (source in README-atspi.md) with atspi_driver
and check every widget kind Dialtone's GUI tests need.

Run as the test user, inside the app's session bus and X display (see
README-atspi.md). Exit status 0 = all checks passed; on failure the
DriverError message says what was looked for and dumps the tree, and a
screenshot "failure.png" is written.

    /usr/bin/python3 tests/gui/probe_check.py \
        --app-log "$W/app.out" --out "$W" [--lang de]

--app-log: the app's stdout (its "PROBE ..." lines) to cross-check that
typed text and clicks arrived in the app; --out: a directory writable by the
test user for screenshots; --lang de (default: taken from $LANGUAGE): also check that
GTK's own strings are German (run the app with LANGUAGE=de).
"""

import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import atspi_driver as d  # noqa: E402

T0 = time.monotonic()
TIMINGS = []


def step(msg):
    t = time.monotonic() - T0
    TIMINGS.append((t, msg))
    print(f"[{t:6.2f}s] {msg}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--app-name", default="dialtone-probe")
    ap.add_argument("--app-log", default=os.environ.get("ATSPI_APP_LOG"))
    ap.add_argument("--out", default=os.environ.get("ATSPI_ARTIFACTS", "."))
    ap.add_argument("--lang", default=os.environ.get("LANGUAGE", "").split(":")[0] or None,
                    help="'de': expect GTK's own strings in German (default: from $LANGUAGE)")
    ap.add_argument("--startup-timeout", type=float, default=30)
    args = ap.parse_args()

    def app_said(line, timeout=5):
        """Wait for a "PROBE <line>" line on the app's stdout."""
        if not args.app_log:
            return
        want = f"PROBE {line}\n"

        def pred():
            with open(args.app_log, encoding="utf-8") as f:
                return want in f.read()

        def diag():
            with open(args.app_log, encoding="utf-8") as f:
                return "  app stdout so far:\n" + "".join("    " + l for l in f.readlines()[-15:])

        d.wait_until(pred, timeout, f"the app to print {want.strip()!r} on stdout", diag)

    shot = lambda name: d.screenshot(os.path.join(args.out, name))  # noqa: E731

    try:
        step("waiting for the application on the AT-SPI bus")
        app = d.app(args.app_name, timeout=args.startup_timeout)
        win = d.window(app, "Dialtone Probe", "frame")
        d.find(win, "push button", "Connect")  # tree populated
        step(f"app {app.name!r} (pid {app.get_process_id()}, {app.get_toolkit_name()} "
             f"{app.get_toolkit_version()}) with its window")
        shot("01-start.png")

        # -- header bar: window buttons (translated by GTK), icon buttons
        close_name = {"de": "Schließen"}.get(args.lang, "Close")
        d.find(win, "push button", close_name)
        step(f"window close button is named {close_name!r}")
        settings = d.find(win, "push button", "Open settings")
        assert settings.description == "Settings", settings.description
        d.click(settings)
        app_said("clicked settings")
        about = d.find(win, "push button", "GtkImage")  # no accessible label: GTK 4.8 uses the child's type name
        assert about.description == "About", about.description
        step("icon buttons: accessible label -> name, tooltip -> description; clicked")

        # -- button + label that changes later; widgets shown/hidden meanwhile
        status = d.find(win, "label", "Disconnected")
        assert d.try_find(win, "label", "57600 bps", onscreen=False) is None  # hidden: not in the tree
        d.click(d.find(win, "push button", "Connect"))
        # "Cancel dialing" is only visible for the 1 s of "Connecting…": a tree
        # walk takes 0.3-0.7 s while the app is busy, so polling may miss it.
        # Report it, don't require it (tests must not rely on short-lived UI).
        seen_cancel = d.wait_until(
            lambda: ("seen" if d.try_find(win, "push button", "Cancel dialing", onscreen=False)
                     else "missed" if d.text_of(status) == "Connected" else None),
            5, "'Cancel dialing' to show up or the status to become 'Connected'")
        d.wait_text(status, "Connected", timeout=5)
        app_said("status Connected")
        d.find(win, "label", "57600 bps")  # set_visible(true): enters the tree
        d.find(win, "push button", "Disconnect")  # the button relabelled itself
        d.wait_gone(win, "push button", "Cancel dialing", timeout=3)
        step(f"Connect -> status label 'Connected' (1 s timer), hidden label shown; "
             f"transient Cancel button {seen_cancel}")

        # -- mnemonic button and check button
        d.click(d.find(win, "push button", "Dial now"))  # reported as "_Dial now Dial now"
        app_said("clicked dial")
        speaker = d.find(win, "check box", "Use modem speaker")  # reported as "Use modem _speaker"
        d.click(speaker)  # CheckButton has no AT-SPI action: this is a pointer click
        d.wait_state(speaker, "checked")
        app_said("speaker=true")
        step("mnemonic button clicked, check button checked")

        # -- entries through EditableText
        user = d.find(win, "text", "User name")  # name from the mnemonic label
        d.set_text(user, "alice")
        app_said("user=alice")
        d.wait_text(d.find(win, "label", re.compile("user: .*")), "user: alice")
        pw = d.find(win, "password text", "Password")
        d.set_text(pw, "s3cret ü")
        app_said("password=s3cret ü")
        phone = d.find(win, "text", "Phone number")  # adw::EntryRow
        d.set_text(phone, "+49 30 123456")
        app_said("phone=+49 30 123456")
        step("set_text: Entry, PasswordEntry, AdwEntryRow (read back + app stdout)")

        # -- entry through the real keyboard (pointer click + xdotool type)
        apn = d.find(win, "text", "Access point name")
        d.type_text(apn, "internet.example")
        app_said("apn=internet.example")
        d.type_text(apn, ".net", replace=False)
        app_said("apn=internet.example.net")
        step("type_text: pointer click into the entry + xdotool type (no window manager)")

        # -- libadwaita ActionRow with a switch
        row = d.find(win, "list item", "Auto reconnect")
        sw = d.find(row, "check box", "Auto reconnect")  # gtk::Switch is a "check box"
        assert not d.has_state(sw, "checked")
        d.click(sw)  # action "toggle"
        d.wait_state(sw, "checked")
        app_said("autoreconnect=true")
        step("ActionRow switch toggled, 'checked' state seen")

        # -- list box rows (no actions; Selection interface)
        lst = d.find(win, "list", "GtkListBox")  # unnamed list: GTK 4.8 reports the type name
        d.select_row(lst, "Modem B")
        app_said("selected=Modem B")
        d.find(win, "label", "Selected: Modem B")
        step("ListBox row selected through the Selection interface")
        shot("02-filled.png")

        # -- adw::MessageDialog, first answered with a real pointer click
        d.click(d.find(win, "push button", "Remove modem…"))
        dlg = d.window(app, "Remove modem?", "dialog")
        d.mouse_click(d.find(dlg, "push button", "Cancel"))
        app_said("dialog response=cancel")
        d.wait_gone(app, "dialog", "Remove modem?")
        step("MessageDialog answered 'Cancel' with the pointer (xdotool) and gone")

        # -- ... then through the AT-SPI action
        d.click(d.find(win, "push button", "Remove modem…"))
        dlg = d.window(app, "Remove modem?", "dialog")
        d.find(dlg, "label", "The modem settings will be forgotten.")
        remove = d.find(dlg, "push button", "Remove")  # reported as "_Remove Remove"; the
        # AdwSqueezer's hidden second copy (0x0) is skipped by find()
        step("MessageDialog open")
        shot("03-dialog.png")
        d.click(remove)
        app_said("dialog response=remove")
        d.wait_gone(app, "dialog", "Remove modem?")
        step("MessageDialog answered 'Remove' and gone")

        # -- second (assistant-like) window
        d.click(d.find(win, "push button", "Set up modem…"))
        asst = d.window(app, "Setup assistant")
        assert d.has_state(asst, "modal"), d.states_of(asst)
        d.type_text(d.find(asst, "text", "Device"), "/dev/ttyUSB0")  # keyboard, second window
        app_said("device=/dev/ttyUSB0")
        step_label = d.find(asst, "label", "Step 1 of 2")
        d.click(d.find(asst, "push button", "Next"))
        d.wait_text(step_label, "Step 2 of 2")
        shot("04-assistant.png")
        d.click(d.find(asst, "push button", "Finish"))
        app_said("assistant finished")
        d.wait_gone(app, "frame", "Setup assistant")
        step("assistant window: text, Next, Finish, closed")

        shot("05-end.png")
        step("all probe checks passed")
        return 0
    except Exception:
        step("FAILED")
        try:
            print("screenshot:", shot("failure.png"), file=sys.stderr)
        except Exception as e:
            print(f"(failure screenshot failed: {e})", file=sys.stderr)
        raise


if __name__ == "__main__":
    sys.exit(main())
