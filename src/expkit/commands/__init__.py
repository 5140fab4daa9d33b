"""The subcommands of the `expkit` command line; thin wrappers over the library."""
