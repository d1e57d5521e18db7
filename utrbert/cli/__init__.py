"""Command-line tools (``python -m utrbert <command>``): thin wrappers over library functions; nothing in the library imports them."""
