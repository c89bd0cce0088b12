"""Clicks Connect in the demo's window when there is no display to click on.

`cargo xtask demo` runs this on its virtual display: it waits for the demo
connection's row, clicks Connect, waits until the row says Connected (the
busy first number, the login and PPP take about ten seconds), opens the
details, and saves screenshots into the directory given as the argument.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import atspi_driver as d  # noqa: E402

NAME = "Dialtone demo ISP"


def main(shots):
    win = d.window(d.app("dialtone", timeout=60), "Dialtone", timeout=60)
    row = d.find(win, "list item", NAME, timeout=60)
    d.screenshot(os.path.join(shots, "1-ready.png"))
    print("demo: clicking Connect", flush=True)
    d.click(d.find(row, "push button", "Connect"))
    shown = set()

    def connected():
        r = d.try_find(win, "list item", NAME)
        if r is None:
            return False
        # The row's labels after its name, without the button's.
        button = d.try_find(r, "push button")
        skip = {d.text_of(label) for label in d.find_all(button, "label")} if button else set()
        texts = [d.text_of(label) for label in d.find_all(r, "label")[1:]]
        state = " | ".join(t for t in texts if t not in skip)
        if state and state not in shown:
            shown.add(state)
            print(f"demo: {state}", flush=True)
        return re.search(r"Connected", state)

    d.wait_until(connected, 120, "the demo connection to come up")
    d.screenshot(os.path.join(shots, "2-connected.png"))
    d.mouse_click(d.find(win, "list item", NAME))
    d.find(win, "label", "Throughput", timeout=10)
    d.screenshot(os.path.join(shots, "3-details.png"))
    print("demo: connected; screenshots in " + shots, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
