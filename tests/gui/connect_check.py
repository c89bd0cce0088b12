"""Drives Dialtone's window for the whole-system test (tests/gui.rs).

Usage: connect_check.py STEP, with the environment the test sets:
DT_ARTIFACTS (a directory the user may write: screenshots go there),
DT_DEVICE, DT_NUMBER, DT_USER, DT_PASSWORD, DT_NAME (the connection the
assistant creates).

Steps, each a separate run (the test checks the system in between):

* ``create``: from the empty window, the New Connection assistant creates
  the connection; its row appears, not connected.
* ``connect``: Connect on that row; wait until the row says Connected;
  open its details, check the address, screenshot.
* ``disconnect``: back to the list, Disconnect; wait until the row says
  Not connected; screenshot.
* ``absent``: the daemon was stopped: the window says so.
* ``back``: the daemon runs again: the row is back.
* ``wait_connected``, ``wait_disconnected``: the row follows what
  ``dialtone --connect`` / ``--disconnect`` (a second instance) asked.
* ``german``: the window in German (LANGUAGE=de): the row's button says
  "Verbinden".

Each step prints ``STEP ok`` as its last line.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import atspi_driver as d  # noqa: E402

ARTIFACTS = os.environ["DT_ARTIFACTS"]
NAME = os.environ.get("DT_NAME", "Test ISP")


def shot(name):
    d.screenshot(os.path.join(ARTIFACTS, name))


def main_window():
    app = d.app("dialtone", timeout=30)
    return d.window(app, "Dialtone", timeout=30)


def row_of(win, name, timeout=20):
    return d.find(win, "list item", name, timeout=timeout)


def row_state(row):
    """The row's texts (name, state, failure, hint), joined."""
    labels = d.find_all(row, "label")
    return " | ".join(d.text_of(label) for label in labels)


def wait_row_text(win, pattern, timeout):
    rx = re.compile(pattern)

    def pred():
        row = d.try_find(win, "list item", NAME)
        return row is not None and rx.search(row_state(row))

    d.wait_until(pred, timeout, f"the row {NAME!r} to say /{pattern}/",
                 lambda: d.dump(win, out=None))


def create():
    win = main_window()
    d.find(win, "label", "No Connections", timeout=30)
    d.click(d.find(win, "push button", "Add Connection…"))
    app = d.app("dialtone")
    dialog = d.window(app, "New Connection", timeout=20)
    d.set_text(d.find(dialog, "text", "Connection name"), NAME)
    d.set_text(d.find(dialog, "text", "Device"), os.environ["DT_DEVICE"])
    d.set_text(d.find(dialog, "text", "Phone number"), os.environ["DT_NUMBER"])
    d.set_text(d.find(dialog, "text", "User name"), os.environ["DT_USER"])
    # An AdwPasswordEntryRow says "text", not "password text".
    d.set_text(d.find(dialog, "text", "Password"), os.environ["DT_PASSWORD"])
    shot("01-new-connection.png")
    d.click(d.find(dialog, "push button", "Create"))
    d.wait_gone(app, "frame", "New Connection", timeout=30)
    row = row_of(win, NAME)
    wait_row_text(win, "Not connected", 10)
    d.find(row, "push button", "Connect")
    shot("02-created.png")


def connect():
    win = main_window()
    row = row_of(win, NAME)
    d.click(d.find(row, "push button", "Connect"))
    # The steps between are seen in passing when they are slow enough;
    # the end state is what counts.
    wait_row_text(win, r"Connected", 90)
    shot("03-connected.png")
    # A row opens its details when activated; rows have no AT-SPI action.
    d.mouse_click(row_of(win, NAME))
    d.find(win, "label", "Throughput", timeout=10)
    d.find(win, "label", re.compile(r"10\.0\.0\.2.*"), timeout=10)
    shot("04-details.png")
    d.click(d.find(win, "push button", "Back"))
    row_of(win, NAME)


def disconnect():
    win = main_window()
    row = row_of(win, NAME)
    d.click(d.find(row, "push button", "Disconnect"))
    wait_row_text(win, "Not connected", 30)
    d.find(row_of(win, NAME), "push button", "Connect")
    shot("05-disconnected.png")


def absent():
    win = main_window()
    d.find(win, "label", "Dialtone Service Unavailable", timeout=30)
    shot("06-absent.png")


def back():
    win = main_window()
    row_of(win, NAME, timeout=40)
    wait_row_text(win, "Not connected", 10)


def wait_connected():
    wait_row_text(main_window(), r"Connected", 90)


def wait_disconnected():
    wait_row_text(main_window(), "Not connected", 30)


def german():
    win = main_window()
    row = row_of(win, NAME)
    d.find(row, "push button", "Verbinden")
    wait_row_text(win, "Nicht verbunden", 10)
    shot("07-german.png")


STEPS = {
    "create": create,
    "connect": connect,
    "disconnect": disconnect,
    "absent": absent,
    "back": back,
    "wait_connected": wait_connected,
    "wait_disconnected": wait_disconnected,
    "german": german,
}

if __name__ == "__main__":
    step = sys.argv[1]
    try:
        STEPS[step]()
    except Exception:
        shot(f"failed-{step}.png")
        raise
    print(f"{step} ok", flush=True)
