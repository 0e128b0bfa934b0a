"""The command line: thin adapters that parse options, call the core and print its answers."""
